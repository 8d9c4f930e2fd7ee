//! Per-student sandboxes: one bubblewrap sandbox per session, started as its own host uid
//! with an empty environment, in its own cgroup; every run is a process the in-sandbox
//! agent forks. This module is the only code that spawns processes for students.

mod bwrap;
pub mod capture;
mod cgroup;
mod channel;
pub mod protocol;
pub mod packages;
pub mod record;
mod seccomp;
pub mod tftp;
mod uids;
mod usage;

pub use cgroup::Cgroups;
pub use usage::{ProcTable, RunCpu};
pub use uids::UidPool;

use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Files one run may bring (a lesson's exported group included); the agent takes three pipes
/// and one per file in one message (agent.py's MAX_FILES).
pub use shared::wire::MAX_RUN_FILES;

/// Limits of one sandbox and its runs. Classroom defaults; all configurable.
#[derive(Clone, Debug)]
pub struct Limits {
    /// CPU seconds per process (RLIMIT_CPU); a run, all its processes together, gets twice
    /// this (watched from the host).
    pub cpu_secs: u64,
    /// Wall-clock seconds per run.
    pub wall_secs: u64,
    /// Processes and threads of one sandbox (cgroup pids.max and RLIMIT_NPROC of its uid).
    pub nproc: u64,
    /// Memory of one sandbox, its /work, /tmp and /dev/shm included (cgroup).
    pub memory_bytes: u64,
    /// Open files per process.
    pub nofile: u64,
    /// Largest file a program may write, in bytes.
    pub fsize: u64,
    /// Size of /work (the student's files), in bytes.
    pub work_bytes: u64,
    /// Size of /tmp and /dev/shm, each, in bytes.
    pub tmp_bytes: u64,
    /// Output forwarded to the page per run, in bytes; the rest is cut and announced.
    pub output_bytes: usize,
    /// CPUs one student's sandbox may use at most, all its processes together (cgroup cpu
    /// quota), so a busy loop or fork churn leaves the other CPUs to the class.
    pub cpus: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_secs: 30,
            wall_secs: 600,
            nproc: 256,
            memory_bytes: 256 << 20,
            nofile: 256,
            fsize: 16 << 20,
            work_bytes: 64 << 20,
            tmp_bytes: 32 << 20,
            output_bytes: 1 << 20,
            cpus: 1.0,
        }
    }
}

/// How to make sandboxes on this machine.
#[derive(Clone, Debug)]
pub struct Config {
    pub bwrap: PathBuf,
    pub python: PathBuf,
    /// Host uids for sandboxes when the backend runs as root.
    pub uids: Option<UidPool>,
    /// Where per-session cgroups go, when this machine lets us make them.
    pub cgroups: Option<Cgroups>,
    pub limits: Limits,
    /// Extra Python packages (greenlet, gevent) the sandbox sees read-only on its path:
    /// a site-packages directory (see `packages`).
    pub packages: Option<PathBuf>,
    /// No isolation at all: programs run as the server's user in a temp dir. Only for a
    /// machine without bubblewrap or user namespaces, when the teacher asked for it.
    pub unsafe_no_sandbox: bool,
    /// What the companion TFTP server of each sandbox serves; `None`: the course's bundled
    /// `tftp-files/`.
    pub tftp_files: Option<PathBuf>,
    /// Record every run: the packets of the sandbox's loopback (`capture`) and the program's
    /// threads, waits and socket calls (`record`). Off only to measure what recording costs.
    pub record: bool,
}

