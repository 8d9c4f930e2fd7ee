//! The run protocol over a real WebSocket, against real sandboxes: output order, stdin,
//! signals, groups of programs, and malformed input.

mod support;

use shared::lang::Lang;
use shared::wire::{ClientMsg, ServerMsg, Signal};
use support::Client;

#[tokio::test(flavor = "multi_thread")]
async fn a_runs_output_arrives_in_order_before_its_exit() {
    let server = support::start().await;
    let mut c = Client::connect(&server).await;
    let code = "import sys\nfor i in range(300):\n    print(i)\nsys.stderr.write('done\\n')\n";
    let out = c.run(1, code).await;
    let want: String = (0..300).map(|i| format!("{i}\n")).collect();
    assert_eq!(out.stdout, want);
    assert_eq!(out.stderr, "done\n");
    assert_eq!(out.exit.code, Some(0));
    assert!(matches!(out.events.first(), Some(ServerMsg::Started { run_id: 1, .. })), "{:?}", out.events.first());
}

#[tokio::test(flavor = "multi_thread")]
async fn output_streams_while_the_program_runs() {
    let server = support::start().await;
    let mut c = Client::connect(&server).await;
    c.start(1, &[("slow.py", "import time\nprint('first')\ntime.sleep(1.5)\nprint('second')\n")], "slow.py", false)
        .await;
    // A program whose output came only at exit would deliver both lines in one chunk.
    let mut seen = String::new();
    while !seen.ends_with('\n') {
        match c.recv().await {
            ServerMsg::Output { data, .. } => seen.push_str(&data),
            ServerMsg::Exit(e) => panic!("exited before its first line arrived: {e:?}"),
            _ => {}
        }
    }
    assert_eq!(seen, "first\n", "the line printed before the sleep must arrive on its own");
    let out = c.collect(1).await;
    assert_eq!(out.stdout, "second\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_message_gets_an_error_in_the_pages_language_and_the_connection_stays_usable() {
    let server = support::start().await;
    let mut c = Client::connect(&server).await;
    // The test client names English as it connects; the page names its language on every switch.
    for (lang, want) in [(Lang::En, "malformed message"), (Lang::Zh, "消息格式不对")] {
        c.send(&ClientMsg::Language { lang }).await;
        for bad in ["not json", r#"{"type":"Run"}"#, r#"{"type":"Launch","run_id":1}"#, "[1,2]"] {
            c.send_text(bad).await;
            match c.recv().await {
                ServerMsg::Error { run_id: None, message } => assert!(message.starts_with(want), "{lang:?} {bad:?}: {message}"),
                other => panic!("expected an Error for {bad:?}, got {other:?}"),
            }
        }
    }
    c.start(7, &[("../evil.py", "")], "../evil.py", false).await;
    assert!(matches!(c.recv().await, ServerMsg::Error { run_id: Some(7), .. }));
    let out = c.run(2, "print('still here')").await;
    assert_eq!(out.stdout, "still here\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_over_the_limit_ends_its_connection_before_it_is_buffered() {
    let server = support::start().await;
    let mut c = Client::connect(&server).await;
    let mut other = Client::connect(&server).await;
    // The page never sends one (it checks the same limit and says so); a script that does
    // loses its connection instead of making the server hold the message.
    c.send_text(&"x".repeat(shared::wire::MAX_CLIENT_MESSAGE + 1)).await;
    assert!(c.try_recv(std::time::Duration::from_secs(10)).await.is_none(), "the connection must end");
    let out = other.run(1, "print('unaffected')").await;
    assert_eq!(out.stdout, "unaffected\n");
    let mut again = Client::connect(&server).await;
    assert_eq!(again.run(2, "print(2)").await.stdout, "2\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_reaches_the_program_and_close_gives_eof() {
    let server = support::start().await;
    let mut c = Client::connect(&server).await;
    let code = "name = input('name? ')\nprint('hello', name)\ntry:\n    input()\nexcept EOFError:\n    print('eof')\n";
    c.start(1, &[("ask.py", code)], "ask.py", false).await;
    c.send(&ClientMsg::Stdin { run_id: 1, data: "Ada\n".into() }).await;
    c.send(&ClientMsg::CloseStdin { run_id: 1 }).await;
    let out = c.collect(1).await;
    assert_eq!(out.stdout, "name? hello Ada\neof\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupt_raises_keyboard_interrupt_with_a_traceback() {
    let server = support::start().await;
    let mut c = Client::connect(&server).await;
    c.start(1, &[("spin.py", "print('spinning')\nwhile True:\n    pass\n")], "spin.py", false).await;
    loop {
        if let ServerMsg::Output { .. } = c.recv().await {
            break;
        }
    }
    c.send(&ClientMsg::Signal { run_id: 1, signal: Signal::Interrupt }).await;
    let out = c.collect(1).await;
    assert!(out.stderr.contains("KeyboardInterrupt"), "{}", out.stderr);
    assert!(out.stderr.contains("File \"/work/spin.py\", line"), "{}", out.stderr);
    assert!(!out.stderr.contains("runpy"), "agent frames leak: {}", out.stderr);
    assert_eq!(out.exit.signal, Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_and_its_client_talk_over_the_sandbox_loopback() {
    let server = support::start().await;
    let mut c = Client::connect(&server).await;
    let srv = "import socket\ns = socket.create_server(('127.0.0.1', 8080))\nconn, _ = s.accept()\n\
               conn.sendall(conn.recv(100)[::-1])\nprint('served')\n";
    let cli = "import socket\nc = socket.create_connection(('127.0.0.1', 8080))\nc.sendall(b'olleh')\nprint(c.recv(100).decode())\n";
    c.start(1, &[("server.py", srv), ("client.py", cli)], "server.py", true).await;
    loop {
        match c.recv().await {
            ServerMsg::Listening { run_id: 1 } => break,
            ServerMsg::Exit(e) => panic!("server exited before listening: {e:?}"),
            _ => {}
        }
    }
    // A second student binds the same port in their own sandbox at the same time.
    let mut other = Client::connect(&server).await;
    let same_port = other.run(1, "import socket\nsocket.create_server(('127.0.0.1', 8080))\nprint('bound')").await;
    assert_eq!(same_port.stdout, "bound\n", "{}", same_port.stderr);

    c.start(2, &[], "client.py", false).await;
    let outs = c.collect_all(&[1, 2]).await;
    assert_eq!(outs[&2].stdout, "hello\n", "{}", outs[&2].stderr);
    assert_eq!(outs[&1].stdout, "served\n", "{}", outs[&1].stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_program_is_main_as_under_a_bare_python3() {
    // What a program sees of itself, in the sandbox and under the host's own python3 (the same
    // interpreter, run from the file's directory): it is `__main__` to itself and to pickle,
    // and its coding line counts (the UTF-8 é reads as two Latin-1 characters).
    let code = "# -*- coding: latin-1 -*-\nimport sys, pickle, __main__\n\
        def f(): pass\n\
        print(__name__, __package__, __spec__, type(__loader__).__name__, __cached__)\n\
        print(sys.modules['__main__'] is __main__, __main__.f is f, pickle.loads(pickle.dumps(f)) is f)\n\
        print(__file__, sys.argv[0], len('é'))\n";
    let dir = std::env::temp_dir().join(format!("classbook-main-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.py"), code).unwrap();
    let bare = std::process::Command::new("python3").arg("main.py").current_dir(&dir).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let bare = String::from_utf8(bare.stdout).unwrap().replace(dir.join("main.py").to_str().unwrap(), "/work/main.py");
    let server = support::start().await;
    let mut c = Client::connect(&server).await;
    let out = c.run(1, code).await;
    assert_eq!(out.stderr, "");
    assert_eq!(out.stdout, bare);
    assert_eq!(out.stdout, "__main__ None None SourceFileLoader None\nTrue True True\n/work/main.py main.py 2\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn tracebacks_and_syntax_errors_look_like_cpythons() {
    let server = support::start().await;
    let mut c = Client::connect(&server).await;
    let out = c.run(1, "def f():\n    return 1 / 0\nf()\n").await;
    assert!(out.stderr.starts_with("Traceback (most recent call last):\n  File \"/work/main.py\", line 3"), "{}", out.stderr);
    assert!(out.stderr.ends_with("ZeroDivisionError: division by zero\n"), "{}", out.stderr);
    assert_eq!(out.exit.code, Some(1));
    let out = c.run(2, "print('a'\n").await;
    assert!(out.stderr.contains("SyntaxError"), "{}", out.stderr);
    assert!(!out.stderr.contains("runpy"), "{}", out.stderr);
    let out = c.run(3, "import sys\nsys.exit(3)").await;
    assert_eq!(out.exit.code, Some(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn greenlet_and_gevent_are_importable_in_the_sandbox() {
    let server = support::start().await;
    let mut c = Client::connect(&server).await;
    let out = c.run(1, "import greenlet, gevent\nprint(greenlet.__version__, gevent.__version__)").await;
    assert_eq!(out.exit.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.starts_with("3."), "{}", out.stdout);
}

const PROBE_OTHERS: &str = r#"
import os
me, agent = os.getpid(), os.getppid()
others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me, agent)]
print("other processes:", len(others))
try:
    print(open("keep.txt").read())
except FileNotFoundError:
    print("keep.txt is gone")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn leaving_kills_the_programs_and_a_reconnect_finds_the_same_files() {
    let server = support::start().await;
    let token = "00112233445566778899aabbccddeeff";
    let mut c = Client::connect_as(&server, token).await;
    assert_eq!(c.session, token);
    c.run(1, "open('keep.txt', 'w').write('kept')").await;
    c.start(2, &[("long.py", "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\ntime.sleep(60)\n")], "long.py", false).await;
    loop {
        if let ServerMsg::Started { run_id: 2, .. } = c.recv().await {
            break;
        }
    }
    let left = std::time::Instant::now();
    c.close().await;
    // Every program of the session must be gone within 2 s of leaving; the files stay.
    let mut back = Client::connect_as(&server, token).await;
    let mut probe = 3;
    let out = loop {
        let out = back.run(probe, PROBE_OTHERS).await;
        if out.stdout.starts_with("other processes: 0\n") || left.elapsed() > std::time::Duration::from_secs(2) {
            break out;
        }
        probe += 1;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(out.stdout, "other processes: 0\nkept\n", "{}", out.combined);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_grace_period_the_session_is_gone() {
    let server = support::start_with_grace(std::time::Duration::from_millis(300)).await;
    let token = "ffeeddccbbaa99887766554433221100";
    let mut c = Client::connect_as(&server, token).await;
    c.run(1, "open('keep.txt', 'w').write('kept')").await;
    c.close().await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut back = Client::connect_as(&server, token).await;
    let out = back.run(2, PROBE_OTHERS).await;
    assert_eq!(out.stdout, "other processes: 0\nkeep.txt is gone\n", "{}", out.combined);
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_beyond_the_servers_capacity_wait_in_a_queue_the_page_sees() {
    let server = support::start_with_app(|app| app.run_slots = classbook::run::Slots::new(1)).await;
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.start(1, &[("slow.py", "import time\ntime.sleep(1)\nprint('a done')")], "slow.py", false).await;
    loop {
        if let ServerMsg::Started { run_id: 1, .. } = a.recv().await {
            break;
        }
    }
    b.start(1, &[("quick.py", "print('b done')")], "quick.py", false).await;
    assert_eq!(b.recv().await, ServerMsg::Queued { run_id: 1, ahead: 0 });
    // A third run is stopped while it waits: it never starts.
    b.start(2, &[("never.py", "print('should not run')")], "never.py", false).await;
    assert_eq!(b.recv().await, ServerMsg::Queued { run_id: 2, ahead: 1 });
    b.send(&ClientMsg::Signal { run_id: 2, signal: Signal::Interrupt }).await;
    let outs = b.collect_all_until_error(&[1], 2).await;
    assert_eq!(outs.stdout, "b done\n");
    assert_eq!(a.collect(1).await.stdout, "a done\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_bubblewrap_server_cells_say_what_to_install() {
    let mut cfg = classbook::sandbox::Config::detect();
    cfg.bwrap = "/nonexistent/bwrap".into();
    let why = classbook::probe_sandbox(&cfg).await.unwrap_err();
    assert!(why.contains("apt-get install bubblewrap"), "{why}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_explicit_unsafe_mode_runs_programs_without_a_sandbox_and_spares_host_processes() {
    // Outside a sandbox the agent sees the host's processes: it must only ever end its own.
    let mut before = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let server = support::start_with(|cfg| cfg.unsafe_no_sandbox = true).await;
    let mut c = Client::connect(&server).await;
    c.start(1, &[("w.py", "import os, time\nprint(os.path.basename(os.getcwd()).startswith('classbook-unsafe-'))\ntime.sleep(0.5)")], "w.py", false).await;
    let mut during = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let out = c.collect(1).await;
    assert_eq!(out.stdout, "True\n", "{}", out.combined);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for host in [&mut before, &mut during] {
        assert!(host.try_wait().unwrap().is_none(), "a host process was killed by the agent");
        host.kill().unwrap();
        let _ = host.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_servers_words_are_in_the_language_the_page_last_named() {
    let server = support::start().await;
    let mut c = Client::connect(&server).await;
    assert_eq!(not_running_in(&mut c, Lang::Zh).await, "运行 9 没有在运行");
    assert_eq!(not_running_in(&mut c, Lang::En).await, "run 9 is not running");
}

/// What the server answers, after the page names `lang`, to input for a run that is not there.
async fn not_running_in(c: &mut Client, lang: Lang) -> String {
    c.send(&ClientMsg::Language { lang }).await;
    c.send(&ClientMsg::CloseStdin { run_id: 9 }).await;
    match c.recv().await {
        ServerMsg::Error { run_id: Some(9), message } => message,
        other => panic!("expected an Error, got {other:?}"),
    }
}
