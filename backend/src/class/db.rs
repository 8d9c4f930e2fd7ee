//! The class database: one SQLite file (WAL, migrations by `PRAGMA user_version`) holding
//! students and exercise attempts, used from one dedicated thread so no async task blocks on it.

use anyhow::{anyhow, bail, Context, Result};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Schema steps, applied in order; `PRAGMA user_version` says how many a file has.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE students (
        id INTEGER PRIMARY KEY,
        token TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        joined_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL
    );
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        student INTEGER NOT NULL REFERENCES students(id),
        lesson TEXT NOT NULL,
        cell TEXT NOT NULL,
        passed INTEGER NOT NULL,
        at_ms INTEGER NOT NULL
    );
    CREATE INDEX attempts_by_student ON attempts(student, lesson, cell);",
    // Issue 15: the teacher helps a student. Each student's latest code and last output per
    // cell (`class::work`), a raised hand, which lessons' solutions are hidden, and who opened
    // a solution (`class::solutions`).
    "CREATE TABLE work (
        student INTEGER NOT NULL REFERENCES students(id),
        lesson TEXT NOT NULL,
        cell TEXT NOT NULL,
        code TEXT NOT NULL,
        output TEXT NOT NULL DEFAULT '',
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (student, lesson, cell)
    );
    ALTER TABLE students ADD COLUMN hand_ms INTEGER;
    CREATE TABLE hidden_solutions (lesson TEXT PRIMARY KEY);
    CREATE TABLE solution_views (
        student INTEGER NOT NULL REFERENCES students(id),
        lesson TEXT NOT NULL,
        cell TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (student, lesson, cell)
    );",
];

/// The columns `student_row` reads, in its order.
const STUDENT: &str = "id, name, last_seen_ms, hand_ms";

fn student_row(r: &rusqlite::Row) -> rusqlite::Result<StudentRow> {
    Ok(StudentRow { id: r.get(0)?, name: r.get(1)?, last_seen_ms: r.get(2)?, hand_ms: r.get(3)? })
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

enum Msg {
    Job(Job),
    /// Checkpoint the WAL into the file and close; the sender learns when it is done.
    Close(tokio::sync::oneshot::Sender<Result<()>>),
}

/// Students seen within this long count towards the class size (a school day).
pub const ACTIVE_WINDOW_MS: i64 = 12 * 3600 * 1000;

/// A handle on the database thread. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    tx: mpsc::Sender<Msg>,
    /// The file, for messages (`None`: in memory).
    pub path: Option<PathBuf>,
}

/// A student as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StudentRow {
    pub id: i64,
    pub name: String,
    pub last_seen_ms: i64,
    /// When the student raised their hand (until the teacher answers).
    pub hand_ms: Option<i64>,
}

/// What a join (or an automatic registration) came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    Admitted(StudentRow),
    /// Already `max` students: a new one cannot join.
    Full(usize),
}

