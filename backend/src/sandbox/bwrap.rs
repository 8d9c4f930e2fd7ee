//! The bubblewrap command line of a sandbox (DESIGN.md, "Server runs"): read-only /usr,
//! a private size-limited /work, its own namespaces, small generated /etc files, seccomp.

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::Path;

/// Where the in-sandbox files come from: fds that bwrap reads (`--ro-bind-data`, `--seccomp`).
pub struct DataFds {
    pub hosts: RawFd,
    pub passwd: RawFd,
    pub group: RawFd,
    pub nsswitch: RawFd,
    pub agent: RawFd,
    pub seccomp: RawFd,
}

pub const HOSTS: &str = "127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost\n";
pub const PASSWD: &str = "student:x:1000:1000:student:/work:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
pub const GROUP: &str = "student:x:1000:\nnogroup:x:65534:\n";
pub const NSSWITCH: &str = "passwd: files\ngroup: files\nhosts: files\nservices: files\nprotocols: files\n";

/// Inside the sandbox, the agent's source and the student's work dir.
pub const AGENT_PATH: &str = "/opt/classbook/agent.py";

pub struct Mounts<'a> {
    pub python: &'a Path,
    /// Size of the student's /work (a tmpfs: it lives and dies with the sandbox).
    pub work_bytes: u64,
    pub tmp_bytes: u64,
    /// A site-packages directory to put on the sandbox's Python path, read-only.
    pub packages: Option<&'a Path>,
}

/// Where `Mounts::packages` appears inside the sandbox.
pub const PACKAGES_PATH: &str = "/opt/classbook/site-packages";

pub fn args(m: &Mounts, fds: &DataFds, agent_chan: RawFd) -> Vec<OsString> {
    let mut a = Args(Vec::new());
    let fd = |f: RawFd| f.to_string();
    let tmp = m.tmp_bytes.to_string();
    a.add(&["--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]);
    a.add(&["--seccomp", &fd(fds.seccomp)]);
    a.add(&["--ro-bind", "/usr", "/usr"]);
    for (link, target) in [("usr/lib", "/lib"), ("usr/lib64", "/lib64"), ("usr/bin", "/bin"), ("usr/sbin", "/sbin")] {
        if Path::new(target).exists() {
            a.add(&["--symlink", link, target]);
        }
    }
    a.add(&["--dir", "/etc"]);
    a.add(&["--ro-bind-data", &fd(fds.hosts), "/etc/hosts"]);
    a.add(&["--ro-bind-data", &fd(fds.passwd), "/etc/passwd"]);
    a.add(&["--ro-bind-data", &fd(fds.group), "/etc/group"]);
    a.add(&["--ro-bind-data", &fd(fds.nsswitch), "/etc/nsswitch.conf"]);
    for f in ["/etc/services", "/etc/protocols", "/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime"] {
        a.add(&["--ro-bind-try", f, f]);
    }
    a.add(&["--dir", "/opt/classbook", "--ro-bind-data", &fd(fds.agent), AGENT_PATH]);
    a.add(&["--proc", "/proc", "--dev", "/dev"]);
    a.add(&["--size", &tmp, "--tmpfs", "/dev/shm", "--size", &tmp, "--tmpfs", "/tmp"]);
    if let Some(host) = m.packages {
        a.0.extend(["--ro-bind".into(), host.into(), PACKAGES_PATH.into()]);
    }
    a.add(&["--disable-userns", "--size", &m.work_bytes.to_string(), "--perms", "0700", "--tmpfs", "/work"]);
    a.add(&["--chdir", "/work", "--remount-ro", "/"]);
    a.add(&["--uid", "1000", "--gid", "1000", "--hostname", "sandbox"]);
    a.add(&["--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/work"]);
    a.add(&["--setenv", "PYTHONUNBUFFERED", "1", "--setenv", "LANG", "C.UTF-8", "--setenv", "MALLOC_ARENA_MAX", "2"]);
    a.add(&["--setenv", "USER", "student", "--setenv", "TMPDIR", "/tmp"]);
    if m.packages.is_some() {
        a.add(&["--setenv", "PYTHONPATH", PACKAGES_PATH]);
    }
    a.add(&["--"]);
    a.0.push(m.python.into());
    a.add(&[AGENT_PATH, &fd(agent_chan), "/work"]);
    a.0
}

struct Args(Vec<OsString>);

impl Args {
    fn add(&mut self, items: &[&str]) {
        self.0.extend(items.iter().map(OsString::from));
    }
}
