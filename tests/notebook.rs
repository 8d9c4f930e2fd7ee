//! The notebook as a student uses it, in headless Chromium against a real server: edits kept
//! across reloads and server restarts, a changed original noticed and taken, export (.ipynb,
//! .py) and import of an .ipynb, the language switch, and running a cell with the keyboard alone.

use classbook_e2e::{code_of, on_both_origins, output_of, require_built_page, serve, serve_again, state_of, Browser, CourseCopy, Origin};
use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// The original code of cell `cell` of `lesson` in the bundled course.
fn original(lesson: &str, cell: &str) -> String {
    let course = classbook::course::Course::load(None).expect("bundled course");
    let code = course.lesson(lesson).unwrap().cells().find(|c| c.id == cell).expect("cell").code.clone();
    code
}

fn saved_edit(lesson: &str, cell: &str) -> String {
    format!("localStorage.getItem('classbook.edit:{lesson}:{cell}')")
}

on_both_origins!(an_edit_survives_reloads_and_restarts_and_a_changed_original_can_be_taken);
async fn an_edit_survives_reloads_and_restarts_and_a_changed_original_can_be_taken(origin: Origin) {
    require_built_page();
    let course = CourseCopy::new("notebook");
    let server = serve(Some(&course.0)).await.seen_from(origin);
    let addr = server.addr;
    let b = Browser::start().await;
    b.open(&server, "/#/lesson/closures").await;

    // Type into the greeter cell (WebDriver puts the caret at the end of an editable element).
    let before = b.code("greeter").await;
    assert_eq!(before, original("closures", "greeter"));
    let content = b.client.find(Locator::Css("[data-cell-id=greeter] .cm-content")).await.unwrap();
    content.send_keys(&format!("{}# my edit", Key::Enter.to_string())).await.unwrap();
    b.wait_for(&format!("{} !== null", saved_edit("closures", "greeter")), 10, "the edit saved").await;
    let typed = b.code("greeter").await;
    assert!(typed.starts_with(&before) && typed.ends_with("# my edit"), "{typed:?}");
    assert!(b.eval("document.querySelector('[data-cell-id=greeter] [data-action=reset]') !== null").await.as_bool().unwrap());

    // A reload shows the edit, not the original.
    b.client.refresh().await.unwrap();
    b.wait_for(&format!("{} === {}", code_of("greeter"), serde_json::to_string(&typed).unwrap()), 30, "the edit restored").await;

    // The teacher changes the cell's original and restarts the server on the same port.
    let file = course.0.join("closures.md");
    let text = std::fs::read_to_string(&file).unwrap();
    let new_original = format!("{before}\nprint('第二版')");
    assert!(text.contains(&before));
    std::fs::write(&file, text.replacen(&before, &new_original, 1)).unwrap();
    drop(server);
    let _server = serve_again(addr, Some(&course.0)).await.seen_from(origin);
    b.client.refresh().await.unwrap();
    let notice = "document.querySelector('[data-cell-id=greeter] [data-role=original-changed]')";
    b.wait_for(notice, 30, "the 'original changed' notice").await;
    assert_eq!(b.code("greeter").await, typed, "the student's edit must be kept");
    b.click("[data-cell-id=greeter] [data-action=show-original]").await;
    let shown = b.wait_for("document.querySelector('[data-cell-id=greeter] [data-role=new-original]')?.textContent", 10, "the new original").await;
    assert_eq!(shown.as_str().unwrap(), new_original);
    // The difference, line by line: the teacher's new line added, the student's own removed,
    // every line of the old original kept.
    let diff = "document.querySelector('[data-cell-id=greeter] [data-role=diff]')";
    let lines_of = |class: &str| format!("Array.from({diff}.querySelectorAll('.{class}')).map(e => e.textContent).join('')");
    assert_eq!(b.eval(&lines_of("add")).await.as_str().unwrap(), "+ print('第二版')\n");
    let removed = b.eval(&lines_of("del")).await;
    assert!(removed.as_str().unwrap().contains("# my edit"), "{removed}");
    let kept = b.eval(&format!("{diff}.querySelectorAll('.same').length")).await;
    assert_eq!(kept.as_u64().unwrap() as usize, before.lines().count());
    b.click("[data-cell-id=greeter] [data-action=take-original]").await;
    b.wait_for(&format!("!{notice}"), 10, "the notice gone").await;
    assert_eq!(b.code("greeter").await, new_original);
    b.wait_for(&format!("{} === null", saved_edit("closures", "greeter")), 10, "the edit forgotten").await;

    // "Reset lesson to original" takes back edits of every cell, after a confirmation.
    b.set_code("inspect", "print('scratch work')\n").await;
    b.wait_for(&format!("{} !== null", saved_edit("closures", "inspect")), 10, "the second edit saved").await;
    b.click("[data-action=reset-lesson]").await;
    b.click("[data-action=reset-lesson-yes]").await;
    b.wait_for(&format!("{} === null", saved_edit("closures", "inspect")), 10, "the lesson reset").await;
    assert_eq!(b.code("inspect").await, original("closures", "inspect"));

    // When the browser's storage is full, the cell says its edit is not saved; once there is
    // room again, the next change is saved and the warning goes.
    let filled = b.eval("(() => { let i = 0; for (let size = 1 << 20; size >= 1; size >>= 1) { \
                          const s = 'x'.repeat(size); \
                          try { for (; i < 1000; i++) localStorage.setItem('filler' + i, s); return -1; } catch (e) {} } \
                          return i; })()").await;
    assert!(filled.as_i64().unwrap() > 0, "the storage never filled: {filled}");
    b.set_code("inspect", "print('no room')\n").await;
    b.wait_for("document.querySelector('[data-cell-id=inspect] [data-role=save-failed]')", 10, "the save warning").await;
    b.eval("(Object.keys(localStorage).filter(k => k.startsWith('filler')).forEach(k => localStorage.removeItem(k)), true)").await;
    b.set_code("inspect", "print('room again')\n").await;
    b.wait_for(&format!("{} !== null", saved_edit("closures", "inspect")), 10, "the edit saved again").await;
    b.wait_for("!document.querySelector('[data-cell-id=inspect] [data-role=save-failed]')", 10, "the warning gone").await;
    b.close().await;
}