/// The best result of each (student, lesson, cell) tried at least once.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultRow {
    pub student: i64,
    pub lesson: String,
    pub cell: String,
    pub passed: bool,
    /// Checks made.
    pub attempts: u32,
    /// When the first passing check was made.
    pub first_pass_ms: Option<i64>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Db {
    /// Opens (or creates) the class database at `path`, refusing a file that is not a
    /// classbook database, is damaged, or is in use by another process: the error names the
    /// file and nothing in it is changed.
    pub fn open(path: &Path) -> Result<Db> {
        let conn = open_file(path).with_context(|| format!("cannot use the class database {}", path.display()))?;
        Ok(Db::run(conn, Some(path.to_path_buf())))
    }

    /// A database that lives only as long as the server (tests, or no data file wanted).
    pub fn in_memory() -> Db {
        let mut conn = Connection::open_in_memory().expect("an in-memory database opens");
        migrate(&mut conn).expect("migrations apply to an empty database");
        Db::run(conn, None)
    }

    fn run(mut conn: Connection, path: Option<PathBuf>) -> Db {
        let (tx, rx) = mpsc::channel::<Msg>();
        std::thread::Builder::new()
            .name("classbook-db".into())
            .spawn(move || {
                while let Ok(msg) = rx.recv() {
                    match msg {
                        Msg::Job(job) => job(&mut conn),
                        Msg::Close(done) => {
                            let _ = done.send(close(conn));
                            return;
                        }
                    }
                }
                let _ = close(conn);
            })
            .expect("the database thread starts");
        Db { tx, path }
    }

    /// Runs `f` on the database thread.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = done.send(f(conn));
        });
        self.tx.send(Msg::Job(job)).map_err(|_| anyhow!("the class database is closed"))?;
        let r = result.await.map_err(|_| anyhow!("the class database is closed"))?;
        r.map_err(|e| anyhow!("class database: {e}"))
    }

    /// Flushes the WAL into the file and closes it. Later calls fail.
    pub async fn close(&self) -> Result<()> {
        let (done, result) = tokio::sync::oneshot::channel();
        if self.tx.send(Msg::Close(done)).is_err() {
            return Ok(()); // already closed
        }
        result.await.unwrap_or(Ok(()))
    }

    /// A consistent copy of the whole database as one self-contained file's bytes, made with
    /// SQLite's online backup API on the database thread (other work waits the milliseconds
    /// it takes). The copy is in rollback-journal mode, so it opens without a `-wal` file.
    pub async fn backup(&self) -> Result<Vec<u8>> {
        self.call(|c| {
            let mut copy = Connection::open_in_memory()?;
            let done = rusqlite::backup::Backup::new(c, &mut copy)?.step(-1)?;
            if done != rusqlite::backup::StepResult::Done {
                return Err(rusqlite::Error::InvalidParameterName(format!("the backup stopped early ({done:?})")));
            }
            let mut bytes = copy.serialize(rusqlite::MAIN_DB)?.to_vec();
            // Header bytes 18 and 19 say "WAL" (2), copied from our file; 1 is a plain file.
            if bytes.len() >= 20 {
                bytes[18] = 1;
                bytes[19] = 1;
            }
            Ok(bytes)
        })
        .await
    }

    /// The student holding `token`, if they joined (or were registered) before.
    pub async fn student_by_token(&self, token: &str) -> Result<Option<StudentRow>> {
        let token = token.to_string();
        self.call(move |c| {
            c.query_row(&format!("SELECT {STUDENT} FROM students WHERE token = ?1"), [token], student_row).optional()
        })
        .await
    }

    /// Finds or adds the student holding `token`. `name`, when given, renames them.
    /// A student gets a name (joins) only while fewer than `max` named students were active in
    /// the last `ACTIVE_WINDOW_MS` (the same file serves class after class, so everyone ever
    /// stored must not count); an anonymous page (`name` None) takes no place.
    pub async fn admit(&self, token: &str, name: Option<&str>, max: usize) -> Result<Admission> {
        let (token, name) = (token.to_string(), name.map(str::to_string));
        self.call(move |c| {
            let tx = c.transaction()?;
            let now = now_ms();
            let found: Option<i64> =
                tx.query_row("SELECT id FROM students WHERE token = ?1", [&token], |r| r.get(0)).optional()?;
            // Only students with a name (who joined) take a place; anonymous pages do not.
            let full = |tx: &rusqlite::Transaction| -> rusqlite::Result<bool> {
                let count: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM students WHERE last_seen_ms > ?1 AND name <> ''",
                    [now - ACTIVE_WINDOW_MS],
                    |r| r.get(0),
                )?;
                Ok(count as usize >= max)
            };
            let id = match found {
                Some(id) => {
                    if let Some(name) = &name {
                        let unnamed: bool =
                            tx.query_row("SELECT name = '' FROM students WHERE id = ?1", [id], |r| r.get(0))?;
                        if unnamed && full(&tx)? {
                            return Ok(Admission::Full(max));
                        }
                        tx.execute("UPDATE students SET name = ?1, last_seen_ms = ?2 WHERE id = ?3", params![name, now, id])?;
                    }
                    id
                }
                None => {
                    if name.is_some() && full(&tx)? {
                        return Ok(Admission::Full(max));
                    }
                    tx.execute(
                        "INSERT INTO students (token, name, joined_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?3)",
                        params![token, name.as_deref().unwrap_or(""), now],
                    )?;
                    tx.last_insert_rowid()
                }
            };
            let row = tx.query_row(&format!("SELECT {STUDENT} FROM students WHERE id = ?1"), [id], student_row)?;
            tx.commit()?;
            Ok(Admission::Admitted(row))
        })
        .await
    }

    /// Notes that student `id` was active now.
    pub async fn touch(&self, id: i64) -> Result<()> {
        self.call(move |c| c.execute("UPDATE students SET last_seen_ms = ?1 WHERE id = ?2", params![now_ms(), id]).map(drop))
            .await
    }

    /// Stores one checked attempt at an exercise.
    pub async fn record_attempt(&self, student: i64, lesson: &str, cell: &str, passed: bool) -> Result<()> {
        let (lesson, cell) = (lesson.to_string(), cell.to_string());
        self.call(move |c| {
            let now = now_ms();
            c.execute(
                "INSERT INTO attempts (student, lesson, cell, passed, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![student, lesson, cell, passed, now],
            )?;
            c.execute("UPDATE students SET last_seen_ms = ?1 WHERE id = ?2", params![now, student])?;
            Ok(())
        })
        .await
    }

    /// Every student, in joining order.
    pub async fn students(&self) -> Result<Vec<StudentRow>> {
        self.call(|c| {
            let mut st = c.prepare(&format!("SELECT {STUDENT} FROM students ORDER BY id"))?;
            let rows = st.query_map([], student_row)?;
            rows.collect()
        })
        .await
    }

    /// The student with row `id`.
    pub async fn student(&self, id: i64) -> Result<Option<StudentRow>> {
        self.call(move |c| c.query_row(&format!("SELECT {STUDENT} FROM students WHERE id = ?1"), [id], student_row).optional())
            .await
    }

    /// Renames student `id`; false when there is no such student.
    pub async fn rename(&self, id: i64, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.call(move |c| c.execute("UPDATE students SET name = ?1 WHERE id = ?2", params![name, id]).map(|n| n == 1)).await
    }

    /// Raises (now) or lowers the hand of student `id`.
    pub async fn set_hand(&self, id: i64, raised: bool) -> Result<()> {
        let at = raised.then(now_ms);
        self.call(move |c| c.execute("UPDATE students SET hand_ms = ?1 WHERE id = ?2", params![at, id]).map(drop)).await
    }

    /// Removes student `id` and everything kept about them (attempts, work, solution views);
    /// their token no longer opens a session. False when there is no such student.
    pub async fn remove(&self, id: i64) -> Result<bool> {
        self.call(move |c| {
            let tx = c.transaction()?;
            for table in ["attempts", "work", "solution_views"] {
                tx.execute(&format!("DELETE FROM {table} WHERE student = ?1"), [id])?;
            }
            let n = tx.execute("DELETE FROM students WHERE id = ?1", [id])?;
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }

    /// Gives student `id` a new token (a restore on another machine, see `class::work`): the
    /// row that `token` had so far (an anonymous page, or a student who joined there a minute
    /// ago) is removed with what it kept, and `id`'s old token no longer opens a session.
    pub async fn move_to_token(&self, id: i64, token: &str) -> Result<StudentRow> {
        let token = token.to_string();
        self.call(move |c| {
            let tx = c.transaction()?;
            let other: Option<i64> =
                tx.query_row("SELECT id FROM students WHERE token = ?1", [&token], |r| r.get(0)).optional()?;
            if let Some(other) = other.filter(|o| *o != id) {
                for table in ["attempts", "work", "solution_views"] {
                    tx.execute(&format!("DELETE FROM {table} WHERE student = ?1"), [other])?;
                }
                tx.execute("DELETE FROM students WHERE id = ?1", [other])?;
            }
            tx.execute("UPDATE students SET token = ?1, last_seen_ms = ?2 WHERE id = ?3", params![token, now_ms(), id])?;
            let row = tx.query_row(&format!("SELECT {STUDENT} FROM students WHERE id = ?1"), [id], student_row)?;
            tx.commit()?;
            Ok(row)
        })
        .await
    }

    /// Forgets student `id`'s attempts at one exercise and their code of it (the teacher's
    /// "reset this exercise").
    pub async fn reset_exercise(&self, id: i64, lesson: &str, cell: &str) -> Result<()> {
        let (lesson, cell) = (lesson.to_string(), cell.to_string());
        self.call(move |c| {
            let tx = c.transaction()?;
            for table in ["attempts", "work"] {
                tx.execute(&format!("DELETE FROM {table} WHERE student = ?1 AND lesson = ?2 AND cell = ?3"), params![id, lesson, cell])?;
            }
            tx.commit()
        })
        .await
    }

    /// Each student's best result per exercise tried.
    pub async fn results(&self) -> Result<Vec<ResultRow>> {
        self.call(|c| {
            let mut st = c.prepare(
                "SELECT student, lesson, cell, MAX(passed), COUNT(*), MIN(CASE WHEN passed THEN at_ms END)
                 FROM attempts GROUP BY student, lesson, cell",
            )?;
            let rows = st.query_map([], |r| {
                Ok(ResultRow {
                    student: r.get(0)?,
                    lesson: r.get(1)?,
                    cell: r.get(2)?,
                    passed: r.get::<_, i64>(3)? != 0,
                    attempts: r.get(4)?,
                    first_pass_ms: r.get(5)?,
                })
            })?;
            rows.collect()
        })
        .await
    }
}

/// Opens the file, takes it for this process alone, and brings its schema up to date.
fn open_file(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    // Held for as long as the server runs: a second server on the same file is refused
    // instead of both writing to it.
    conn.busy_timeout(std::time::Duration::from_millis(500))?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| explain(e, path))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("cannot switch it to WAL mode (it stays in '{mode}' mode)");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(|e| explain(e, path))?;
    if check != "ok" {
        bail!("it is damaged ({check}); move it away to start a new class database");
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| explain(e, path))?;
    if version as usize > MIGRATIONS.len() {
        bail!(
            "it was made by a newer classbook (schema version {version}; this one knows {}): use that version, \
             or another --data file",
            MIGRATIONS.len()
        );
    }
    migrate(&mut conn).map_err(|e| explain(e, path))?;
    // In EXCLUSIVE locking mode a write lock, once taken, is kept until close.
    conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;").map_err(|e| explain(e, path))?;
    Ok(conn)
}

