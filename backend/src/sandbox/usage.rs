//! CPU time of running programs, read from the host's /proc: a sandbox's processes are
//! descendants of its bwrap, and each knows its pid inside the sandbox (`NSpid`).

use std::collections::HashMap;

/// One look at every process of the host.
pub struct ProcTable {
    /// pid → (parent pid, CPU ticks of the process, CPU ticks of its reaped children).
    procs: HashMap<u32, (u32, u64, u64)>,
    ticks_per_sec: u64,
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
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        ProcTable { procs, ticks_per_sec: if ticks > 0 { ticks as u64 } else { 100 } }
    }

    /// CPU milliseconds used so far by the process that has pid `inner` inside the sandbox
    /// whose bwrap is host pid `root`, its live descendants and the children it reaped.
    pub fn cpu_ms(&self, root: u32, inner: u32) -> Option<u64> {
        let tree = self.descendants(root);
        let main = tree.iter().copied().find(|p| ns_pid(*p) == Some(inner))?;
        let (_, own, reaped) = self.procs.get(&main)?;
        let below: u64 = self.descendants(main).iter().skip(1).filter_map(|p| self.procs.get(p)).map(|(_, t, _)| t).sum();
        Some((own + reaped + below) * 1000 / self.ticks_per_sec)
    }

    /// `root` and every process below it.
    fn descendants(&self, root: u32) -> Vec<u32> {
        let mut out = vec![root];
        let mut i = 0;
        while i < out.len() {
            let parent = out[i];
            out.extend(self.procs.iter().filter(|(_, (pp, _, _))| *pp == parent).map(|(p, _)| *p));
            i += 1;
        }
        out
    }
}

/// (ppid, utime+stime, cutime+cstime) from `/proc/<pid>/stat` (the name may hold spaces
/// and parentheses, so fields are counted after its last ')').
fn parse_stat(s: &str) -> Option<(u32, u64, u64)> {
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<i64>().ok());
    Some((n(1)? as u32, (n(11)? + n(12)?) as u64, (n(13)? + n(14)?).max(0) as u64))
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
    fn a_busy_child_shows_its_cpu_time() {
        let me = std::process::id();
        let mut child = std::process::Command::new("/usr/bin/python3")
            .args(["-c", "import time\nt=time.process_time()\nwhile time.process_time()-t < 0.3: pass\ntime.sleep(30)"])
            .spawn()
            .unwrap();
        let mut cpu = 0;
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            // Not in a namespace of its own: its inner pid is its host pid.
            cpu = ProcTable::scan().cpu_ms(me, child.id()).expect("the child is found below us");
            if cpu >= 250 {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!((250..5000).contains(&cpu), "{cpu} ms");
    }

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "42 (a) b (c) S 7 42 42 0 -1 4194560 100 0 0 0 150 50 3 4 20 0 1 0 100 0 0";
        assert_eq!(parse_stat(line), Some((7, 200, 7)));
    }
}