/// Clicks an export button and returns what the page offered (the file as the page made it).
/// From localhost the saved download must hold the same. Over plain http Chromium holds any
/// download as "insecure" until the student presses Keep (its own rule, README "What students
/// need"), so there the offered file is written where the download would be.
async fn export(b: &Browser, button: &str, name: &str, origin: Origin) -> String {
    b.eval("URL.createObjectURL = ((make) => (blob) => { window.offered = blob; return make(blob); })(URL.createObjectURL)").await;
    b.eval("window.offered = null").await;
    b.click(button).await;
    b.wait_for("window.offered !== null", 10, "the exported file").await;
    let offered = b.client.execute_async("window.offered.text().then(arguments[arguments.length - 1])", vec![]).await.unwrap();
    let offered = offered.as_str().unwrap().to_string();
    match origin {
        Origin::Localhost => assert_eq!(downloaded(&b.downloads, name).await, offered, "the saved file is the offered one"),
        Origin::Lan => std::fs::write(b.downloads.join(name), &offered).unwrap(),
    }
    offered
}

/// Waits for a file in `dir` whose name ends with `suffix` and is complete.
async fn downloaded(dir: &Path, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
            if !text.is_empty() {
                return text;
            }
        }
        if Instant::now() >= deadline {
            let there: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.file_name()).collect();
            panic!("{name} was not downloaded into {} (it holds {there:?})", dir.display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

on_both_origins!(a_lesson_exported_as_ipynb_imports_into_scratch_and_a_corrupt_file_changes_nothing);
async fn a_lesson_exported_as_ipynb_imports_into_scratch_and_a_corrupt_file_changes_nothing(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    b.open(&server, "/#/lesson/closures").await;
    let edit = "print('导出的修改')\n";
    b.set_code("greeter", edit).await;
    let text = export(&b, "[data-action=export-ipynb]", "closures.ipynb", origin).await;
    let nb: Value = serde_json::from_str(&text).expect("the export is JSON");
    assert_eq!(nb["nbformat"], 4);
    let codes: Vec<String> = nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["cell_type"] == "code")
        .map(|c| c["source"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect())
        .collect();
    assert!(codes.len() >= 3, "{codes:?}");
    assert_eq!(codes[0], edit, "the student's edit is exported");
    assert_eq!(codes[1], original("closures", "inspect"));

    // The same lesson as a .py script: percent cells with the edit, and Python compiles it.
    // (Chromium holds a .py download as "Unconfirmed" until the user keeps it, so the test reads
    // the file the page offers rather than the saved one.)
    b.eval("URL.createObjectURL = ((make) => (blob) => { window.offered = blob; return make(blob); })(URL.createObjectURL)").await;
    b.click("[data-action=export-py]").await;
    let py = b.client.execute_async("window.offered.text().then(arguments[arguments.length - 1])", vec![]).await.unwrap();
    let py = py.as_str().unwrap();
    assert!(py.contains("# %%") && py.contains(edit) && py.contains(&original("closures", "inspect")), "{py}");
    let script = b.downloads.join("offered.py");
    std::fs::write(&script, py).unwrap();
    let compiled = std::process::Command::new("python3")
        .args(["-m", "py_compile", &script.display().to_string()])
        .output()
        .unwrap();
    assert!(compiled.status.success(), "{}", String::from_utf8_lossy(&compiled.stderr));

    // Share: the link is on the clipboard (pasted into another cell here) and opens the code.
    b.click("[data-cell-id=greeter] [data-action=share]").await;
    let share_label = "document.querySelector('[data-cell-id=greeter] [data-action=share]').textContent";
    assert_eq!(b.eval(share_label).await, "链接已复制", "the button says the link was copied");
    b.eval("document.querySelector('[data-cell-id=inspect] .cm-content').focus() || true").await;
    b.press(&[Key::Control.into(), 'a']).await;
    b.press(&[Key::Control.into(), 'v']).await;
    let link = b.code("inspect").await;
    let prefix = format!("{}/#/scratch?runtime=browser&code=", server.base());
    assert!(link.starts_with(&prefix), "pasted {link:?}");
    b.click("[data-cell-id=inspect] [data-action=reset]").await;
    b.goto(&link).await;
    b.wait_for(&format!("{} === {}", code_of("scratch"), serde_json::to_string(edit).unwrap()), 30, "the shared code").await;

    // Import it into the scratch page: every code cell comes back, the edit included.
    b.goto(&format!("{}/#/scratch", server.base())).await;
    let file_input = "[data-role=import-file]";
    b.wait_for(&format!("document.querySelector('{file_input}')"), 30, "the import control").await;
    let path = b.downloads.join("closures.ipynb");
    b.client.find(Locator::Css(file_input)).await.unwrap().send_keys(&path.display().to_string()).await.unwrap();
    let imported = "document.querySelectorAll('[data-role=imported] .cell')";
    b.wait_for(&format!("{imported}.length === {}", codes.len()), 20, "the imported cells").await;
    assert_eq!(b.code("greeter").await, edit);
    assert_eq!(b.code("inspect").await, original("closures", "inspect"));

    // A corrupt file: a clear error, and the imported notebook stays as it was.
    let corrupt = b.downloads.join("broken.ipynb");
    std::fs::write(&corrupt, &text[..text.len() / 2]).unwrap();
    b.client.find(Locator::Css(file_input)).await.unwrap().send_keys(&corrupt.display().to_string()).await.unwrap();
    let error = b.wait_for("document.querySelector('[data-role=import-error]')?.textContent", 20, "the import error").await;
    assert!(error.as_str().unwrap().contains("JSON"), "{error}");
    assert_eq!(b.eval(&format!("{imported}.length")).await, codes.len());

    // The import is kept in the browser: a reload shows it again.
    b.client.refresh().await.unwrap();
    b.wait_for(&format!("{imported}.length === {}", codes.len()), 30, "the import after a reload").await;
    assert_eq!(b.code("greeter").await, edit);

    // A server group (TCP server + client) comes back as a group, and runs as one.
    b.goto(&format!("{}/#/lesson/tcp-echo", server.base())).await;
    export(&b, "[data-action=export-ipynb]", "tcp-echo.ipynb", origin).await;
    b.goto(&format!("{}/#/scratch", server.base())).await;
    b.wait_for(&format!("document.querySelector('{file_input}')"), 30, "the import control").await;
    let path = b.downloads.join("tcp-echo.ipynb");
    b.client.find(Locator::Css(file_input)).await.unwrap().send_keys(&path.display().to_string()).await.unwrap();
    b.wait_for("document.querySelector('[data-role=imported] .cell.group[data-cell-id=echo]')", 20, "the imported group").await;
    b.click("[data-role=imported] [data-cell-id=echo] [data-action=run]").await;
    b.wait_for(&format!("{} === 'done'", state_of("echo")), 30, "the imported group's run").await;
    assert!(b.eval(&output_of("echo")).await.as_str().unwrap().contains("客户端收到： HELLO"));
    b.close().await;
}

on_both_origins!(the_language_switch_is_remembered_and_a_cell_runs_from_the_keyboard_alone);
async fn the_language_switch_is_remembered_and_a_cell_runs_from_the_keyboard_alone(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    b.open(&server, "/#/lesson/closures").await;
    let run_label = "document.querySelector('[data-cell-id=greeter] [data-action=run]')?.textContent";
    b.wait_for(&format!("{run_label}?.includes('运行')"), 30, "the Chinese interface").await;
    b.click("[data-action=language]").await;
    b.wait_for(&format!("{run_label}?.includes('Run')"), 5, "the English interface").await;
    assert_eq!(b.eval("document.documentElement.lang").await, "en");
    b.client.refresh().await.unwrap();
    b.wait_for(&format!("{run_label}?.includes('Run')"), 30, "English after a reload").await;
    b.wait_for(&format!("{} !== null", code_of("greeter")), 30, "the editor").await;

    // Tab from the top of the page until the greeter's editor has the focus.
    b.eval("document.activeElement.blur() || true").await;
    let in_greeter = "document.activeElement?.closest('[data-cell-id]')?.dataset.cellId";
    let mut tabs = 0;
    loop {
        b.press(&[Key::Tab.into()]).await;
        tabs += 1;
        let at = b.eval(&format!("{in_greeter} === 'greeter' && document.activeElement.classList.contains('cm-content')")).await;
        if at == Value::Bool(true) {
            break;
        }
        let visible = b.eval("(() => { const s = getComputedStyle(document.activeElement); return document.activeElement === document.body || s.outlineStyle !== 'none' || document.activeElement.matches(':focus-visible'); })()").await;
        assert_eq!(visible, Value::Bool(true), "focus is not visible on tab stop {tabs}");
        assert!(tabs < 40, "the greeter's editor is not reachable with Tab");
    }
    println!("e2e: greeter's editor reached after {tabs} Tab presses");
    // Shift+Enter runs it and moves on to the next cell's editor.
    b.press(&[Key::Shift.into(), Key::Enter.into()]).await;
    // The lesson follows the interface: this is the English lesson's greeter.
    b.wait_for(&format!("{}.includes('Good morning, Bella!')", output_of("greeter")), 90, "the greeter output").await;
    assert_eq!(b.eval(in_greeter).await, "inspect", "Shift+Enter moves to the next cell");
    // Ctrl+Enter runs in place.
    b.press(&[Key::Control.into(), Key::Enter.into()]).await;
    b.wait_for(&format!("{} === 'done'", state_of("inspect")), 30, "inspect done").await;
    assert!(b.eval(&output_of("inspect")).await.as_str().unwrap().contains("42"));
    assert_eq!(b.eval(in_greeter).await, "inspect");
    let course = classbook::course::Course::load(None).expect("bundled course");
    let english = course.lesson_in("closures", "en").unwrap().cells().find(|c| c.id == "greeter").unwrap().code.clone();
    assert_eq!(b.code("greeter").await, english, "running typed nothing");
    // Esc then Tab leaves the editor (Tab alone indents).
    b.press(&[Key::Escape.into()]).await;
    b.press(&[Key::Tab.into()]).await;
    assert_eq!(b.eval("document.activeElement.classList.contains('cm-content')").await, false, "Esc, Tab left the editor");
    assert_eq!(b.code("inspect").await, original("closures", "inspect"), "Tab after Esc indented nothing");

    // Ctrl+Shift+X stops a running cell.
    b.set_code("inspect", "while True:\n    pass\n").await;
    b.eval("document.querySelector('[data-cell-id=inspect] .cm-content').focus() || true").await;
    b.press(&[Key::Control.into(), Key::Enter.into()]).await;
    b.wait_for(&format!("{} === 'running'", state_of("inspect")), 30, "the loop running").await;
    b.press(&[Key::Control.into(), Key::Shift.into(), 'x']).await;
    b.wait_for(&format!("{} === 'failed'", state_of("inspect")), 10, "the loop stopped by the shortcut").await;
    match origin {
        Origin::Localhost => {
            let output = b.eval(&output_of("inspect")).await;
            let exit = b.eval("document.querySelector('[data-cell-id=inspect] [data-role=exit]')?.textContent").await;
            assert!(output.as_str().unwrap().contains("KeyboardInterrupt"), "output {output}, exit {exit}");
        }
        // Over plain http a computing worker cannot be interrupted: it is replaced, and said so.
        Origin::Lan => {
            let exit = b.eval("document.querySelector('[data-cell-id=inspect] [data-role=exit]').textContent").await;
            let exit = exit.as_str().unwrap();
            assert!(exit.contains("variables were reset") || exit.contains("重置"), "{exit}");
        }
    }

    // The shortcut list opens from the keyboard and closes with Escape.
    b.press(&[Key::Control.into(), Key::Shift.into(), '/']).await;
    b.wait_for("document.querySelector('[data-role=help]')", 5, "the shortcut help").await;
    assert!(b.eval("document.querySelector('[data-role=help]').textContent").await.as_str().unwrap().contains("Shift+Enter"));
    b.press(&[Key::Escape.into()]).await;
    b.wait_for("!document.querySelector('[data-role=help]')", 5, "the help closed").await;
    b.wait_for(&format!("{in_greeter} === 'inspect'"), 5, "the focus back in the editor").await;

    // A passed exercise shows as passed, and the lesson list counts it.
    let (exercise, solution) = {
        let course = classbook::course::Course::load(None).expect("bundled course");
        let cell = course.lesson("closures").unwrap().cells().find(|c| c.exercise.is_some()).unwrap().clone();
        (cell.id, cell.exercise.unwrap().solution.unwrap())
    };
    let badge = format!("document.querySelector('[data-cell-id=\"{exercise}\"] [data-role=progress]')");
    assert_eq!(b.eval(&format!("{badge}.dataset.passed")).await, "false");
    b.set_code(&exercise, &solution).await;
    b.click(&format!("[data-cell-id=\"{exercise}\"] [data-action=check]")).await;
    b.wait_for(&format!("{badge}.dataset.passed === 'true'"), 60, "the exercise marked passed").await;
    b.goto(&format!("{}/#/", server.base())).await;
    let progress = b.wait_for("document.querySelector('[data-lesson-id=closures]')?.parentElement.querySelector('[data-role=lesson-progress]')?.textContent", 30, "the lesson's progress").await;
    assert!(progress.as_str().unwrap().starts_with("1/"), "{progress}");

    // Settings: a theme chosen by hand overrides the system's and is remembered.
    b.click("[data-action=settings]").await;
    b.click("[data-theme-choice=dark]").await;
    assert_eq!(b.eval("document.documentElement.dataset.theme").await, "dark");
    let bg = "getComputedStyle(document.body).backgroundColor";
    assert_eq!(b.eval(bg).await, "rgb(22, 24, 28)", "the dark background");
    b.client.refresh().await.unwrap();
    b.wait_for("document.documentElement.dataset.theme === 'dark'", 30, "the theme after a reload").await;

    // Settings: erase all my data, after a confirmation; the page starts again in Chinese.
    b.click("[data-action=settings]").await;
    b.click("[data-action=erase]").await;
    assert!(b.eval("localStorage.getItem('classbook.lang')").await == "en", "nothing erased before the confirmation");
    b.click("[data-action=erase-yes]").await;
    b.wait_for("document.querySelector('[data-action=language]')?.textContent === 'English'", 30, "the Chinese interface again").await;
    let left = b.eval("Object.keys(localStorage).filter(k => k.startsWith('classbook.') && k !== 'classbook.token')").await;
    assert_eq!(left, serde_json::json!([]), "erased data is gone");
    b.close().await;
}
