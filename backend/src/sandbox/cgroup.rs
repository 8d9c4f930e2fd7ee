//! Per-session control groups: a memory limit (the OOM killer ends a memory bomb, and the
//! page is told why), a process limit, and a CPU quota (one student's busy loops and fork churn
//! cannot take the CPUs from the others). cgroup v2 or v1, whichever this machine lets us
//! write; without either, sandboxes rely on rlimits alone.

use std::ffi::CString;
use std::path::{Path, PathBuf};

/// Which hierarchy this machine offers us.
#[derive(Clone, Debug)]
pub enum Cgroups {
    /// One unified tree: `<root>/classbook/<session>` with memory.max, pids.max and, when the
    /// cpu controller could be enabled, cpu.max.
    V2 { root: PathBuf, cpu: bool },
    /// Separate controllers: `memory/classbook/<session>`, `pids/classbook/<session>` and, when
    /// mounted, `cpu/classbook/<session>`.
    V1 { memory: PathBuf, pids: PathBuf, cpu: Option<PathBuf> },
}

/// The CFS period the CPU quota is expressed in (the kernel's default).
const CPU_PERIOD_US: u64 = 100_000;

/// The groups of one session; removed on drop (once empty).
#[derive(Debug)]
pub struct SessionGroup {
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` files the sandbox joins (as C strings, for use after fork).
    pub procs: Vec<CString>,
    oom_file: PathBuf,
    pids_file: PathBuf,
    /// The group's memory in use, in bytes (for the teacher's view).
    memory_file: PathBuf,
}

const BASE: &str = "classbook";

impl Cgroups {
    /// Finds a hierarchy where we may create groups and set memory and pids limits.
    pub fn detect() -> Option<Cgroups> {
        let v2 = Path::new("/sys/fs/cgroup");
        if v2.join("cgroup.controllers").exists() {
            let base = v2.join(BASE);
            let ok = std::fs::create_dir_all(&base).is_ok()
                && std::fs::write(v2.join("cgroup.subtree_control"), "+memory +pids").is_ok()
                && std::fs::write(base.join("cgroup.subtree_control"), "+memory +pids").is_ok();
            let cpu = ok
                && std::fs::write(v2.join("cgroup.subtree_control"), "+cpu").is_ok()
                && std::fs::write(base.join("cgroup.subtree_control"), "+cpu").is_ok();
            return ok.then_some(Cgroups::V2 { root: base, cpu });
        }
        let (memory, pids) = (v2.join("memory").join(BASE), v2.join("pids").join(BASE));
        let ok = std::fs::create_dir_all(&memory).is_ok() && std::fs::create_dir_all(&pids).is_ok();
        let cpu = Some(v2.join("cpu").join(BASE)).filter(|c| c.parent().is_some_and(|p| p.join("cpu.cfs_quota_us").exists()));
        let cpu = cpu.filter(|c| std::fs::create_dir_all(c).is_ok());
        ok.then_some(Cgroups::V1 { memory, pids, cpu })
    }

    /// Removes groups left empty by a server that ended abruptly (non-empty ones stay).
    pub fn sweep_stale(&self) {
        let bases = match self {
            Cgroups::V2 { root, .. } => vec![root.clone()],
            Cgroups::V1 { memory, pids, cpu } => [Some(memory.clone()), Some(pids.clone()), cpu.clone()].into_iter().flatten().collect(),
        };
        for base in bases {
            for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
                if entry.path().is_dir() {
                    let _ = std::fs::remove_dir(entry.path());
                }
            }
        }
    }

    /// Whether sessions get a CPU quota here.
    pub fn limits_cpu(&self) -> bool {
        match self {
            Cgroups::V2 { cpu, .. } => *cpu,
            Cgroups::V1 { cpu, .. } => cpu.is_some(),
        }
    }

    /// Makes the groups of session `name` with these limits; `cpus` is the share of one CPU
    /// the session may use at most (1.0: one whole CPU), where the cpu controller is there.
    pub fn create(&self, name: &str, memory_bytes: u64, max_pids: u64, cpus: f64) -> std::io::Result<SessionGroup> {
        let write = |dir: &Path, file: &str, value: String| std::fs::write(dir.join(file), value);
        let quota = ((cpus * CPU_PERIOD_US as f64) as u64).max(1000);
        let group = match self {
            Cgroups::V2 { root, cpu } => {
                let dir = root.join(name);
                std::fs::create_dir_all(&dir)?;
                write(&dir, "memory.max", memory_bytes.to_string())?;
                let _ = write(&dir, "memory.swap.max", "0".into());
                write(&dir, "pids.max", max_pids.to_string())?;
                if *cpu {
                    write(&dir, "cpu.max", format!("{quota} {CPU_PERIOD_US}"))?;
                }
                SessionGroup {
                    procs: vec![cstring(&dir.join("cgroup.procs"))],
                    oom_file: dir.join("memory.events"),
                    memory_file: dir.join("memory.current"),
                    pids_file: dir.join("pids.events"),
                    dirs: vec![dir],
                }
            }
            Cgroups::V1 { memory, pids, cpu } => {
                let (m, p) = (memory.join(name), pids.join(name));
                std::fs::create_dir_all(&m)?;
                std::fs::create_dir_all(&p)?;
                write(&m, "memory.limit_in_bytes", memory_bytes.to_string())?;
                let _ = write(&m, "memory.memsw.limit_in_bytes", memory_bytes.to_string());
                write(&p, "pids.max", max_pids.to_string())?;
                let mut group = SessionGroup {
                    procs: vec![cstring(&m.join("cgroup.procs")), cstring(&p.join("cgroup.procs"))],
                    oom_file: m.join("memory.oom_control"),
                    memory_file: m.join("memory.usage_in_bytes"),
                    pids_file: p.join("pids.events"),
                    dirs: vec![m, p],
                };
                if let Some(cpu) = cpu {
                    let c = cpu.join(name);
                    std::fs::create_dir_all(&c)?;
                    write(&c, "cpu.cfs_period_us", CPU_PERIOD_US.to_string())?;
                    write(&c, "cpu.cfs_quota_us", quota.to_string())?;
                    group.procs.push(cstring(&c.join("cgroup.procs")));
                    group.dirs.push(c);
                }
                group
            }
        };
        Ok(group)
    }
}

fn cstring(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).expect("cgroup paths have no NUL")
}

/// Reads `key N` from a flat keyed cgroup file.
fn counter(file: &Path, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| l.strip_prefix(key).and_then(|rest| rest.trim().parse().ok()))
        })
        .unwrap_or(0)
}

impl SessionGroup {
    /// How many times the OOM killer ended a process of this session.
    pub fn oom_kills(&self) -> u64 {
        counter(&self.oom_file, "oom_kill ")
    }

    /// Memory the session uses now, its files in /work and /tmp included.
    pub fn memory_bytes(&self) -> Option<u64> {
        std::fs::read_to_string(&self.memory_file).ok()?.trim().parse().ok()
    }

    /// How many times a fork failed at the process limit.
    pub fn pid_limit_hits(&self) -> u64 {
        counter(&self.pids_file, "max ")
    }

    /// Joins the calling (just forked) process to every group. Async-signal-safe: for
    /// use between fork and exec.
    pub fn join_self(procs: &[CString]) -> std::io::Result<()> {
        // SAFETY: open/write/close on paths prepared before fork; getpid has no preconditions.
        unsafe {
            let mut digits = [0u8; 12];
            let mut n = libc::getpid() as u32;
            let mut at = digits.len();
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            for path in procs {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let wrote = libc::write(fd, digits[at..].as_ptr().cast(), digits.len() - at);
                libc::close(fd);
                if wrote < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }
}

impl SessionGroup {
    /// Removes the groups once their processes are gone (blocking: waits up to 1 s).
    pub fn remove(self) {
        for dir in &self.dirs {
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}
