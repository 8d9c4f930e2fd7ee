//! The `classbook` command: `serve` runs the class server, `check-course` validates lessons,
//! `tftpd` runs the TFTP server alone (for a LAN).

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use classbook::{app::App, class, course::Course, sandbox};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "classbook", version, about = "An interactive Python course for a classroom, from one binary")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
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

impl LimitFlags {
    fn apply(&self, limits: &mut sandbox::Limits) {
        limits.cpu_secs = self.cpu_secs;
        limits.wall_secs = self.wall_secs;
        limits.memory_bytes = self.memory_mib << 20;
        limits.nproc = self.max_procs;
        limits.work_bytes = self.work_mib << 20;
        limits.output_bytes = self.output_kib << 10;
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
        Cmd::Serve { bind, course, unsafe_no_sandbox, config: _, class, limits } => {
            serve(bind, course, unsafe_no_sandbox, class, limits).await
        }
        Cmd::CheckCourse { dir, json } => check_course(&dir, json),
        Cmd::Tftpd { root, listen, allow_write } => classbook_tftp::run_tftpd(root, listen, allow_write).await,
    }
}

/// The command line, with the settings file's values for what flags and environment left
/// at their defaults.
fn parse_cli() -> Result<Cli> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = Cli::command().get_matches_from(&args);
    if let Some(("serve", given)) = matches.subcommand() {
        if let Some(file) = given.get_one::<PathBuf>("config") {
            let cmd = Cli::command();
            let serve = cmd.find_subcommand("serve").expect("serve exists");
            args.extend(class::config::file_args(file, serve, given)?);
        }
    }
    let matches = Cli::command().try_get_matches_from(&args).unwrap_or_else(|e| e.exit());
    Ok(Cli::from_arg_matches(&matches)?)
}

fn load_course(dir: Option<&std::path::Path>) -> Result<Course> {
    Course::load(dir).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        anyhow::anyhow!("the course has {} problem(s); nothing was served", errors.len())
    })
}

fn check_course(dir: &std::path::Path, json: bool) -> Result<()> {
    let course = load_course(Some(dir))?;
    if json {
        println!("{}", serde_json::to_string_pretty(course.lessons())?);
    } else {
        println!("{}: {} lessons, all valid", dir.display(), course.lessons().len());
    }
    Ok(())
}

async fn serve(
    bind: SocketAddr,
    course_dir: Option<PathBuf>,
    unsafe_no_sandbox: bool,
    flags: ClassFlags,
    limits: LimitFlags,
) -> Result<()> {
    let allowed_origins = flags
        .allowed_origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .map(|o| classbook::http::origin::normalize(o).map_err(|e| anyhow::anyhow!("--allowed-origin: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let course = load_course(course_dir.as_deref())?;
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
    let mut app = App::new(course, sandbox);
    app.run_slots = classbook::run::Slots::new(limits.max_runs);
    app.runs_per_student = limits.runs_per_student;
    app.class.db = db;
    app.class.access_code = flags.access_code.filter(|c| !c.is_empty());
    app.class.max_students = flags.max_students;
    app.class.title = flags.title;
    app.allowed_origins = allowed_origins;
    if let Some(token) = flags.teacher_token {
        anyhow::ensure!(token.len() >= 8, "--teacher-token must have at least 8 characters");
        app.class.teacher_token = token;
    }
    let app = std::sync::Arc::new(app);
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    banner(&app, addr, lessons, &flags.data);
    if let Some(dir) = course_dir.filter(|d| d.is_dir()) {
        class::watch::spawn(app.clone(), dir);
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(classbook::serve(listener, app.clone(), async move {
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

/// What the teacher needs at start: where students go, and the teacher page.
fn banner(app: &App, addr: SocketAddr, lessons: usize, data: &std::path::Path) {
    println!("classbook: serving {lessons} lessons on http://{addr}/ (class data: {})", data.display());
    let port = addr.port();
    let local = if addr.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], port)) } else { addr };
    if addr.ip().is_unspecified() {
        let lan = class::lan_addresses();
        if lan.is_empty() {
            println!("  no LAN address found on this machine's interfaces");
        }
        for ip in lan {
            println!("  students open: http://{}/", SocketAddr::new(ip, port));
        }
    } else if addr.ip().is_loopback() {
        println!("  only this machine can connect; use --bind 0.0.0.0:{port} to let the class in");
    }
    if let Some(code) = &app.class.access_code {
        println!("  access code: {code}");
    }
    println!("  teacher page: http://{local}/#/teacher?token={}", app.class.teacher_token);
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: telling students, stopping sandboxes, flushing the class database");
}
