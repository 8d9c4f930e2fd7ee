// The code editor of a cell: CodeMirror 6 with Python, bundled by esbuild (scripts/setup.sh)
// into frontend/vendor/codemirror.js. The page (editor.rs) uses only this module's exports.
import { EditorState, Prec } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection,
} from "@codemirror/view";
import {
  defaultKeymap, history, historyKeymap, indentWithTab, simplifySelection, temporarilySetTabFocusMode,
} from "@codemirror/commands";
import { bracketMatching, indentOnInput, indentUnit, syntaxHighlighting } from "@codemirror/language";
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { python } from "@codemirror/lang-python";
import { classHighlighter } from "@lezer/highlight";

// create(parent, doc, {label, onChange(text), onRun(advance)}) -> {get, set, focus, destroy}
// Shift+Enter: onRun(true) (run, then the next cell); Ctrl/Cmd+Enter: onRun(false).
// Escape then Tab leaves the editor (Tab otherwise indents); Ctrl+M toggles that for good.
export function create(parent, doc, callbacks) {
  const run = (advance) => () => { callbacks.onRun(advance); return true; };
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        Prec.highest(keymap.of([
          { key: "Shift-Enter", run: run(true) },
          { key: "Mod-Enter", run: run(false) },
          { key: "Escape", run: (v) => { simplifySelection(v); return temporarilySetTabFocusMode(v); } },
        ])),
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightActiveLine(),
        drawSelection(),
        history(),
        indentUnit.of("    "),
        EditorState.tabSize.of(4),
        indentOnInput(),
        bracketMatching(),
        closeBrackets(),
        python(),
        syntaxHighlighting(classHighlighter),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.contentAttributes.of({ "aria-label": callbacks.label || "code", "aria-multiline": "true" }),
        EditorView.updateListener.of((u) => { if (u.docChanged) callbacks.onChange(u.state.doc.toString()); }),
      ],
    }),
  });
  return {
    get: () => view.state.doc.toString(),
    set: (text) => {
      if (text !== view.state.doc.toString()) {
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
      }
    },
    focus: () => view.focus(),
    destroy: () => view.destroy(),
  };
}

// For tests and tools: the text of the editor inside `el` (a [data-role=editor] element), and
// replacing it as if typed (the page's onChange runs).
function viewIn(el) {
  const dom = el && el.querySelector(".cm-editor");
  return dom ? EditorView.findFromDOM(dom) : null;
}
export function getText(el) {
  const v = viewIn(el);
  return v ? v.state.doc.toString() : null;
}
export function setText(el, text) {
  const v = viewIn(el);
  if (!v) return false;
  v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: text }, userEvent: "input" });
  return true;
}
