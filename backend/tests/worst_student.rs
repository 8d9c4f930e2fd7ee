//! One student cannot take the class down: what a careless or hostile student tried against
//! an earlier server, through the real WebSocket and real sandboxes. Programs mark their
//! processes with a name of their own (`prctl(PR_SET_NAME)`), so the test can see from the
//! host which of them are still alive.

mod support;

use shared::wire::{ClientMsg, ServerMsg, Signal};
use std::time::{Duration, Instant};
use support::Client;

/// Processes on this machine named `name` (their `comm`), whatever namespace they are in.
fn alive_named(name: &str) -> usize {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .count()
}

async fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A name no other test's processes have (at most 15 bytes, the kernel's limit).
fn tag(what: &str) -> String {
    format!("{what}{:06}", std::process::id() % 1_000_000)
}

/// Another student, who must not notice: a run that works before and after the attack.
async fn bystander_ok(other: &mut Client, id: u32) {
    let out = other.run(id, "import socket\ns = socket.create_server(('127.0.0.1', 8080))\nprint('fine', sum(range(10)))").await;
    assert_eq!(out.stdout, "fine 45\n", "another student's session broke: {}", out.stderr);
}

const NAME_ME: &str = "import ctypes\nctypes.CDLL(None).prctl(15, TAG.encode(), 0, 0, 0)\n";

