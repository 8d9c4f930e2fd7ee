//! CPU time and resident memory of running programs, read from the host's /proc: a sandbox's
//! processes are descendants of its bwrap, and each knows its pid inside the sandbox (`NSpid`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How old a shared look at /proc may be (`ProcTable::recent`).
const FRESH: Duration = Duration::from_millis(500);

/// One look at every process of the host.
pub struct ProcTable {
    procs: HashMap<u32, Stat>,
    ticks_per_sec: u64,
    page_bytes: u64,
}

/// What one process's `/proc/<pid>/stat` says that we use.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stat {
    ppid: u32,
    /// CPU ticks of the process itself, and of the children it reaped.
    ticks: u64,
    reaped_ticks: u64,
    /// Resident set, in pages.
    rss_pages: u64,
}

/// A run's CPU as the host sees it (see `ProcTable::run_cpu`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunCpu {
    pub tree_ms: u64,
    pub orphans_ms: u64,
    pub helper_reaped_ms: u64,
}

/// What a running program uses: itself and every process below it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Usage {
    pub cpu_ms: u64,
    /// Sum of the resident sets (pages shared between its processes count once each).
    pub memory_bytes: u64,
}

impl ProcTable {
    /// Reads /proc (blocking; a few ms for a few hundred processes).
    pub fn scan() -> ProcTable {
        let mut procs = HashMap::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if let Some(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| parse_stat(&s)) {
                procs.insert(pid, stat);
            }
        }
        // SAFETY: sysconf has no preconditions.
        let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
        ProcTable {
            procs,
            ticks_per_sec: if ticks > 0 { ticks as u64 } else { 100 },
            page_bytes: if page > 0 { page as u64 } else { 4096 },
        }
    }

    /// A look at most `FRESH` old, shared by every running program's CPU watch: one scan of
    /// /proc serves them all, however many programs run. (The teacher's view, asked for every
    /// 2 s, scans afresh: it must show what is true now.)
    pub fn recent() -> Arc<ProcTable> {
        static LAST: Mutex<Option<(Instant, Arc<ProcTable>)>> = Mutex::new(None);
        let mut last = LAST.lock().expect("proc table lock poisoned");
        match last.as_ref() {
            Some((at, table)) if at.elapsed() < FRESH => table.clone(),
            _ => {
                let table = Arc::new(ProcTable::scan());
                *last = Some((Instant::now(), table.clone()));
                table
            }
        }
    }

    /// What the process that has pid `inner` inside the sandbox whose bwrap is host pid `root`
    /// uses: CPU so far (with its live descendants and the children it reaped), and the
    /// resident memory of it and its live descendants now.
    pub fn usage(&self, root: u32, inner: u32) -> Option<Usage> {
        self.usage_of(self.find(root, inner)?)
    }

    /// Host pid of the process that has pid `inner` inside the sandbox of bwrap `root`.
    fn find(&self, root: u32, inner: u32) -> Option<u32> {
        self.descendants(root).into_iter().find(|p| ns_pid(*p) == Some(inner))
    }

    fn usage_of(&self, main: u32) -> Option<Usage> {
        let own = self.procs.get(&main)?;
        let below: Vec<&Stat> = self.descendants(main).iter().skip(1).filter_map(|p| self.procs.get(p)).collect();
        let ticks = own.ticks + own.reaped_ticks + below.iter().map(|s| s.ticks).sum::<u64>();
        let pages = own.rss_pages + below.iter().map(|s| s.rss_pages).sum::<u64>();
        Some(Usage { cpu_ms: ticks * 1000 / self.ticks_per_sec, memory_bytes: pages * self.page_bytes })
    }

    /// CPU so far, in ms, of run `inner` in the sandbox whose bwrap is host pid `root`: its
    /// own tree (as `usage`), the live orphans the sandbox's helper adopted, and the CPU of the
    /// orphans the helper already reaped (its cutime; the caller counts its growth).
    pub fn run_cpu(&self, root: u32, inner: u32) -> Option<RunCpu> {
        let main = self.find(root, inner)?;
        let tree_ms = self.usage_of(main)?.cpu_ms;
        let helper = self.procs.get(&main)?.ppid;
        let orphans: Vec<u32> = self.procs.iter().filter(|(p, s)| s.ppid == helper && **p != main).map(|(p, _)| *p).collect();
        let ticks: u64 = orphans.iter().flat_map(|o| self.descendants(*o)).filter_map(|p| self.procs.get(&p)).map(|s| s.ticks).sum();
        let reaped = self.procs.get(&helper)?.reaped_ticks;
        let ms = |t: u64| t * 1000 / self.ticks_per_sec;
        Some(RunCpu { tree_ms, orphans_ms: ms(ticks), helper_reaped_ms: ms(reaped) })
    }

    /// `root` and every process below it.
    fn descendants(&self, root: u32) -> Vec<u32> {
        let mut out = vec![root];
        let mut i = 0;
        while i < out.len() {
            let parent = out[i];
            out.extend(self.procs.iter().filter(|(_, s)| s.ppid == parent).map(|(p, _)| *p));
            i += 1;
        }
        out
    }
}

/// ppid, utime+stime, cutime+cstime and rss from `/proc/<pid>/stat` (the name may hold
/// spaces and parentheses, so fields are counted after its last ')').
fn parse_stat(s: &str) -> Option<Stat> {
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14) ... rss(21).
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<i64>().ok());
    Some(Stat {
        ppid: n(1)? as u32,
        ticks: (n(11)? + n(12)?) as u64,
        reaped_ticks: (n(13)? + n(14)?).max(0) as u64,
        rss_pages: n(21).unwrap_or(0).max(0) as u64,
    })
}

/// The pid of host process `pid` in its innermost PID namespace.
fn ns_pid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("NSpid:")).and_then(|v| v.split_whitespace().last()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_child_shows_its_cpu_time_and_memory() {
        let me = std::process::id();
        let mut child = std::process::Command::new("/usr/bin/python3")
            // 64 MiB touched, then 0.3 s of CPU, then idle.
            .args(["-c", "import time\nb=bytearray(64<<20)\nt=time.process_time()\nwhile time.process_time()-t < 0.3: pass\ntime.sleep(30)"])
            .spawn()
            .unwrap();
        let mut used = None;
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            // Not in a namespace of its own: its inner pid is its host pid.
            let u = ProcTable::scan().usage(me, child.id()).expect("the child is found below us");
            used = Some(u);
            // Both, not only the CPU: under load the two are not seen in a fixed order.
            if u.cpu_ms >= 250 && u.memory_bytes >= 64 << 20 {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let Usage { cpu_ms, memory_bytes } = used.unwrap();
        assert!((250..5000).contains(&cpu_ms), "{cpu_ms} ms");
        assert!((64 << 20..512 << 20).contains(&memory_bytes), "{memory_bytes} bytes");
    }

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "42 (a) b (c) S 7 42 42 0 -1 4194560 100 0 0 0 150 50 3 4 20 0 1 0 100 0 0";
        assert_eq!(parse_stat(line), Some(Stat { ppid: 7, ticks: 200, reaped_ticks: 7, rss_pages: 0 }));
        let line = "42 (py) S 7 42 42 0 -1 4194560 100 0 0 0 150 50 3 4 20 0 1 0 100 9000 321 0";
        assert_eq!(parse_stat(line).map(|s| s.rss_pages), Some(321));
    }
}
