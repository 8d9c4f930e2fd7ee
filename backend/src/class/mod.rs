//! The class: who joined (students by token, in the class database), the teacher's token,
//! the access code and class size, exercise progress, rate limits, and course reloading.

/// Copies of the class database while it is served, and `classbook backup`.
pub mod backup;
/// The TOML settings file of `serve`.
pub mod config;
/// The SQLite file: students and exercise attempts.
pub mod db;
/// The teacher's grid of students × exercises, JSON and CSV.
pub mod progress;
/// Token buckets for per-student (and per-class) limits.
pub mod rate;
/// Hidden solutions per lesson, and who opened a solution.
pub mod solutions;
/// Reloading the course directory when a lesson file changes.
pub mod watch;
/// Each student's latest code and output per cell, and restore codes.
pub mod work;

use db::{Admission, Db, StudentRow};
use shared::wire::Refusal;
use std::net::IpAddr;
use std::sync::Mutex;

/// Students a class may hold, by default.
pub const MAX_STUDENTS: usize = 60;
/// Longest display name, in characters.
pub const MAX_NAME: usize = 40;
/// New students one client address may bring: 10 at once, then one every 30 s.
pub const NEW_STUDENTS_PER_ADDRESS: rate::Rate = rate::Rate { burst: 10.0, per_sec: 1.0 / 30.0 };

pub struct Class {
    pub db: Db,
    /// When set, students must join with this code before their session opens.
    pub access_code: Option<String>,
    pub max_students: usize,
    /// What `Authorization: Bearer` must carry on every teacher endpoint.
    pub teacher_token: String,
    /// Shown on the join page.
    pub title: String,
    /// The language pages use unless their student chose one (`None`: the browser's).
    pub lang: Option<String>,
    /// Problems of the last course reload that failed (empty once the course is valid again).
    pub course_errors: Mutex<Vec<crate::course::Problem>>,
    /// Runs a student may start: a burst, then this many a second.
    pub run_rate: rate::Rate,
    /// Messages a student may send (input, presence, results...): a burst, then a rate.
    pub message_rate: rate::Rate,
    /// Wrong access codes one client address may send (against guessing): when they are used
    /// up, every code from that address is refused for a moment, the right one too, so
    /// guessing learns nothing; other machines are not affected.
    pub wrong_codes: rate::PerAddress,
    /// New students (tokens the class has not seen) one client address may bring: joins, and
    /// pages that connect without joining. A stranger cannot fill the class from one machine.
    pub new_students: rate::PerAddress,
    /// One-time codes the teacher gives a student to take their work to another machine.
    pub restore_codes: work::RestoreCodes,
}

/// Why a join was refused (`said` words it; the HTTP route gives each its status).
#[derive(Debug, PartialEq)]
pub enum JoinError {
    BadRequest(BadJoin),
    WrongCode,
    /// The restore code is unknown, used or older than 10 minutes.
    WrongRestoreCode,
    /// Too many wrong codes lately (someone guessing): wait and try again.
    TooManyTries,
    Full(usize),
    /// Too many new students from this address lately.
    TooManyNew,
    Failed(String),
}

/// What is wrong with a join request's token or name.
#[derive(Debug, PartialEq)]
pub enum BadJoin {
    Token,
    NoName,
    NameTooLong,
    NameControl,
}

impl JoinError {
    /// What the joining page reads, in `lang`.
    pub fn said(&self, lang: shared::lang::Lang) -> String {
        match self {
            JoinError::BadRequest(BadJoin::Token) => lang.pick("令牌必须是 16 到 64 个十六进制数字", "the token must be 16 to 64 hexadecimal digits").into(),
            JoinError::BadRequest(BadJoin::NoName) => lang.pick("请输入名字", "enter a name").into(),
            JoinError::BadRequest(BadJoin::NameTooLong) => {
                lang.pick(format!("名字超过了 {MAX_NAME} 个字符"), format!("the name is longer than {MAX_NAME} characters"))
            }
            JoinError::BadRequest(BadJoin::NameControl) => lang.pick("名字里有控制字符", "the name has control characters").into(),
            JoinError::WrongCode => lang.pick("访问码不对", "wrong access code").into(),
            JoinError::WrongRestoreCode => lang
                .pick(
                    "恢复码不存在、已经用过或超过了 10 分钟：请向老师要一个新的",
                    "the restore code is unknown, used, or older than 10 minutes: ask the teacher for a new one",
                )
                .into(),
            JoinError::TooManyTries => lang
                .pick("这台机器输错访问码的次数太多：请等几秒再试", "too many wrong access codes from this machine: wait a few seconds and try again")
                .into(),
            JoinError::TooManyNew => {
                lang.pick("这台机器加入的新学生太多：请等一分钟再试", "too many new students from this machine: wait a minute and try again").into()
            }
            JoinError::Full(n) => lang.pick(format!("班级已满（{n} 名学生）"), format!("the class is full ({n} students)")),
            JoinError::Failed(why) => lang.pick(format!("服务器出错：{why}"), format!("the server failed: {why}")),
        }
    }
}