impl Config {
    /// Defaults for this machine: Debian's /usr/bin/python3, bwrap from PATH, a uid range
    /// 61000–61999 and cgroups when running as root, and the Python packages this binary
    /// carries (unpacked on first use; `CLASSBOOK_PACKAGES` names another directory).
    pub fn detect() -> Config {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        Config {
            bwrap: find_in_path("bwrap").unwrap_or_else(|| PathBuf::from("/usr/bin/bwrap")),
            python: PathBuf::from("/usr/bin/python3"),
            uids: root.then(|| UidPool::new(61000, 1000)),
            cgroups: if root { Cgroups::detect() } else { None },
            limits: Limits::default(),
            packages: packages::dir(),
            unsafe_no_sandbox: false,
            tftp_files: None,
            record: true,
        }
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
}

/// What the agent reports about a run.
#[derive(Clone, Debug, PartialEq)]
pub enum RunEvent {
    Started { pid: u32 },
    Listening,
    Exit { code: Option<i32>, signal: Option<i32>, cpu_ms: u64 },
    /// The run could not start (e.g. a file could not be written).
    Failed(String),
    /// The sandbox itself ended (e.g. the program killed the agent).
    Lost(String),
    /// The agent's and the program's stamps (`steps::AGENT_STEPS`), just before `Exit`, when
    /// the run was started with the `steps` tracing mode on.
    Steps(Vec<u64>),
}

/// Events a run's driver may have waiting: a run has four at most (started, listening, the
/// steps of the tracing mode, its end), so only an agent that floods (the student's code broke into it) fills the queue, and
/// what does not fit is dropped; the run still ends by its limits, from the host.
const RUN_EVENTS: usize = 8;

type Routes = Arc<Mutex<HashMap<u32, mpsc::Sender<RunEvent>>>>;

/// A live sandbox. Dropping it kills every process in it (kill_on_drop); `close` also
/// waits for that and removes its cgroups.
pub struct Sandbox {
    chan: Arc<channel::Channel>,
    child: tokio::sync::Mutex<Child>,
    routes: Routes,
    group: Mutex<Option<cgroup::SessionGroup>>,
    _uid: Option<uids::UidLease>,
    limits: Limits,
    alive: Arc<AtomicBool>,
    /// bwrap's pid on the host (every process of the sandbox descends from it).
    host_pid: Option<u32>,
    /// The host work dir of an unsafe (unsandboxed) session, removed on close.
    unsafe_dir: Option<PathBuf>,
    /// The sandbox's network namespace (none for an unsafe session).
    netns: Option<Arc<tftp::NetNs>>,
    /// The TFTP server on the sandbox's 127.0.0.1:6969, or why there is none.
    companion: Mutex<Result<tftp::Companion, String>>,
    /// The packets of the sandbox's loopback (none unsafe, or when not recording).
    capture: Mutex<Option<capture::Capture>>,
    /// Runs record what their program does (`record`).
    record: bool,
}

/// The page-facing ends of a run's standard streams, plus its events.
pub struct RunIo {
    pub stdin: pipe::Sender,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
    pub events: mpsc::Receiver<RunEvent>,
    /// The loopback's packets while the run lives, until `Sandbox::finish_packets`.
    pub packets: Option<mpsc::Receiver<capture::Seen>>,
    /// What the program records about itself, until its last process ends.
    pub activity: Option<record::Reading>,
}

/// Counters a run compares before and after, to say which limit ended it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LimitCounters {
    pub oom_kills: u64,
    pub pid_limit_hits: u64,
}

impl Sandbox {
    /// Starts the sandbox for session `name` and waits until its agent is ready.
    pub async fn start(cfg: &Config, name: &str) -> Result<Sandbox> {
        let mut launch = Launch::build(cfg, name)?;
        let child = launch.spawn(cfg)?;
        let Launch { chan, group, uid, unsafe_dir, .. } = launch;
        let chan = Arc::new(chan);
        let (child, group, netns) = handshake(&chan, child, group, unsafe_dir.is_none()).await?;
        let companion = match &netns {
            Some(ns) => tftp::Companion::start(ns, name, cfg.tftp_files.as_deref()),
            None => Err("no companion TFTP server without a sandbox".to_string()),
        };
        if let Err(why) = &companion {
            tracing::warn!(sandbox = %name, "{why}");
        }
        let capture = match &netns {
            Some(ns) if cfg.record => capture::Capture::start(ns)
                .map_err(|e| tracing::warn!(sandbox = %name, "no packet capture in the sandbox: {e}"))
                .ok(),
            _ => None,
        };
        let routes: Routes = Arc::default();
        let alive = Arc::new(AtomicBool::new(true));
        tokio::spawn(route_events(chan.clone(), routes.clone(), alive.clone()));
        let host_pid = child.id();
        Ok(Sandbox {
            host_pid,
            chan,
            child: tokio::sync::Mutex::new(child),
            routes,
            group: Mutex::new(group),
            _uid: uid,
            limits: cfg.limits.clone(),
            alive,
            unsafe_dir,
            netns,
            companion: Mutex::new(companion),
            capture: Mutex::new(capture),
            record: cfg.record,
        })
    }