#[tokio::test(flavor = "multi_thread")]
async fn stop_ends_every_process_even_when_the_sandbox_helper_was_stopped() {
    let server = support::start().await;
    let mut a = Client::connect(&server).await;
    let mut other = Client::connect(&server).await;
    bystander_ok(&mut other, 100).await;
    let name = tag("burn");
    // The program stops its parent (the in-sandbox helper that would kill it), then forks
    // five CPU burners, then sleeps.
    let code = format!(
        "TAG = {name:?}\nimport os, signal, time\nos.kill(os.getppid(), signal.SIGSTOP)\n\
         for _ in range(5):\n    if os.fork() == 0:\n        {}\n        while True:\n            pass\n\
         print('burning', flush=True)\ntime.sleep(600)\n",
        NAME_ME.trim_end().replace('\n', "\n        ")
    );
    a.start(1, &[("main.py", &code)], "main.py", false).await;
    loop {
        match a.recv().await {
            ServerMsg::Output { data, .. } if data.contains("burning") => break,
            ServerMsg::Exit(e) => panic!("ended early: {e:?}"),
            _ => {}
        }
    }
    wait_until("five burners", 10, || alive_named(&name) == 5).await;
    // The page's Stop (SIGINT first): the helper cannot act, so the host must.
    let pressed = Instant::now();
    a.send(&ClientMsg::Signal { run_id: 1, signal: Signal::Interrupt }).await;
    let exit = loop {
        match a.try_recv(Duration::from_secs(10)).await.expect("an Exit within 10 s of Stop") {
            ServerMsg::Exit(e) if e.run_id == 1 => break e,
            _ => {}
        }
    };
    println!("Stop → Exit with the helper stopped: {} ms", pressed.elapsed().as_millis());
    assert!(exit.reason.as_deref().unwrap_or("").contains("restarted your sandbox"), "{exit:?}");
    wait_until("no burner left", 2, || alive_named(&name) == 0).await;
    // The student goes on in a fresh sandbox.
    let out = a.run(2, "print(1)").await;
    assert_eq!(out.stdout, "1\n", "{}", out.stderr);
    bystander_ok(&mut other, 101).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_stops_reading_does_not_hold_the_servers_run_slots() {
    let server = support::start_with_app(|app| {
        app.run_slots = classbook::run::Slots::new(2);
        if let Ok(cfg) = app.sandbox.as_mut() {
            cfg.limits.output_bytes = 256 << 20;
        }
    })
    .await;
    // Two programs flood their page, which reads nothing at all.
    let mut hostile = Client::connect(&server).await;
    let flood = "import sys\nchunk = 'x' * 65536\nwhile True:\n    sys.stdout.write(chunk)\n";
    hostile.start(1, &[("main.py", flood)], "main.py", false).await;
    hostile.start(2, &[("main.py", flood)], "main.py", false).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Another student's print(1) waits for a slot, but not for ever.
    let mut other = Client::connect(&server).await;
    let asked = Instant::now();
    other.start(10, &[("main.py", "print(1)")], "main.py", false).await;
    let out = tokio::time::timeout(Duration::from_secs(60), other.collect(10))
        .await
        .expect("print(1) ran within 60 s although a page stopped reading");
    assert_eq!(out.stdout, "1\n");
    println!("print(1) behind a page that reads nothing: {} ms", asked.elapsed().as_millis());
    drop(hostile);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_leaves_leaves_no_program_running_and_starts_no_sandbox() {
    let server = support::start_with_app(|app| {
        app.grace = Duration::from_secs(1);
        app.runs_per_student = 2;
    })
    .await;
    let name = tag("sleep");
    let code = format!("TAG = {name:?}\n{NAME_ME}import time\ntime.sleep(120)\n");
    let mut a = Client::connect(&server).await;
    for id in 1..=6 {
        a.start(id, &[("main.py", &code)], "main.py", false).await;
    }
    wait_until("two running, four queued", 15, || alive_named(&name) == 2).await;
    a.close().await;
    wait_until("every program ended", 3, || alive_named(&name) == 0).await;
    // Past the grace period, nothing queued may start in a new sandbox.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(alive_named(&name), 0, "a queued program started after its page left");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_with_many_files_runs_and_one_with_too_many_is_refused_at_once() {
    let server = support::start().await;
    let mut a = Client::connect(&server).await;
    let max = shared::wire::MAX_RUN_FILES;
    let files: Vec<(String, String)> = (0..max - 1).map(|i| (format!("m{i}.py"), format!("N = {i}\n"))).collect();
    let main = "import os\nprint(len([f for f in os.listdir('.') if f.endswith('.py')]))\n".to_string();
    let mut all: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    all.push(("main.py", &main));
    a.start(1, &all, "main.py", false).await;
    let out = a.collect(1).await;
    assert_eq!(out.stdout.trim(), max.to_string(), "{}", out.stderr);

    let extra = format!("m{max}.py");
    all.push((&extra, "N = 0\n"));
    a.start(2, &all, "main.py", false).await;
    match a.try_recv(Duration::from_secs(5)).await {
        Some(ServerMsg::Error { run_id: Some(2), message }) => assert!(message.contains(&format!("at most {max} files")), "{message}"),
        other => panic!("expected an immediate error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn results_for_exercises_that_do_not_exist_are_refused() {
    let server = support::start().await;
    let mut a = Client::connect(&server).await;
    for (lesson, cell) in [("closures", "made-up-cell"), ("closures", "greeter"), ("no-such-lesson", "x")] {
        a.send(&ClientMsg::ExerciseResult { lesson: lesson.into(), cell: cell.into(), passed: true }).await;
        match a.try_recv(Duration::from_secs(5)).await {
            Some(ServerMsg::Error { message, .. }) => assert!(message.contains("no exercise"), "{message}"),
            other => panic!("{lesson}/{cell} was accepted: {other:?}"),
        }
    }
    // A real exercise is recorded without complaint.
    let course = classbook::course::Course::load(None).unwrap();
    let cell = course.lesson("closures").unwrap().cells().find(|c| c.exercise.is_some()).unwrap().id.clone();
    a.send(&ClientMsg::ExerciseResult { lesson: "closures".into(), cell, passed: true }).await;
    assert!(a.try_recv(Duration::from_secs(1)).await.is_none(), "a real exercise's result was refused");
}

/// CPU time (user + system, in ms) of the processes named `name`.
fn cpu_ms_named(name: &str) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut total = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if !std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == name) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let f: Vec<&str> = stat[close + 2..].split(' ').collect();
        total += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    total * 1000 / ticks
}

#[tokio::test(flavor = "multi_thread")]
async fn a_students_busy_loops_together_get_no_more_than_their_cpu_quota() {
    let server = support::start_with(|cfg| cfg.limits.cpus = 0.25).await;
    let Some(cgroups) = classbook::sandbox::Config::detect().cgroups.filter(|c| c.limits_cpu()) else {
        println!("no cgroup cpu controller on this machine: the quota cannot apply (skipped)");
        return;
    };
    let _ = cgroups;
    let mut a = Client::connect(&server).await;
    let mut other = Client::connect(&server).await;
    let name = tag("quota");
    let code = format!(
        "TAG = {name:?}\nimport os, time\nfor _ in range(4):\n    if os.fork() == 0:\n        {}\n        while True:\n            pass\n\
         print('burning', flush=True)\ntime.sleep(60)\n",
        NAME_ME.trim_end().replace('\n', "\n        ")
    );
    a.start(1, &[("main.py", &code)], "main.py", false).await;
    wait_until("four burners", 10, || alive_named(&name) == 4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (before, t) = (cpu_ms_named(&name), Instant::now());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let used = cpu_ms_named(&name) - before;
    let wall = t.elapsed().as_millis() as u64;
    println!("four burners under a quota of 0.25 CPU: {used} ms of CPU in {wall} ms");
    // Unlimited, four burners take every CPU there is (at least one); the quota allows a quarter.
    assert!(used * 100 <= wall * 40, "the quota did not hold: {used} ms of CPU in {wall} ms");
    bystander_ok(&mut other, 100).await;
    a.send(&ClientMsg::Signal { run_id: 1, signal: Signal::Kill }).await;
    wait_until("the burners ended", 5, || alive_named(&name) == 0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_cannot_outlive_its_cpu_budget_by_forking() {
    let server = support::start_with(|cfg| cfg.limits.cpu_secs = 1).await;
    let mut a = Client::connect(&server).await;
    let mut other = Client::connect(&server).await;
    let name = tag("chain");
    // Each link burns 0.3 s of CPU, forks and exits: no process ever reaches the 1 s limit of
    // RLIMIT_CPU, and the orphans are adopted by the sandbox's helper, not by the program.
    let code = format!(
        "TAG = {name:?}\n{NAME_ME}import os, time\n\
         if os.fork() == 0:\n    while True:\n        t = time.process_time()\n\
         \x20       while time.process_time() - t < 0.3:\n            pass\n        if os.fork() > 0:\n            os._exit(0)\n\
         print('chain started', flush=True)\ntime.sleep(600)\n"
    );
    a.start(1, &[("main.py", &code)], "main.py", false).await;
    let started = Instant::now();
    let exit = loop {
        match a.try_recv(Duration::from_secs(30)).await.expect("the run ended within 30 s") {
            ServerMsg::Exit(e) if e.run_id == 1 => break e,
            _ => {}
        }
    };
    println!("a forking chain ended after {} ms with {exit:?}", started.elapsed().as_millis());
    assert!(exit.reason.as_deref().unwrap_or("").contains("all its processes together"), "{exit:?}");
    assert!(exit.cpu_ms >= 2000, "the run's CPU time counts all its processes: {exit:?}");
    wait_until("the chain ended", 3, || alive_named(&name) == 0).await;
    bystander_ok(&mut other, 100).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_vanished_is_disconnected_and_one_that_answers_pings_is_not() {
    let server = support::start_with_app(|app| app.idle_timeout = Duration::from_secs(2)).await;
    // A machine that vanished: its socket stays open but nothing reads it or answers pings.
    let mut silent = Client::connect(&server).await;
    let mut alive = Client::connect(&server).await;
    // A page that reads (and so answers pings) stays connected well past the timeout...
    assert!(!alive.closed_within(Duration::from_secs(5)).await, "a live page was disconnected");
    assert_eq!(alive.run(1, "print('still here')").await.stdout, "still here\n");
    // ...while the silent one was closed meanwhile.
    assert!(silent.closed_within(Duration::from_secs(1)).await, "a page that answered nothing was kept");
}
