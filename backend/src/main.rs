//! The `classbook` command: `serve` runs the class server, `backup` copies its database while it
//! serves, `cert` makes the class CA and certificate for https, `check-course` validates
//! lessons, `tftpd` runs the TFTP server alone (for a LAN).

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use classbook::{app::App, class, course::Course, sandbox};
use shared::lang::Lang;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "classbook", version, about = "An interactive Python course for a classroom, from one binary")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start: the size of `serve`'s flags does not matter
enum Cmd {
    /// Serve the course to the class.
    Serve {
        /// Address to listen on; use 0.0.0.0:8080 to let the LAN in.
        #[arg(long, default_value = "127.0.0.1:8080", env = "CLASSBOOK_BIND")]
        bind: SocketAddr,
        /// Lesson directory, watched for changes; the course bundled in the binary when absent.
        #[arg(long, env = "CLASSBOOK_COURSE")]
        course: Option<PathBuf>,
        /// DANGEROUS: when sandboxes cannot start here, run server cells anyway, as this
        /// server's user, with no isolation. Never on a machine that matters.
        #[arg(long)]
        unsafe_no_sandbox: bool,
        /// Settings file (TOML, keys are these flags' names); flags and environment win over it.
        #[arg(long, env = "CLASSBOOK_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        class: ClassFlags,
        #[command(flatten)]
        limits: LimitFlags,
        #[command(flatten)]
        tls: TlsFlags,
    },
    /// Make a class CA (once per directory) and a certificate for this machine signed by it,
    /// for `serve --tls-cert --tls-key`; students' machines install the CA's ca.pem once.
    Cert {
        /// Directory of ca.pem, ca-key.pem (keep it private), server.pem and server-key.pem;
        /// a CA already there is used again.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Another name students use for this machine (any number of times).
        #[arg(long = "name", value_name = "NAME")]
        names: Vec<String>,
        /// Another address students use for this machine (any number of times).
        #[arg(long = "ip", value_name = "IP")]
        ips: Vec<IpAddr>,
    },
    /// Copy the class database of a running `classbook serve` into a file, while students work.
    ///
    /// The server makes the copy with SQLite's online backup API, so it is consistent; the
    /// teacher's token is needed.
    Backup {
        /// The server's address.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The teacher's token (the `token=` of the teacher page's address).
        #[arg(long, env = "CLASSBOOK_TEACHER_TOKEN", hide_env_values = true)]
        token: String,
        /// Where to write the copy (replaced whole, never left half-written).
        #[arg(long)]
        out: PathBuf,
    },
    /// Run classbook's TFTP server alone, e.g. for a LAN practical.
    Tftpd {
        /// Directory served; paths are confined to it.
        #[arg(long)]
        root: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:6969")]
        listen: SocketAddr,
        /// Accept uploads (WRQ) into the root; existing files are never overwritten.
        #[arg(long)]
        allow_write: bool,
    },
    /// Validate a lesson directory and print every problem as file:line.
    CheckCourse {
        dir: PathBuf,
        /// The language problems are worded in (zh or en); the class's `--lang` of `serve`
        /// (CLASSBOOK_LANG) when absent, else the course's first.
        #[arg(long, env = "CLASSBOOK_LANG", value_parser = ["zh", "en"])]
        lang: Option<String>,
        /// The settings file of `serve` (only its `lang` is read here).
        #[arg(long, env = "CLASSBOOK_CONFIG")]
        config: Option<PathBuf>,
        /// Print the parsed course as JSON (for the cell checker in tests/).
        #[arg(long)]
        json: bool,
    },
}

