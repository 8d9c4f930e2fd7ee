//! Backups of the class database while it is served (the file is held exclusively): the copy's
//! file name, and `classbook backup`, which fetches `GET /api/teacher/backup` and writes it atomically.

use anyhow::{anyhow, bail, Context, Result};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The path of the backup endpoint, under the server's address.
pub const PATH: &str = "/api/teacher/backup";

/// `classbook-backup-2026-12-07T140501Z.sqlite3`: the copy's name, dated in UTC.
pub fn file_name(at: SystemTime) -> String {
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rest) = ((secs / 86400) as i64, secs % 86400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil, inverted).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rest / 3600, rest / 60 % 60, rest % 60);
    format!("classbook-backup-{year:04}-{month:02}-{day:02}T{h:02}{m:02}{s:02}Z.sqlite3")
}

/// Fetches a copy from the classbook serving at `url` (`http://host:port`) with the teacher's
/// token, checks it is a class database, and writes it to `out` (through a temporary file and a
/// rename, readable by its owner only: it holds the students' tokens). Returns the number of
/// students in it and its size.
pub async fn fetch(url: &str, token: &str, out: &Path) -> Result<(i64, usize)> {
    if token.is_empty() || token.chars().any(char::is_control) {
        bail!("--token must be the teacher's token (printed by `classbook serve` in the teacher page's address)");
    }
    let (status, body) = get(url, PATH, token).await?;
    match status {
        200 => {}
        401 => bail!("{url} refused the token: use the teacher's token (the `token=` of the teacher page's address)"),
        404 => bail!("{url} has no {PATH}: is it a classbook server of this version or later?"),
        _ => bail!("{url} answered {status}: {}", String::from_utf8_lossy(&body).trim()),
    }
    let students = students_in(&body).with_context(|| format!("{url} did not send a class database"))?;
    write_atomically(out, &body).with_context(|| format!("cannot write {}", out.display()))?;
    Ok((students, body.len()))
}

/// How many students a database copy holds (it is opened in memory, never on disk).
fn students_in(bytes: &[u8]) -> Result<i64> {
    if !bytes.starts_with(b"SQLite format 3\0") {
        bail!("the answer is not a SQLite file");
    }
    let mut conn = rusqlite::Connection::open_in_memory()?;
    conn.deserialize_read_exact(rusqlite::MAIN_DB, bytes, bytes.len(), true)?;
    Ok(conn.query_row("SELECT COUNT(*) FROM students", [], |r| r.get(0))?)
}

fn write_atomically(out: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = out.file_name().ok_or_else(|| std::io::Error::other("--out must name a file"))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, out)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// One `GET` over HTTP/1.1 (the server is ours: it answers with a Content-Length and closes).
async fn get(url: &str, path: &str, token: &str) -> Result<(u16, Vec<u8>)> {
    let host = url
        .strip_prefix("http://")
        .map(|h| h.trim_end_matches('/'))
        .filter(|h| !h.is_empty() && !h.contains('/'))
        .ok_or_else(|| anyhow!("--url must be the server's http:// address, e.g. http://127.0.0.1:8080, not {url}"))?;
    let addr = if host.ends_with(']') || !host.contains(':') { format!("{host}:80") } else { host.to_string() };
    let mut tcp = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(&addr))
        .await
        .map_err(|_| anyhow!("{url} did not answer within 10 s"))?
        .with_context(|| format!("cannot reach {url} (is `classbook serve` running there?)"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(300), tcp.read_to_end(&mut raw))
        .await
        .map_err(|_| anyhow!("{url} did not finish its answer within 5 minutes"))??;
    parse_answer(&raw).with_context(|| format!("unexpected answer from {url}"))
}

fn parse_answer(raw: &[u8]) -> Result<(u16, Vec<u8>)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| anyhow!("no HTTP header"))?;
    let head = std::str::from_utf8(&raw[..end])?;
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok());
    let status = status.ok_or_else(|| anyhow!("no HTTP status"))?;
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .ok_or_else(|| anyhow!("no Content-Length"))?;
    if body.len() < length {
        bail!("the answer was cut short ({} of {length} bytes)", body.len());
    }
    Ok((status, body[..length].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dated_in_utc() {
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(file_name(at(0)), "classbook-backup-1970-01-01T000000Z.sqlite3");
        assert_eq!(file_name(at(951_782_400 + 3661)), "classbook-backup-2000-02-29T010101Z.sqlite3");
        assert_eq!(file_name(at(1_798_761_599)), "classbook-backup-2026-12-31T235959Z.sqlite3");
    }

    #[test]
    fn answers_are_read_by_their_length() {
        let (status, body) = parse_answer(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc").unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"abc"[..]));
        let short = parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc").unwrap_err();
        assert!(short.to_string().contains("cut short"), "{short}");
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\n\r\nabc").is_err());
    }

    #[test]
    fn a_file_is_written_whole_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("classbook-backup-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("class.sqlite3");
        write_atomically(&out, b"copy").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"copy");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(write_atomically(&dir.join("missing/class.sqlite3"), b"copy").is_err());
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["class.sqlite3"], "no temporary file is left");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
