// Loads the code editor (CodeMirror, bundled into codemirror.js by scripts/setup.sh) as
// window.classbookEditor; editor.rs waits for the "classbook-editor" event.
import * as editor from "./codemirror.js";
window.classbookEditor = editor;
window.dispatchEvent(new Event("classbook-editor"));
