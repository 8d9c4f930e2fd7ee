//! A student's work kept on the server: their latest code and last output per cell (bounded
//! per cell and per student), and the teacher's one-time restore codes that bring it back.

use super::db::{now_ms, Db};
use anyhow::Result;
use rusqlite::params;
use std::collections::HashMap;
use std::sync::Mutex;

/// The most code one cell may keep, in bytes of UTF-8; a larger edit is refused.
pub const MAX_CELL_CODE: usize = 64 * 1024;
/// The most output one cell keeps, in bytes: a longer output keeps its last part.
pub const MAX_CELL_OUTPUT: usize = 16 * 1024;
/// The most code and output one student may keep in all, in bytes.
pub const MAX_STUDENT_WORK: usize = 2 * 1024 * 1024;
/// How long a restore code the teacher made can be used.
pub const RESTORE_VALID_MS: i64 = 10 * 60 * 1000;
/// Restore codes waiting at once (one per student; the oldest goes first past this).
const MAX_RESTORE_CODES: usize = 256;

/// One cell's kept work.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CellWork {
    pub lesson: String,
    pub cell: String,
    pub code: String,
    pub output: String,
    pub at_ms: i64,
}

/// Why a save was refused (the page shows it, in the student's language where it can).
#[derive(Debug, PartialEq)]
pub enum Refused {
    CellTooLarge(usize),
    StudentFull,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::CellTooLarge(n) => write!(
                f,
                "your code of this cell ({} KiB) is larger than the server keeps ({} KiB): it is saved in this browser only",
                n / 1024,
                MAX_CELL_CODE / 1024
            ),
            Refused::StudentFull => write!(
                f,
                "the server keeps at most {} MiB of code and output per student, and yours is full: this cell is saved \
                 in this browser only (ask the teacher to reset an exercise you no longer need)",
                MAX_STUDENT_WORK / (1024 * 1024)
            ),
        }
    }
}

/// The last `max` bytes of `text`, cut at a character boundary.
pub fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

impl Db {
    /// Keeps `code` as student `id`'s latest code of `lesson`/`cell`, within the bounds.
    pub async fn save_code(&self, id: i64, lesson: &str, cell: &str, code: &str) -> Result<Result<(), Refused>> {
        if code.len() > MAX_CELL_CODE {
            return Ok(Err(Refused::CellTooLarge(code.len())));
        }
        self.save(id, lesson, cell, Some(code.to_string()), None).await
    }

    /// Keeps `output` (its last `MAX_CELL_OUTPUT` bytes) as the last output of the cell.
    pub async fn save_output(&self, id: i64, lesson: &str, cell: &str, output: &str) -> Result<Result<(), Refused>> {
        self.save(id, lesson, cell, None, Some(tail(output, MAX_CELL_OUTPUT).to_string())).await
    }