    /// Opens UDP sockets inside this sandbox's network namespace (none for an unsafe session).
    pub fn socket_factory(&self) -> Option<classbook_tftp::SocketFactory> {
        self.netns.as_ref().map(|ns| ns.socket_factory())
    }

    /// Run `run_id` is about to end: resolves once the loopback's packets until now were given
    /// to it (at most a second); then its `RunIo::packets` closes.
    pub fn finish_packets(&self, run_id: u32) -> impl std::future::Future<Output = ()> + Send + 'static {
        let finishing = self.capture.lock().expect("capture lock").as_ref().map(|c| c.finish(run_id));
        async move {
            if let Some(f) = finishing {
                f.await;
            }
        }
    }

    /// The first `max` bytes of `/work/name`, read by the agent (never through a link).
    pub async fn read_file(&self, name: &str, max: usize) -> Result<Vec<u8>, String> {
        if !valid_file_name(name) {
            return Err(format!("'{name}' is not a plain file name"));
        }
        let (r, w) = pipe_pair().map_err(|e| e.to_string())?;
        let msg = protocol::Request::Read { name, max }.to_bytes();
        self.chan.send(&msg, &[w.as_raw_fd()]).await.map_err(|e| format!("cannot reach the sandbox agent: {e}"))?;
        drop(w);
        let mut reader = pipe::Receiver::from_owned_fd(r).map_err(|e| e.to_string())?;
        let mut data = Vec::new();
        let mut limited = (&mut reader).take(max as u64 + 1);
        tokio::time::timeout(Duration::from_secs(10), limited.read_to_end(&mut data))
            .await
            .map_err(|_| "the sandbox agent did not answer".to_string())?
            .map_err(|e| e.to_string())?;
        match data.split_first() {
            Some((b'+', content)) => Ok(content.to_vec()),
            Some((b'-', why)) => Err(String::from_utf8_lossy(why).into_owned()),
            _ => Err("the sandbox agent did not answer".into()),
        }
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Runs of this sandbox that have not ended yet.
    pub fn runs_alive(&self) -> usize {
        self.routes.lock().expect("routes poisoned").len()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// bwrap's pid on the host, while it runs.
    pub fn host_pid(&self) -> Option<u32> {
        self.host_pid
    }

    /// The sandbox's memory in use (from its cgroup; `None` without one).
    pub fn memory_bytes(&self) -> Option<u64> {
        self.group.lock().expect("group lock").as_ref().and_then(|g| g.memory_bytes())
    }

    pub fn counters(&self) -> LimitCounters {
        match self.group.lock().expect("group lock").as_ref() {
            Some(g) => LimitCounters { oom_kills: g.oom_kills(), pid_limit_hits: g.pid_limit_hits() },
            None => LimitCounters::default(),
        }
    }

    /// Writes `files` into /work (the agent writes them, as the student, never through a
    /// link), then starts `entry` as run `id`.
    pub async fn spawn<T: AsRef<[u8]>>(
        &self,
        id: u32,
        files: &[(String, T)],
        entry: &str,
        args: &[String],
        watch_listen: bool,
    ) -> Result<RunIo> {
        Ok(self.spawn_with(id, files, entry, args, watch_listen, None).await?.0)
    }

    /// Starts run `id` as an exercise check: `entry` imported as a module, then `checks` by the
    /// check harness (shared/src/check.py). The returned pipe carries the harness's records
    /// apart from the program's output (see shared::check for what that does and does not stop).
    pub async fn spawn_checked<T: AsRef<[u8]>>(
        &self,
        id: u32,
        files: &[(String, T)],
        entry: &str,
        checks: &str,
    ) -> Result<(RunIo, pipe::Receiver)> {
        let (io, records) = self.spawn_with(id, files, entry, &[], false, Some(checks)).await?;
        Ok((io, records.expect("a checked run has a records pipe")))
    }

    async fn spawn_with<T: AsRef<[u8]>>(
        &self,
        id: u32,
        files: &[(String, T)],
        entry: &str,
        args: &[String],
        watch_listen: bool,
        check: Option<&str>,
    ) -> Result<(RunIo, Option<pipe::Receiver>)> {
        if !self.is_alive() {
            bail!("the sandbox has ended");
        }
        let (stdin_r, stdin_w) = pipe_pair()?;
        let (stdout_r, stdout_w) = pipe_pair()?;
        let (stderr_r, stderr_w) = pipe_pair()?;
        let mut file_ends = Vec::new();
        for (_, content) in files {
            let (r, w) = pipe_pair()?;
            let mut w = pipe::Sender::from_owned_fd(w)?;
            let content = content.as_ref();
            // What fits the pipe (a whole lesson file, mostly) goes in now, so the agent never
            // waits for a task of ours to be scheduled; only the rest is written by one.
            let now = match w.try_write(content) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
                Err(_) => content.len(), // the agent reads what there is: the run fails, says why
            };
            if now < content.len() {
                let rest = content[now..].to_vec();
                tokio::spawn(async move {
                    let _ = w.write_all(&rest).await;
                });
            }
            file_ends.push(r);
        }
        let record = match self.record {
            true => Some(pipe_pair()?),
            false => None,
        };
        let (tx, events) = mpsc::channel(RUN_EVENTS);
        {
            let mut routes = self.routes.lock().expect("routes poisoned");
            if routes.contains_key(&id) {
                bail!("run {id} is already running");
            }
            routes.insert(id, tx);
        }
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        let msg = protocol::Request::Run {
            id,
            entry,
            args,
            watch: watch_listen,
            cpu: self.limits.cpu_secs,
            record: record.is_some(),
            files: names,
            check,
            steps: crate::steps::enabled(),
        };
        // The agent takes them in this order: stdio, a check's records, the recording, the files.
        let mut fds = vec![stdin_r.as_raw_fd(), stdout_w.as_raw_fd(), stderr_w.as_raw_fd()];
        let records = check.map(|_| pipe_pair()).transpose()?;
        fds.extend(records.as_ref().map(|(_, w)| w.as_raw_fd()));
        fds.extend(record.as_ref().map(|(_, w)| w.as_raw_fd()));
        fds.extend(file_ends.iter().map(|f| f.as_raw_fd()));
        // Followed before the program starts, so its first packet is seen.
        let packets = self.capture.lock().expect("capture lock").as_ref().map(|c| c.follow(id));
        if let Err(e) = self.chan.send(&msg.to_bytes(), &fds).await {
            self.routes.lock().expect("routes poisoned").remove(&id);
            self.finish_packets(id).await;
            return Err(e).context("cannot reach the sandbox agent");
        }
        let activity = match record {
            Some((r, w)) => {
                drop(w);
                Some(record::read(r))
            }
            None => None,
        };
        drop((stdin_r, stdout_w, stderr_w, file_ends));
        let records = match records {
            Some((r, w)) => {
                drop(w);
                Some(pipe::Receiver::from_owned_fd(r)?)
            }
            None => None,
        };
        let io = RunIo {
            stdin: pipe::Sender::from_owned_fd(stdin_w)?,
            stdout: pipe::Receiver::from_owned_fd(stdout_r)?,
            stderr: pipe::Receiver::from_owned_fd(stderr_r)?,
            events,
            packets,
            activity,
        };
        Ok((io, records))
    }

    /// Sends signal `sig` to run `id`'s process group.
    pub async fn signal(&self, id: u32, sig: i32) -> Result<()> {
        Ok(self.chan.send(&protocol::Request::Signal { id, sig }.to_bytes(), &[]).await?)
    }

    /// Kills every process of run `id`.
    pub async fn kill(&self, id: u32) -> Result<()> {
        Ok(self.chan.send(&protocol::Request::Kill { id }.to_bytes(), &[]).await?)
    }

    /// Ends every process of the sandbox (killing bwrap ends its PID namespace, and with it
    /// /work) and removes its cgroups.
    pub async fn close(&self) {
        let mut child = self.child.lock().await;
        let _ = child.start_kill();
        let _ = child.wait().await;
        self.alive.store(false, Ordering::SeqCst);
        // Stops the companion server and removes the session's uploads.
        *self.companion.lock().expect("companion lock") = Err("the sandbox has ended".into());
        // Ends the capture's task and closes its socket.
        *self.capture.lock().expect("capture lock") = None;
        let group = self.group.lock().expect("group lock").take();
        if let Some(g) = group {
            let _ = tokio::task::spawn_blocking(move || g.remove()).await;
        }
        if let Some(dir) = self.unsafe_dir.clone() {
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        }
    }
}

