//! Every bundled lesson, exported as the page exports it (with a student's edit), is a valid
//! nbformat 4 notebook according to Jupyter's own validator (`nbformat`, installed by
//! `scripts/setup.sh --for-tests` into .classbook/test-venv).

use shared::ipynb::{to_ipynb, Notebook};
use std::path::PathBuf;
use std::process::Command;

/// Runs `nbformat.validate` on each file; returns (file name, "valid" or the error) per file.
fn validate(files: &[PathBuf]) -> Vec<(String, String)> {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.classbook/test-venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup.sh --for-tests", python.display());
    let script = "import sys, nbformat\n\
                  for path in sys.argv[1:]:\n\
                  \x20   try:\n\
                  \x20       nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)\n\
                  \x20       nbformat.validate(nb)\n\
                  \x20       print(path, 'valid')\n\
                  \x20   except Exception as e:\n\
                  \x20       print(path, type(e).__name__, str(e).splitlines()[0])\n";
    let out = Command::new(&python).arg("-c").arg(script).args(files).output().expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (path, verdict) = l.split_once(' ').unwrap();
            (path.rsplit('/').next().unwrap().to_string(), verdict.to_string())
        })
        .collect()
}

#[test]
fn every_exported_lesson_passes_jupyters_validator_and_a_broken_one_does_not() {
    let course = classbook::course::Course::load(None).expect("bundled course");
    let dir = std::env::temp_dir().join(format!("classbook-nbformat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for lesson in course.lessons() {
        let first = lesson.cells().next().map(|c| c.id.clone());
        let nb = Notebook::from_lesson(lesson, |id| (Some(id) == first.as_deref()).then(|| "print('学生改过')\n".into()), |id| (Some(id) == first.as_deref()).then(|| "学生改过\n".into()));
        let path = dir.join(format!("{}.ipynb", lesson.id));
        std::fs::write(&path, to_ipynb(&nb)).unwrap();
        files.push(path);
    }
    assert!(files.len() >= 10, "only {} lessons", files.len());
    // The same export with a code cell's required "outputs" removed must be refused.
    let broken = std::fs::read_to_string(&files[0]).unwrap().replacen("\"outputs\": [],", "", 1);
    let broken_path = dir.join("zz-broken.ipynb");
    std::fs::write(&broken_path, broken).unwrap();
    files.push(broken_path);

    let verdicts = validate(&files);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(verdicts.len(), files.len());
    let (broken, lessons) = verdicts.split_last().unwrap();
    for (name, verdict) in lessons {
        assert_eq!(verdict, "valid", "{name}");
    }
    assert!(broken.1.contains("ValidationError") && broken.1.contains("outputs"), "a notebook without outputs passed: {broken:?}");
    println!("nbformat: {} exported lessons valid", lessons.len());
}

#[test]
fn an_exported_server_group_runs_as_jupyter_runs_it() {
    // What Jupyter does with the export of tcp-echo: each `%%writefile` cell writes its file,
    // then the group's run cell runs (here in python3, as the kernel would).
    let course = classbook::course::Course::load(None).expect("bundled course");
    let lesson = course.lesson("tcp-echo").expect("tcp-echo");
    let v: serde_json::Value = serde_json::from_str(&to_ipynb(&Notebook::from_lesson(lesson, |_| None, |_| None))).unwrap();
    let dir = std::env::temp_dir().join(format!("classbook-jupyter-group-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut ran = None;
    for cell in v["cells"].as_array().unwrap() {
        let source: String = cell["source"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        if let Some(rest) = source.strip_prefix("%%writefile ") {
            let (name, body) = rest.split_once('\n').unwrap();
            std::fs::write(dir.join(name), body).unwrap();
        } else if cell["metadata"]["classbook"]["run_group"] == "echo" {
            let out = Command::new("python3").arg("-c").arg(&source).current_dir(&dir).output().expect("python3 runs");
            ran = Some(String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr));
            break;
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let out = ran.expect("the echo group has a run cell");
    for want in ["客户端收到： HELLO", "--- "] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}