    async fn save(&self, id: i64, lesson: &str, cell: &str, code: Option<String>, output: Option<String>) -> Result<Result<(), Refused>> {
        let (lesson, cell) = (lesson.to_string(), cell.to_string());
        self.call(move |c| {
            let tx = c.transaction()?;
            // Bytes kept by the student's other cells, and by this one's part not replaced.
            let (others, kept): (i64, i64) = tx.query_row(
                "SELECT
                    COALESCE(SUM(CASE WHEN lesson = ?2 AND cell = ?3 THEN 0
                        ELSE length(CAST(code AS BLOB)) + length(CAST(output AS BLOB)) END), 0),
                    COALESCE(SUM(CASE WHEN lesson = ?2 AND cell = ?3 THEN
                        (CASE WHEN ?4 THEN 0 ELSE length(CAST(code AS BLOB)) END) +
                        (CASE WHEN ?5 THEN 0 ELSE length(CAST(output AS BLOB)) END) ELSE 0 END), 0)
                 FROM work WHERE student = ?1",
                params![id, lesson, cell, code.is_some(), output.is_some()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let new = code.as_ref().map_or(0, String::len) + output.as_ref().map_or(0, String::len);
            if (others + kept) as usize + new > MAX_STUDENT_WORK {
                return Ok(Err(Refused::StudentFull));
            }
            tx.execute(
                "INSERT INTO work (student, lesson, cell, code, output, at_ms) VALUES (?1, ?2, ?3, COALESCE(?4, ''), COALESCE(?5, ''), ?6)
                 ON CONFLICT (student, lesson, cell) DO UPDATE SET
                    code = COALESCE(?4, code), output = COALESCE(?5, output), at_ms = ?6",
                params![id, lesson, cell, code, output, now_ms()],
            )?;
            tx.commit()?;
            Ok(Ok(()))
        })
        .await
    }

    /// Everything student `id` keeps, by lesson and cell.
    pub async fn work_of(&self, id: i64) -> Result<Vec<CellWork>> {
        self.call(move |c| {
            let mut st = c.prepare("SELECT lesson, cell, code, output, at_ms FROM work WHERE student = ?1 ORDER BY lesson, cell")?;
            let rows = st.query_map([id], |r| {
                Ok(CellWork { lesson: r.get(0)?, cell: r.get(1)?, code: r.get(2)?, output: r.get(3)?, at_ms: r.get(4)? })
            })?;
            rows.collect()
        })
        .await
    }
}

/// One-time restore codes the teacher hands a student whose machine lost their work: joining
/// with one moves that student to the new page's token. Kept in memory only (10 minutes).
#[derive(Default)]
pub struct RestoreCodes(Mutex<HashMap<String, (i64, i64)>>);

impl RestoreCodes {
    /// A new code for student `id` (their earlier one, if any, no longer works).
    pub fn issue(&self, id: i64) -> String {
        let mut codes = self.0.lock().expect("restore codes poisoned");
        let now = now_ms();
        codes.retain(|_, (student, expires)| *student != id && *expires > now);
        if codes.len() >= MAX_RESTORE_CODES {
            if let Some(oldest) = codes.iter().min_by_key(|(_, (_, e))| *e).map(|(k, _)| k.clone()) {
                codes.remove(&oldest);
            }
        }
        // 8 decimal digits, from the kernel's random generator.
        let n = u64::from_str_radix(&super::random_hex(8), 16).expect("hex") % 100_000_000;
        let code = format!("{n:08}");
        codes.insert(code.clone(), (id, now + RESTORE_VALID_MS));
        code
    }

    /// The student a code restores, used up by this call; `None` for an unknown or old code.
    pub fn take(&self, code: &str) -> Option<i64> {
        let mut codes = self.0.lock().expect("restore codes poisoned");
        let (id, expires) = codes.remove(code.trim())?;
        (expires > now_ms()).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::db::Admission;

    async fn student(db: &Db, token: &str) -> i64 {
        let Admission::Admitted(s) = db.admit(token, Some("Li"), 60).await.unwrap() else { panic!() };
        s.id
    }

    #[tokio::test]
    async fn code_is_kept_per_cell_and_bounded_per_cell_and_per_student() {
        let db = Db::in_memory();
        let li = student(&db, "aaaaaaaaaaaaaaaa").await;
        db.save_code(li, "closures", "acc", "x = 1").await.unwrap().unwrap();
        db.save_code(li, "closures", "acc", "x = 2").await.unwrap().unwrap();
        db.save_output(li, "closures", "acc", &format!("{}END", "y".repeat(MAX_CELL_OUTPUT))).await.unwrap().unwrap();
        let work = db.work_of(li).await.unwrap();
        assert_eq!(work.len(), 1, "one row per cell: {work:?}");
        assert_eq!(work[0].code, "x = 2");
        assert_eq!(work[0].output.len(), MAX_CELL_OUTPUT, "the output keeps its last part");
        assert!(work[0].output.ends_with("END"));
        // One cell's code over 64 KiB is refused, and what was kept stays.
        let big = "#".repeat(MAX_CELL_CODE + 1);
        assert_eq!(db.save_code(li, "closures", "acc", &big).await.unwrap(), Err(Refused::CellTooLarge(big.len())));
        assert_eq!(db.work_of(li).await.unwrap()[0].code, "x = 2");
        // Filling the student's 2 MiB: the cell that would pass it is refused, with a reason.
        let full = "#".repeat(MAX_CELL_CODE);
        let mut saved = 0;
        let refused = loop {
            match db.save_code(li, "l", &format!("c{saved}"), &full).await.unwrap() {
                Ok(()) => saved += 1,
                Err(e) => break e,
            }
            assert!(saved < 100, "never refused");
        };
        assert_eq!(refused, Refused::StudentFull);
        assert!(refused.to_string().contains("2 MiB"), "{refused}");
        assert_eq!(saved, (MAX_STUDENT_WORK - "x = 2".len() - MAX_CELL_OUTPUT) / MAX_CELL_CODE);
        // Replacing a kept cell with smaller code still works when full; another student is
        // not affected.
        db.save_code(li, "l", "c0", "small").await.unwrap().unwrap();
        let wu = student(&db, "bbbbbbbbbbbbbbbb").await;
        db.save_code(wu, "l", "c0", &full).await.unwrap().unwrap();
        // The teacher's reset forgets a cell's code; removing the student forgets everything.
        db.reset_exercise(li, "closures", "acc").await.unwrap();
        assert!(db.work_of(li).await.unwrap().iter().all(|w| w.cell != "acc"));
        assert!(db.remove(li).await.unwrap());
        assert!(db.work_of(li).await.unwrap().is_empty());
        assert_eq!(db.work_of(wu).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_restore_code_works_once_and_moves_the_student_to_the_new_token() {
        let db = Db::in_memory();
        let li = student(&db, "aaaaaaaaaaaaaaaa").await;
        db.save_code(li, "closures", "acc", "mine").await.unwrap().unwrap();
        let codes = RestoreCodes::default();
        let first = codes.issue(li);
        let code = codes.issue(li);
        assert_eq!(code.len(), 8);
        assert_eq!(codes.take(&first), None, "a newer code replaces the older one");
        assert_eq!(codes.take("00000000"), None);
        assert_eq!(codes.take(&code), Some(li));
        assert_eq!(codes.take(&code), None, "a code works once");
        let row = db.move_to_token(li, "cccccccccccccccc").await.unwrap();
        assert_eq!(row.id, li);
        assert_eq!(db.student_by_token("cccccccccccccccc").await.unwrap().map(|s| s.id), Some(li));
        assert_eq!(db.student_by_token("aaaaaaaaaaaaaaaa").await.unwrap(), None, "the old token is gone");
        assert_eq!(db.work_of(li).await.unwrap()[0].code, "mine");
    }
}