/// The class: its data, who may join, the teacher's token.
#[derive(clap::Args)]
struct ClassFlags {
    /// The class database (SQLite): students and their exercise results.
    #[arg(long, default_value = "classbook.sqlite3", env = "CLASSBOOK_DATA")]
    data: PathBuf,
    /// Students must enter this code to join (none: anyone who opens the page joins).
    #[arg(long, env = "CLASSBOOK_ACCESS_CODE")]
    access_code: Option<String>,
    /// Most students the class holds.
    #[arg(long, default_value_t = class::MAX_STUDENTS, env = "CLASSBOOK_MAX_STUDENTS")]
    max_students: usize,
    /// The teacher's token for the teacher page and API (generated and printed when absent).
    #[arg(long, env = "CLASSBOOK_TEACHER_TOKEN")]
    teacher_token: Option<String>,
    /// The class's name, shown on the join page.
    #[arg(long, default_value = "classbook", env = "CLASSBOOK_TITLE")]
    title: String,
    /// The class's interface and lesson language (zh or en) for pages whose student has not
    /// chosen one; without it a page follows its browser's language.
    #[arg(long, env = "CLASSBOOK_LANG", value_parser = ["zh", "en"])]
    lang: Option<String>,
    /// Another site whose pages may use this server (e.g. https://class.school.example behind
    /// a proxy); repeat it for more. The server's own address is always allowed.
    #[arg(long = "allowed-origin", env = "CLASSBOOK_ALLOWED_ORIGINS", value_delimiter = ',', value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
}

/// Sandbox and queue limits; defaults suit a class of 30–40 on one laptop.
#[derive(clap::Args)]
struct LimitFlags {
    /// CPU seconds per process.
    #[arg(long, default_value_t = sandbox::Limits::default().cpu_secs, env = "CLASSBOOK_CPU_SECS")]
    cpu_secs: u64,
    /// Wall-clock seconds per run.
    #[arg(long, default_value_t = sandbox::Limits::default().wall_secs, env = "CLASSBOOK_WALL_SECS")]
    wall_secs: u64,
    /// Memory per student in MiB, their files included (needs writable cgroups).
    #[arg(long, default_value_t = sandbox::Limits::default().memory_bytes >> 20, env = "CLASSBOOK_MEMORY_MIB")]
    memory_mib: u64,
    /// Processes and threads per student.
    #[arg(long, default_value_t = sandbox::Limits::default().nproc, env = "CLASSBOOK_MAX_PROCS")]
    max_procs: u64,
    /// Size of a student's /work in MiB.
    #[arg(long, default_value_t = sandbox::Limits::default().work_bytes >> 20, env = "CLASSBOOK_WORK_MIB")]
    work_mib: u64,
    /// CPUs one student's programs may use at most, together (cgroup cpu quota; 0.5 = half a CPU).
    #[arg(long, default_value_t = sandbox::Limits::default().cpus, env = "CLASSBOOK_CPUS_PER_STUDENT")]
    cpus_per_student: f64,
    /// Output sent to the page per run, in KiB.
    #[arg(long, default_value_t = sandbox::Limits::default().output_bytes >> 10, env = "CLASSBOOK_OUTPUT_KIB")]
    output_kib: usize,
    /// Programs one student may run at once (more wait in a queue).
    #[arg(long, default_value_t = classbook::app::RUNS_PER_STUDENT, env = "CLASSBOOK_RUNS_PER_STUDENT")]
    runs_per_student: usize,
    /// Programs running at once on the server (more wait in a queue).
    #[arg(long, default_value_t = classbook::app::MAX_RUNS, env = "CLASSBOOK_MAX_RUNS")]
    max_runs: usize,
}

/// https: a certificate of the teacher's, or the class CA kept beside the class data.
#[derive(clap::Args)]
struct TlsFlags {
    /// Serve https with this certificate (PEM, this machine's first; with --tls-key).
    #[arg(long, value_name = "FILE", env = "CLASSBOOK_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", env = "CLASSBOOK_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Serve https with a class CA and certificate in classbook-tls/ beside the class data,
    /// made there the first time (students' browsers warn until they install its ca.pem).
    #[arg(long, env = "CLASSBOOK_SELF_SIGNED")]
    self_signed: bool,
}

/// What the banner says about https.
struct TlsBanner {
    fingerprint: String,
    /// The class CA's certificate and fingerprint, with `--self-signed`.
    ca: Option<(PathBuf, String)>,
}