impl Class {
    /// The class's language (`--lang`), else the course's first: what the server says to a
    /// page that has not named one, and to the teacher's terminal.
    pub fn default_lang(&self) -> shared::lang::Lang {
        self.lang.as_deref().map(shared::lang::Lang::from_code).unwrap_or_default()
    }

    /// A class with no access code, 60 students at most, a fresh teacher token and an
    /// in-memory database (the server's `serve` opens a file instead).
    pub fn new(db: Db) -> Class {
        Class {
            db,
            access_code: None,
            max_students: MAX_STUDENTS,
            teacher_token: random_hex(16),
            title: "classbook".into(),
            lang: None,
            course_errors: Mutex::default(),
            run_rate: rate::Rate { burst: 60.0, per_sec: 5.0 },
            message_rate: rate::Rate { burst: 400.0, per_sec: 100.0 },
            wrong_codes: rate::PerAddress::new(rate::Rate { burst: 20.0, per_sec: 1.0 }),
            new_students: rate::PerAddress::new(NEW_STUDENTS_PER_ADDRESS),
            restore_codes: Default::default(),
        }
    }

    /// A student joining from the page: checks the code, the name and the room left.
    /// Joining again with the same token renames the student and keeps everything else.
    ///
    /// With `restore` (a code the teacher made for a student), this page becomes that student,
    /// with their name and everything the server kept of their work (see README, "Helping a
    /// student"); the name typed is not used. A wrong restore code counts as a wrong access code.
    pub async fn join(
        &self,
        from: IpAddr,
        token: &str,
        name: &str,
        code: Option<&str>,
        restore: Option<&str>,
    ) -> Result<StudentRow, JoinError> {
        if !valid_token(token) {
            return Err(JoinError::BadRequest(BadJoin::Token));
        }
        let name = name.trim();
        if name.is_empty() {
            return Err(JoinError::BadRequest(BadJoin::NoName));
        }
        if name.chars().count() > MAX_NAME {
            return Err(JoinError::BadRequest(BadJoin::NameTooLong));
        }
        if name.chars().any(char::is_control) {
            return Err(JoinError::BadRequest(BadJoin::NameControl));
        }
        if let Some(expected) = &self.access_code {
            if !self.wrong_codes.available(from) {
                return Err(JoinError::TooManyTries);
            }
            if !constant_time_eq(code.unwrap_or("").as_bytes(), expected.as_bytes()) {
                self.wrong_codes.take(from);
                return Err(JoinError::WrongCode);
            }
        }
        if let Some(restore) = restore.filter(|r| !r.trim().is_empty()) {
            return self.restore(from, token, restore).await;
        }
        match self.db.student_by_token(token).await {
            Ok(Some(_)) => {}
            Ok(None) if !self.new_students.take(from) => return Err(JoinError::TooManyNew),
            Ok(None) => {}
            Err(e) => return Err(JoinError::Failed(format!("{e:#}"))),
        }
        match self.db.admit(token, Some(name), self.max_students).await {
            Ok(Admission::Admitted(row)) => Ok(row),
            Ok(Admission::Full(n)) => Err(JoinError::Full(n)),
            Err(e) => Err(JoinError::Failed(format!("{e:#}"))),
        }
    }

    async fn restore(&self, from: IpAddr, token: &str, restore: &str) -> Result<StudentRow, JoinError> {
        if !self.wrong_codes.available(from) {
            return Err(JoinError::TooManyTries);
        }
        let Some(id) = self.restore_codes.take(restore) else {
            self.wrong_codes.take(from);
            return Err(JoinError::WrongRestoreCode);
        };
        self.db.move_to_token(id, token).await.map_err(|e| JoinError::Failed(format!("{e:#}")))
    }

    /// The student a session connects as: someone who joined, or (with no access code) an
    /// anonymous student, who takes no place in the class until they join (and of whom one
    /// address may bring only a few). `Err` is what the page is told before the socket closes.
    pub async fn admit_session(&self, from: IpAddr, token: &str) -> Result<StudentRow, Refusal> {
        let failed = |e: anyhow::Error| Refusal::Failed { message: format!("{e:#}") };
        if let Some(row) = self.db.student_by_token(token).await.map_err(failed)? {
            return Ok(row);
        }
        if self.access_code.is_some() {
            return Err(Refusal::JoinFirst);
        }
        if !self.new_students.take(from) {
            return Err(Refusal::TooManyNew);
        }
        match self.db.admit(token, None, self.max_students).await.map_err(failed)? {
            Admission::Admitted(row) => Ok(row),
            Admission::Full(n) => Err(Refusal::ClassFull { students: n }),
        }
    }

    /// Whether `presented` is the teacher's token (in constant time).
    pub fn is_teacher(&self, presented: &str) -> bool {
        constant_time_eq(presented.as_bytes(), self.teacher_token.as_bytes())
    }
}