/// A sandbox about to start: its host uid, cgroup, the backend's end of the agent's channel,
/// the data bwrap reads (files of /etc, the agent, the seccomp program) and the command line.
struct Launch {
    cmd: Command,
    chan: channel::Channel,
    /// The agent's end of the channel, until the child has its copy.
    agent_end: Option<OwnedFd>,
    data: Vec<OwnedFd>,
    group: Option<cgroup::SessionGroup>,
    uid: Option<uids::UidLease>,
    unsafe_dir: Option<PathBuf>,
}

impl Launch {
    /// Leases the uid, makes the cgroup and the data, and builds bwrap's command line (or, for
    /// an unsafe session, plain python3's).
    fn build(cfg: &Config, name: &str) -> Result<Launch> {
        let uid = match &cfg.uids {
            Some(pool) => Some(pool.lease().map_err(|e| anyhow!(e))?),
            None => None,
        };
        let group = match &cfg.cgroups {
            Some(cg) => Some(
                cg.create(name, cfg.limits.memory_bytes, cfg.limits.nproc, cfg.limits.cpus)
                    .context("cannot make the session's cgroup")?,
            ),
            None => None,
        };
        let (chan, agent_end) = channel::pair()?;
        let data = vec![
            data_fd(bwrap::HOSTS.as_bytes())?,
            data_fd(bwrap::PASSWD.as_bytes())?,
            data_fd(bwrap::GROUP.as_bytes())?,
            data_fd(bwrap::NSSWITCH.as_bytes())?,
            data_fd(agent_source().as_bytes())?,
            data_fd(&seccomp::program())?,
        ];
        let raw: Vec<RawFd> = data.iter().map(|f| f.as_raw_fd()).collect();
        let fds = bwrap::DataFds {
            hosts: raw[0],
            passwd: raw[1],
            group: raw[2],
            nsswitch: raw[3],
            agent: raw[4],
            seccomp: raw[5],
        };
        let mounts = bwrap::Mounts {
            python: &cfg.python,
            work_bytes: cfg.limits.work_bytes,
            tmp_bytes: cfg.limits.tmp_bytes,
            packages: cfg.packages.as_deref(),
        };
        let unsafe_dir = cfg.unsafe_no_sandbox.then(|| std::env::temp_dir().join(format!("classbook-unsafe-{name}")));
        let mut cmd = match &unsafe_dir {
            None => {
                let mut cmd = Command::new(&cfg.bwrap);
                cmd.args(bwrap::args(&mounts, &fds, agent_end.as_raw_fd()));
                cmd
            }
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let mut cmd = Command::new(&cfg.python);
                cmd.arg("-c").arg(agent_source());
                cmd.arg(agent_end.as_raw_fd().to_string()).arg(dir).current_dir(dir);
                cmd
            }
        };
        cmd.env_clear() // bwrap is PID 1 inside: /proc/1/environ must hold no secret
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if unsafe_dir.is_some() {
            cmd.envs([("PATH", "/usr/bin:/bin"), ("PYTHONUNBUFFERED", "1"), ("LANG", "C.UTF-8")]);
        }
        Ok(Launch { cmd, chan, agent_end: Some(agent_end), data, group, uid, unsafe_dir })
    }

    /// Starts it: between fork and exec the child joins the cgroup, becomes the session's uid,
    /// keeps the data and channel fds, and takes its rlimits.
    fn spawn(&mut self, cfg: &Config) -> Result<Child> {
        let mut inherit: Vec<RawFd> = self.data.iter().map(|f| f.as_raw_fd()).collect();
        inherit.extend(self.agent_end.as_ref().map(|f| f.as_raw_fd()));
        let limits = cfg.limits.clone();
        let procs: Vec<CString> = self.group.as_ref().map(|g| g.procs.clone()).unwrap_or_default();
        // Without a cgroup, an address-space limit is the memory limit. It must stay well
        // above the memory limit: glibc reserves arenas and 8 MiB stacks per thread (with
        // MALLOC_ARENA_MAX=2 set inside, 1 GiB still lets ~100 threads start).
        let address_space = self.group.is_none().then(|| (cfg.limits.memory_bytes * 4).max(1 << 30));
        let drop_to = if self.unsafe_dir.is_some() { None } else { self.uid.as_ref().map(|l| l.uid) };
        // SAFETY: the closure only calls async-signal-safe libc functions on data prepared
        // before fork.
        unsafe {
            self.cmd.pre_exec(move || {
                // Join the session's cgroups while still privileged, then become its uid.
                cgroup::SessionGroup::join_self(&procs)?;
                if let Some(id) = drop_to {
                    check(libc::setgroups(0, std::ptr::null()))?;
                    check(libc::setresgid(id, id, id))?;
                    check(libc::setresuid(id, id, id))?;
                }
                for fd in &inherit {
                    check(libc::fcntl(*fd, libc::F_SETFD, 0))?;
                }
                set_rlimit(libc::RLIMIT_NPROC, limits.nproc)?;
                set_rlimit(libc::RLIMIT_NOFILE, limits.nofile)?;
                set_rlimit(libc::RLIMIT_FSIZE, limits.fsize)?;
                set_rlimit(libc::RLIMIT_CORE, 0)?;
                if let Some(bytes) = address_space {
                    set_rlimit(libc::RLIMIT_AS, bytes)?;
                }
                Ok(())
            });
        }
        let child = self.cmd.spawn().with_context(|| format!("cannot start {}", cfg.bwrap.display()))?;
        // The child holds its copies now; ours would keep the pipes and the channel open.
        self.data.clear();
        self.agent_end = None;
        Ok(child)
    }
}