impl TlsFlags {
    /// The acceptor for https, or `None` for plain http.
    fn load(&self, data: &Path) -> Result<Option<(classbook::tls::TlsAcceptor, TlsBanner)>> {
        let (cert, key, ca) = match (&self.tls_cert, &self.tls_key, self.self_signed) {
            (None, None, false) => return Ok(None),
            (Some(_), _, true) | (_, Some(_), true) => {
                anyhow::bail!("--self-signed makes its own certificate: give it, or --tls-cert and --tls-key, not both")
            }
            (Some(cert), Some(key), false) => (cert.clone(), key.clone(), None),
            (Some(_), None, false) | (None, Some(_), false) => {
                anyhow::bail!("--tls-cert and --tls-key go together: give both for https, or neither for plain http")
            }
            (None, None, true) => {
                let dir = data.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("classbook-tls");
                let (names, ips) = classbook::tls::ca::this_machine(&[], &[]);
                let made = classbook::tls::ca::ensure(&dir, &names, &ips)?;
                if made.made_ca {
                    tracing::info!("made a class CA in {}", dir.display());
                }
                (made.cert(), made.key(), Some((made.ca(), made.ca_fingerprint)))
            }
        };
        let loaded = classbook::tls::load(&cert, &key)?;
        Ok(Some((loaded.acceptor, TlsBanner { fingerprint: loaded.fingerprint, ca })))
    }
}

impl LimitFlags {
    fn apply(&self, limits: &mut sandbox::Limits) {
        limits.cpu_secs = self.cpu_secs;
        limits.wall_secs = self.wall_secs;
        limits.memory_bytes = self.memory_mib << 20;
        limits.nproc = self.max_procs;
        limits.work_bytes = self.work_mib << 20;
        limits.output_bytes = self.output_kib << 10;
        limits.cpus = self.cpus_per_student;
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("classbook: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    match parse_cli()?.command {
        Cmd::Serve { bind, course, unsafe_no_sandbox, config: _, class, limits, tls } => {
            serve(bind, course, unsafe_no_sandbox, class, limits, tls).await
        }
        Cmd::Backup { url, token, out } => {
            let (students, bytes) = class::backup::fetch(&url, &token, &out).await?;
            println!("classbook: wrote the class database ({students} student(s), {} KiB) to {}", bytes.div_ceil(1024), out.display());
            Ok(())
        }
        Cmd::Cert { out, names, ips } => cert(&out, &names, &ips),
        Cmd::CheckCourse { dir, json, lang, config: _ } => {
            check_course(&dir, json, lang.as_deref().map(Lang::from_code).unwrap_or_default())
        }
        Cmd::Tftpd { root, listen, allow_write } => classbook_tftp::run_tftpd(root, listen, allow_write).await,
    }
}

/// The command line, with the settings file's values for what flags and environment left
/// at their defaults.
fn parse_cli() -> Result<Cli> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = Cli::command().get_matches_from(&args);
    let cmd = Cli::command();
    let serve = cmd.find_subcommand("serve").expect("serve exists");
    match matches.subcommand() {
        Some(("serve", given)) => {
            if let Some(file) = given.get_one::<PathBuf>("config") {
                args.extend(class::config::file_args(file, serve, given)?);
            }
        }
        // The class's language as `serve` would choose it: only the file's `lang` applies.
        Some(("check-course", given)) => {
            if let (Some(file), None) = (given.get_one::<PathBuf>("config"), given.get_one::<String>("lang")) {
                let as_serve = serve.clone().no_binary_name(true).try_get_matches_from(Vec::<String>::new())?;
                args.extend(class::config::file_args(file, serve, &as_serve)?.into_iter().filter(|a| a.to_string_lossy().starts_with("--lang=")));
            }
        }
        _ => {}
    }
    let matches = Cli::command().try_get_matches_from(&args).unwrap_or_else(|e| e.exit());
    Ok(Cli::from_arg_matches(&matches)?)
}

/// The course, or every problem of it printed in `lang`.
fn load_course(dir: Option<&std::path::Path>, lang: Lang) -> Result<Course> {
    Course::load(dir).map_err(|errors| {
        for e in &errors {
            eprintln!("{}", e.said(lang));
        }
        let n = errors.len();
        anyhow::anyhow!(lang.pick(format!("课程有 {n} 个问题；没有开始上课"), format!("the course has {n} problem(s); nothing was served")))
    })
}