/// Turns SQLite's codes into what the teacher should do.
fn explain(e: rusqlite::Error, path: &Path) -> anyhow::Error {
    use rusqlite::ErrorCode::*;
    match e.sqlite_error_code() {
        Some(NotADatabase) => anyhow!(
            "it is not a SQLite database, or it is damaged ({e}); nothing was changed: move it away (or pass \
             another --data file) to start a new class database"
        ),
        Some(DatabaseBusy) | Some(DatabaseLocked) => anyhow!(
            "it is in use by another process (another classbook server?) ({e}); stop that process or pass \
             another --data file"
        ),
        Some(DatabaseCorrupt) => anyhow!("it is damaged ({e}); move it away to start a new class database"),
        _ => anyhow!("{e} ({})", path.display()),
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version as usize > MIGRATIONS.len() {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the file has schema version {version}, newer than this classbook knows ({}): use a newer classbook",
            MIGRATIONS.len()
        )));
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

fn close(conn: Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).optional()?;
    conn.close().map_err(|(_, e)| anyhow!("cannot close the class database: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("classbook-db-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("class.sqlite3")
    }

    #[tokio::test]
    async fn results_survive_a_reopen() {
        let path = temp("reopen");
        let db = Db::open(&path).unwrap();
        let Admission::Admitted(s) = db.admit("aa", Some("Li"), 5).await.unwrap() else { panic!() };
        db.record_attempt(s.id, "closures", "acc", false).await.unwrap();
        db.record_attempt(s.id, "closures", "acc", true).await.unwrap();
        db.close().await.unwrap();
        let db = Db::open(&path).unwrap();
        let results = db.results().await.unwrap();
        assert_eq!(results.len(), 1);
        let r = &results[0];
        assert_eq!((r.student, r.lesson.as_str(), r.cell.as_str(), r.passed, r.attempts), (s.id, "closures", "acc", true, 2));
        assert!(r.first_pass_ms.is_some());
        assert_eq!(db.admit("bb", Some("Wu"), 1).await.unwrap(), Admission::Full(1), "the place is still taken");
        // An anonymous page takes no place, and gets none by joining while the class is full.
        assert!(matches!(db.admit("cc", None, 1).await.unwrap(), Admission::Admitted(_)));
        assert_eq!(db.admit("cc", Some("Zhao"), 1).await.unwrap(), Admission::Full(1));
        db.close().await.unwrap();
    }

    #[tokio::test]
    async fn only_students_active_today_count_towards_the_class_size() {
        let db = Db::open(&temp("active")).unwrap();
        let Admission::Admitted(old) = db.admit("old", Some("Wang"), 1).await.unwrap() else { panic!() };
        assert_eq!(db.admit("new", Some("Zhao"), 1).await.unwrap(), Admission::Full(1));
        // Last week's student no longer holds a place, and keeps their row and id.
        let week_ago = now_ms() - 7 * 24 * 3600 * 1000;
        db.call(move |c| c.execute("UPDATE students SET last_seen_ms = ?1 WHERE id = ?2", params![week_ago, old.id])).await.unwrap();
        assert!(matches!(db.admit("new", Some("Zhao"), 1).await.unwrap(), Admission::Admitted(_)));
        let Admission::Admitted(again) = db.admit("old", None, 1).await.unwrap() else { panic!("a known token is never refused") };
        assert_eq!(again.id, old.id);
        db.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_class_file_of_the_first_schema_is_upgraded_and_keeps_its_students() {
        // A file as the first released schema left it: one student with an attempt.
        let path = temp("schema-1");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute("INSERT INTO students (token, name, joined_ms, last_seen_ms) VALUES ('tok', 'Li', 1, ?1)", params![now_ms()]).unwrap();
        conn.execute("INSERT INTO attempts (student, lesson, cell, passed, at_ms) VALUES (1, 'closures', 'acc', 1, 2)", []).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        drop(conn);
        let db = Db::open(&path).unwrap();
        let li = db.student_by_token("tok").await.unwrap().expect("the student is still there");
        assert_eq!((li.id, li.name.as_str()), (1, "Li"));
        // The new parts work on the old rows: a hand, kept work.
        db.set_hand(li.id, true).await.unwrap();
        assert!(db.work_of(li.id).await.unwrap().is_empty());
        db.close().await.unwrap();
        let conn = Connection::open(&path).unwrap();
        assert_eq!(conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(conn.query_row("SELECT count(*) FROM attempts", [], |r| r.get::<_, i64>(0)).unwrap(), 1);
    }

    #[tokio::test]
    async fn a_file_from_a_newer_classbook_is_refused_and_left_alone() {
        let path = temp("newer");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = format!("{:#}", Db::open(&path).err().expect("a newer schema must be refused"));
        assert!(err.contains("newer") && err.contains(&path.display().to_string()), "{err}");
        let conn = Connection::open(&path).unwrap();
        assert_eq!(conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).unwrap(), 99);
    }

    #[tokio::test]
    async fn a_backup_made_while_the_file_is_held_opens_on_its_own() {
        let path = temp("backup");
        let db = Db::open(&path).unwrap();
        let Admission::Admitted(s) = db.admit("aa", Some("Li"), 5).await.unwrap() else { panic!() };
        db.record_attempt(s.id, "closures", "acc", true).await.unwrap();
        let bytes = db.backup().await.unwrap();
        let copy = path.with_file_name("copy.sqlite3");
        std::fs::write(&copy, &bytes).unwrap();
        let conn = Connection::open_with_flags(&copy, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let name: String = conn.query_row("SELECT name FROM students", [], |r| r.get(0)).unwrap();
        assert_eq!(name, "Li");
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "delete");
        drop(conn);
        // The copy is a class database a new server can start from.
        db.close().await.unwrap();
        let restored = Db::open(&copy).unwrap();
        assert_eq!(restored.results().await.unwrap().len(), 1);
        restored.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_second_opener_is_refused_while_the_first_holds_the_file() {
        let path = temp("busy");
        let db = Db::open(&path).unwrap();
        let err = format!("{:#}", Db::open(&path).err().expect("a second open must fail"));
        assert!(err.contains(&path.display().to_string()) && err.contains("in use"), "{err}");
        db.close().await.unwrap();
        Db::open(&path).unwrap().close().await.unwrap();
    }
}