/// Waits for the agent's `Ready` (with the sandbox's network namespace, unless `isolated` is
/// false); on any other answer ends the sandbox and says what bwrap said.
async fn handshake(
    chan: &channel::Channel,
    mut child: Child,
    group: Option<cgroup::SessionGroup>,
    isolated: bool,
) -> Result<(Child, Option<cgroup::SessionGroup>, Option<Arc<tftp::NetNs>>)> {
    let first = tokio::time::timeout(Duration::from_secs(10), chan.recv_with_fds(1)).await;
    let ready = matches!(&first, Ok(Ok(Some((m, _)))) if protocol::Event::parse(m) == Ok(protocol::Event::Ready));
    if !ready {
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), stderr.read_to_string(&mut err)).await;
        }
        let _ = child.kill().await;
        if let Some(g) = group {
            let _ = tokio::task::spawn_blocking(move || g.remove()).await;
        }
        bail!("the sandbox did not start: {}", if err.trim().is_empty() { "no message from bwrap" } else { err.trim() });
    }
    let netns = match first {
        Ok(Ok(Some((_, mut fds)))) if isolated && fds.len() == 1 => Some(Arc::new(tftp::NetNs::new(fds.remove(0)))),
        _ => None,
    };
    Ok((child, group, netns))
}

async fn route_events(chan: Arc<channel::Channel>, routes: Routes, alive: Arc<AtomicBool>) {
    let reason = loop {
        match chan.recv().await {
            Ok(Some(bytes)) => {
                use protocol::Event;
                let (id, event) = match Event::parse(&bytes) {
                    Ok(Event::Started { id, pid }) => (id, RunEvent::Started { pid }),
                    Ok(Event::Listening { id }) => (id, RunEvent::Listening),
                    Ok(Event::Exit { id, code, signal, cpu_ms }) => (id, RunEvent::Exit { code, signal, cpu_ms }),
                    Ok(Event::Failed { id, message }) => (id, RunEvent::Failed(message)),
                    Ok(Event::Steps { id, ns }) => (id, RunEvent::Steps(ns)),
                    Ok(Event::Error { message }) => {
                        tracing::warn!("sandbox agent: {message}");
                        continue;
                    }
                    Ok(Event::Ready) => continue,
                    Err(why) => {
                        tracing::warn!("{why}");
                        continue;
                    }
                };
                let mut routes = routes.lock().expect("routes poisoned");
                let done = matches!(event, RunEvent::Exit { .. } | RunEvent::Failed(_));
                if let Some(tx) = routes.get(&id) {
                    if tx.try_send(event).is_err() {
                        tracing::warn!(run = id, "the sandbox agent sent more events than a run has: dropped");
                    }
                }
                if done {
                    routes.remove(&id);
                }
            }
            Ok(None) => break "the sandbox ended".to_string(),
            Err(e) => break format!("the sandbox channel failed: {e}"),
        }
    };
    alive.store(false, Ordering::SeqCst);
    for (_, tx) in routes.lock().expect("routes poisoned").drain() {
        let _ = tx.try_send(RunEvent::Lost(reason.clone()));
    }
}