fn check_course(dir: &std::path::Path, json: bool, lang: Lang) -> Result<()> {
    let course = load_course(Some(dir), lang)?;
    if json {
        // For tools that run every cell (tests/course/browser_cells.mjs): every lesson in every
        // language, whether or not the translations are complete.
        println!("{}", serde_json::to_string_pretty(&course.all_lessons())?);
        return Ok(());
    }
    // A translation that departs from its original, or a lesson missing from a language, is not
    // an error while serving (the page shows the original and says so), but a course is not
    // finished with one.
    for p in course.problems() {
        eprintln!("{}", p.said(lang));
    }
    let n = course.problems().len();
    anyhow::ensure!(n == 0, lang.pick(format!("翻译里有 {n} 个问题"), format!("{n} problem(s) in translations")));
    let missing = course.missing_translations();
    for m in &missing {
        eprintln!("{}", m.said(lang));
    }
    let n = missing.len();
    anyhow::ensure!(n == 0, lang.pick(format!("{n} 课缺少翻译"), format!("{n} lesson(s) lack a translation")));
    let (langs, lessons) = (course.languages().join(", "), course.lessons().len());
    let dir = dir.display();
    println!("{}", lang.pick(format!("{dir}：{lessons} 课，语言 {langs}，全部有效"), format!("{dir}: {lessons} lessons in {langs}, all valid")));
    Ok(())
}

async fn serve(
    bind: SocketAddr,
    course_dir: Option<PathBuf>,
    unsafe_no_sandbox: bool,
    flags: ClassFlags,
    limits: LimitFlags,
    tls: TlsFlags,
) -> Result<()> {
    raise_open_files();
    let allowed_origins = flags
        .allowed_origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .map(|o| classbook::http::origin::normalize(o).map_err(|e| anyhow::anyhow!("--allowed-origin: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let lang = flags.lang.as_deref().map(Lang::from_code).unwrap_or_default();
    let course = load_course(course_dir.as_deref(), lang)?;
    let tls = tls.load(&flags.data)?;
    let data = flags.data.clone();
    let db = tokio::task::spawn_blocking(move || class::db::Db::open(&data)).await??;
    let mut cfg = sandbox::Config::detect();
    cfg.tftp_files = course_dir.as_ref().map(|dir| dir.join("tftp-files")).filter(|dir| dir.is_dir());
    limits.apply(&mut cfg.limits);
    if let Some(cg) = &cfg.cgroups {
        cg.sweep_stale();
    }
    let sandbox = match classbook::probe_sandbox(&cfg).await {
        Ok(()) => {
            if unsafe_no_sandbox {
                tracing::warn!("--unsafe-no-sandbox ignored: sandboxes work on this machine");
            }
            Ok(cfg)
        }
        Err(why) if unsafe_no_sandbox => {
            for _ in 0..3 {
                tracing::error!(
                    "UNSAFE: sandboxes cannot start here ({why}); --unsafe-no-sandbox runs every student's \
                     server cells as this server's user, with NO isolation: they can read and change your files"
                );
            }
            cfg.unsafe_no_sandbox = true;
            Ok(cfg)
        }
        Err(why) => {
            tracing::error!("server cells are disabled: {why}");
            Err(format!("server cells are disabled on this class server: {why}"))
        }
    };
    let lessons = course.lessons().len();
    for p in course.problems() {
        tracing::warn!("{} {}", p.said(lang), lang.pick("（改用原文）", "(the original is served in its place)"));
    }
    if let Some(token) = &flags.teacher_token {
        anyhow::ensure!(token.len() >= 8, "--teacher-token must have at least 8 characters");
    }
    let settings = classbook::app::Settings {
        max_runs: limits.max_runs,
        runs_per_student: limits.runs_per_student,
        access_code: flags.access_code,
        max_students: flags.max_students,
        title: flags.title,
        lang: flags.lang,
        teacher_token: flags.teacher_token,
        allowed_origins,
        ..Default::default()
    };
    let app = std::sync::Arc::new(App::with(course, sandbox, db, settings));
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    let (acceptor, tls) = tls.unzip();
    banner(&app, addr, lessons, &flags.data, tls.as_ref());
    if let Some(dir) = course_dir.filter(|d| d.is_dir()) {
        class::watch::spawn(app.clone(), dir);
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = classbook::http::listen::Options { tls: acceptor, ..Default::default() };
    let routes = classbook::http::router(app.clone());
    let server = tokio::spawn(classbook::http::listen::serve(listener, routes, options, async move {
        let _ = stopped.await;
    }));
    tokio::select! {
        _ = shutdown_signal() => {}
        r = server => { r??; return Ok(()) }
    }
    // Stop accepting first, then tell and end every session, close sandboxes, flush the data.
    let _ = stop.send(());
    app.shut_down().await;
    tracing::info!("stopped");
    Ok(())
}

/// Every connection and every sandbox pipe is a file descriptor: the usual soft limit (1024)
/// would let a few hundred idle connections stop sandboxes from starting, so take the hard one.
fn raise_open_files() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                tracing::warn!("cannot raise the open-file limit: {}", std::io::Error::last_os_error());
            }
        }
    }
}