/// A token the page may keep: 16 to 64 hex digits.
pub fn valid_token(t: &str) -> bool {
    (16..=64).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A short tag that names a token in logs without revealing it: the first 6 hex digits of its
/// SHA-256. A log reader can tell two pages apart, and cannot connect as either.
pub fn token_tag(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())[..3].iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets without an early exit on the first difference (the length of the
/// expected secret is not hidden, only its content).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for (i, byte) in b.iter().enumerate() {
        diff |= a.get(i).copied().unwrap_or(0) ^ byte;
    }
    std::hint::black_box(diff) == 0
}

/// This machine's non-loopback IPv4 addresses (for the LAN URLs students open).
pub fn lan_addresses() -> Vec<std::net::IpAddr> {
    let mut out = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, which we walk read-only and free once.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return out;
        }
        let mut at = list;
        while !at.is_null() {
            let ifa = &*at;
            if !ifa.ifa_addr.is_null() && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() && !out.contains(&ip.into()) {
                    out.push(ip.into());
                }
            }
            at = ifa.ifa_next;
        }
        libc::freeifaddrs(list);
    }
    out
}

/// `bytes` random bytes from the kernel's CSPRNG, as hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: getrandom writes at most the remaining length into our buffer.
        let n = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        assert!(n > 0, "getrandom failed: {}", std::io::Error::last_os_error());
        filled += n as usize;
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_tag_is_six_hex_digits_of_its_sha256() {
        // SHA-256("abc") = ba7816bf…
        assert_eq!(token_tag("abc"), "ba7816");
        assert_ne!(token_tag("0123456789abcdef0"), token_tag("0123456789abcdef1"));
    }

    #[test]
    fn secrets_compare_by_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
    }

    #[tokio::test]
    async fn joining_checks_name_code_and_size() {
        let mut class = Class::new(Db::in_memory());
        class.access_code = Some("1234".into());
        class.max_students = 1;
        let t1 = "0123456789abcdef";
        let me = ip(1);
        assert!(matches!(class.join(me, t1, " ", Some("1234"), None).await, Err(JoinError::BadRequest(_))));
        assert!(matches!(class.join(me, t1, &"x".repeat(41), Some("1234"), None).await, Err(JoinError::BadRequest(_))));
        assert!(matches!(class.join(me, "zz", "Li", Some("1234"), None).await, Err(JoinError::BadRequest(_))));
        assert_eq!(class.join(me, t1, "Li", Some("123"), None).await, Err(JoinError::WrongCode));
        assert_eq!(class.join(me, t1, "Li", None, None).await, Err(JoinError::WrongCode));
        let first = class.join(me, t1, "Li", Some("1234"), None).await.unwrap();
        let again = class.join(me, t1, "Li Lei", Some("1234"), None).await.unwrap();
        assert_eq!((again.id, again.name.as_str()), (first.id, "Li Lei"));
        assert_eq!(class.join(me, "fedcba9876543210", "Han", Some("1234"), None).await, Err(JoinError::Full(1)));
        assert_eq!(class.admit_session(me, "fedcba9876543210").await, Err(Refusal::JoinFirst));
        assert_eq!(class.admit_session(me, t1).await.unwrap().id, first.id);
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, n))
    }

    #[tokio::test]
    async fn a_stranger_guessing_codes_never_locks_out_a_student_on_another_machine() {
        let mut class = Class::new(Db::in_memory());
        class.access_code = Some("right-code".into());
        for i in 0..200 {
            let _ = class.join(ip(66), &format!("{i:016x}"), "guess", Some("wrong"), None).await;
        }
        assert_eq!(class.join(ip(66), "aaaaaaaaaaaaaaaa", "x", Some("right-code"), None).await, Err(JoinError::TooManyTries));
        let ok = class.join(ip(7), "bbbbbbbbbbbbbbbb", "Mei", Some("right-code"), None).await;
        assert_eq!(ok.unwrap().name, "Mei", "the right code from another machine must work");
    }

    #[tokio::test]
    async fn pages_that_never_joined_take_no_place_and_one_address_brings_few_new_students() {
        let mut class = Class::new(Db::in_memory());
        class.max_students = 3;
        // A stranger opens many sessions with random tokens: a few are admitted as anonymous,
        // then their address is refused; none of them takes a place in the class.
        let mut admitted = 0;
        for i in 0..60 {
            match class.admit_session(ip(66), &format!("{i:016x}")).await {
                Ok(_) => admitted += 1,
                Err(r) => assert_eq!(r, Refusal::TooManyNew),
            }
        }
        assert_eq!(admitted, NEW_STUDENTS_PER_ADDRESS.burst as usize);
        for (n, name) in ["An", "Bo", "Cai"].iter().enumerate() {
            let joined = class.join(ip(10 + n as u8), &format!("{:016x}", 1000 + n), name, None, None).await;
            assert_eq!(joined.unwrap().name, *name, "a real student must get in");
        }
        assert_eq!(class.join(ip(20), "cccccccccccccccc", "Dan", None, None).await, Err(JoinError::Full(3)));
        // An anonymous page that joins now would take a place: the class is full.
        assert_eq!(class.join(ip(66), &format!("{:016x}", 0), "Eve", None, None).await, Err(JoinError::Full(3)));
    }
}