fn check(ret: libc::c_int) -> std::io::Result<()> {
    if ret != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn set_rlimit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let lim = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: setrlimit with a valid struct.
    check(unsafe { libc::setrlimit(resource, &lim) })
}

/// A pipe whose read end holds `data` (small: it must fit the pipe buffer), for bwrap to read.
fn data_fd(data: &[u8]) -> Result<OwnedFd> {
    let (r, w) = pipe_pair()?;
    let mut file = std::fs::File::from(w);
    std::io::Write::write_all(&mut file, data)?;
    Ok(r)
}

/// The agent's program: the exercise check harness (shared/src/check.py), then agent.py.
fn agent_source() -> String {
    format!("{}\n{}", shared::check::HARNESS, include_str!("agent.py"))
}

fn pipe_pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two fds on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds are new and owned here.
    Ok(unsafe { (std::os::fd::FromRawFd::from_raw_fd(fds[0]), std::os::fd::FromRawFd::from_raw_fd(fds[1])) })
}

/// Only plain names: letters, digits, `-`, `_`, `.`; no leading dot, at most 64 bytes.
pub fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_must_be_plain() {
        assert!(valid_file_name("server.py"));
        for bad in ["../x", "/etc/passwd", ".hidden", "a/b", "", "a\0b", "a b"] {
            assert!(!valid_file_name(bad), "{bad:?}");
        }
    }
}