/// What the teacher needs at start: where students go, and the teacher page.
fn banner(app: &App, addr: SocketAddr, lessons: usize, data: &Path, tls: Option<&TlsBanner>) {
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("classbook: serving {lessons} lessons on {scheme}://{addr}/ (class data: {})", data.display());
    let port = addr.port();
    let local = if addr.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], port)) } else { addr };
    if addr.ip().is_unspecified() {
        let lan = class::lan_addresses();
        if lan.is_empty() {
            println!("  no LAN address found on this machine's interfaces");
        }
        for ip in lan {
            println!("  students open: {scheme}://{}/", SocketAddr::new(ip, port));
        }
    } else if addr.ip().is_loopback() {
        println!("  only this machine can connect; use --bind 0.0.0.0:{port} to let the class in");
    }
    if let Some(code) = &app.class.access_code {
        println!("  access code: {code}");
    }
    println!("  teacher page: {scheme}://{local}/#/teacher?token={}", app.class.teacher_token);
    if let Some(tls) = tls {
        println!("  certificate SHA-256: {} (what a browser's certificate viewer should show)", tls.fingerprint);
        let plain = match class::lan_addresses().first() {
            Some(ip) if addr.ip().is_unspecified() => SocketAddr::new(*ip, port),
            _ => local,
        };
        println!("  plain http works on the same port, for a browser that warns: http://{plain}/");
        if let Some((ca, ca_fingerprint)) = &tls.ca {
            println!("  class CA: {} (SHA-256 {ca_fingerprint}); students' browsers warn until it is installed", ca.display());
        }
    }
}

/// `classbook cert`: the class CA in `out` (made once) and this machine's certificate.
fn cert(out: &Path, names: &[String], ips: &[IpAddr]) -> Result<()> {
    let (names, ips) = classbook::tls::ca::this_machine(names, ips);
    let made = classbook::tls::ca::ensure(out, &names, &ips)?;
    let now = |new: bool| if new { "made now" } else { "already there" };
    println!("class CA: {} ({})", made.ca().display(), now(made.made_ca));
    println!("  SHA-256 {}", made.ca_fingerprint);
    println!("  install it once on every student machine (README: \"https or not\");");
    println!("  keep {} private: whoever has it can make certificates those machines trust", out.join(classbook::tls::ca::CA_KEY).display());
    let all: Vec<String> = names.iter().cloned().chain(ips.iter().map(IpAddr::to_string)).collect();
    println!("this machine's certificate: {} ({})", made.cert().display(), if made.made_cert { "made now" } else { "still good" });
    println!("  for {}", all.join(", "));
    println!("  SHA-256 {}", made.cert_fingerprint);
    println!(
        "serve with: classbook serve --bind 0.0.0.0:8080 --tls-cert {} --tls-key {}",
        made.cert().display(),
        made.key().display()
    );
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: telling students, stopping sandboxes, flushing the class database");
}
