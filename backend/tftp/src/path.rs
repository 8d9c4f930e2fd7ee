//! Files under the server's directories: confines requested names (no `..`, absolute paths,
//! backslashes, NUL, control characters, symlinks out), opens reads, and stages uploads.

use crate::packet::ErrorCode;
use crate::transfer::TransferError;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const MAX_NAME: usize = 1024;

fn refuse(reason: impl Into<String>) -> TransferError {
    TransferError::local(ErrorCode::ACCESS_VIOLATION, reason)
}

/// Lexical checks on a requested name, before the file system is asked anything.
pub(crate) fn check_name(name: &str) -> Result<(), TransferError> {
    let reason = if name.is_empty() {
        "empty filename"
    } else if name.len() > MAX_NAME {
        "filename too long"
    } else if name.contains('\0') {
        "NUL in filename"
    } else if name.contains('\\') {
        "backslash in filename"
    } else if name.starts_with('/') {
        "absolute paths are not allowed"
    } else if name.ends_with('/') {
        "filename names a directory"
    } else if name.split('/').any(|part| part == "..") {
        "'..' is not allowed in filenames"
    } else if name.chars().any(char::is_control) {
        "control character in filename"
    } else {
        return Ok(());
    };
    Err(refuse(reason))
}

/// Maps a file-system error on a requested file to the ERROR the peer gets.
fn io_refusal(error: io::Error) -> TransferError {
    match error.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
            TransferError::local(ErrorCode::FILE_NOT_FOUND, "File not found")
        }
        io::ErrorKind::PermissionDenied => refuse("permission denied"),
        _ if error.raw_os_error() == Some(libc::ELOOP) => refuse("symbolic link refused"),
        _ => TransferError::local(ErrorCode::NOT_DEFINED, error.to_string()),
    }
}

/// Resolves `name` under `root` (canonical) and opens it for reading; returns the file and its size.
pub(crate) fn open_read(root: &Path, name: &str) -> Result<(File, u64), TransferError> {
    check_name(name)?;
    let canonical = root.join(name).canonicalize().map_err(io_refusal)?;
    if !canonical.starts_with(root) {
        return Err(refuse("path leads outside the server root"));
    }
    // canonical has no symlinks left; O_NOFOLLOW refuses one swapped in since, O_NONBLOCK
    // keeps a FIFO from blocking the open.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&canonical)
        .map_err(io_refusal)?;
    let meta = file.metadata().map_err(io_refusal)?;
    if !meta.is_file() {
        return Err(refuse("not a regular file"));
    }
    Ok((file, meta.len()))
}

/// An upload being written to a hidden temporary file next to its target; removed on drop
/// unless committed.
pub(crate) struct Upload {
    temp: PathBuf,
    target: PathBuf,
    overwrite: bool,
    committed: bool,
}

impl Upload {
    /// Checks `name` under `dir` (canonical) and creates the temporary file.
    pub fn create(dir: &Path, name: &str, overwrite: bool, tag: u64) -> Result<(Upload, File), TransferError> {
        check_name(name)?;
        let joined = dir.join(name);
        let (Some(parent), Some(file_name)) = (joined.parent(), joined.file_name()) else {
            return Err(refuse("not a file name"));
        };
        let parent = parent.canonicalize().map_err(|_| refuse("no such directory for uploads"))?;
        if !parent.starts_with(dir) {
            return Err(refuse("path leads outside the upload directory"));
        }
        let target = parent.join(file_name);
        match std::fs::symlink_metadata(&target) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(refuse("target is a symbolic link")),
            Ok(_) if !overwrite => return Err(exists()),
            Ok(meta) if !meta.is_file() => return Err(refuse("target is not a regular file")),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_refusal(e)),
        }
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(".part-{}-{tag}", std::process::id()));
        let temp = parent.join(temp_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)
            .map_err(io_refusal)?;
        Ok((Upload { temp, target, overwrite, committed: false }, file))
    }

    /// Moves the finished file into place; without overwrite, a file that appeared meanwhile
    /// wins. Returns the size of the file it replaced, if any.
    pub fn commit(mut self) -> Result<Option<u64>, TransferError> {
        let mut replaced = None;
        if self.overwrite {
            replaced = std::fs::symlink_metadata(&self.target).ok().filter(|m| m.is_file()).map(|m| m.len());
            std::fs::rename(&self.temp, &self.target).map_err(io_refusal)?;
        } else {
            std::fs::hard_link(&self.temp, &self.target).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => exists(),
                _ => io_refusal(e),
            })?;
            let _ = std::fs::remove_file(&self.temp);
        }
        self.committed = true;
        Ok(replaced)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

fn exists() -> TransferError {
    TransferError::local(ErrorCode::FILE_EXISTS, "File already exists")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: Result<(), TransferError>) -> Option<u16> {
        match result {
            Ok(()) => None,
            Err(TransferError::Local { code, .. }) => Some(code.0),
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn parent_references_in_any_spelling_are_refused() {
        for name in ["..", "../etc/passwd", "a/../../b", "a/..", "/etc/passwd", "a\\..\\b", "..\\x", "a\0b", "a/", "x\ny"] {
            assert_eq!(code(check_name(name)), Some(2), "{name:?}");
        }
    }

    #[test]
    fn plain_and_dotted_names_are_accepted() {
        for name in ["a", "dir/file.txt", "./a", "...", "..a", "a..", ".hidden", "%2e%2e"] {
            assert_eq!(code(check_name(name)), None, "{name:?}");
        }
    }

    #[test]
    fn symlink_out_of_root_is_refused_but_inside_is_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        let root = tempfile::tempdir().unwrap();
        let root_path = root.path().canonicalize().unwrap();
        std::fs::write(root_path.join("real"), b"r").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root_path.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root_path.join("outdir")).unwrap();
        std::os::unix::fs::symlink("real", root_path.join("in")).unwrap();
        assert!(matches!(open_read(&root_path, "out"), Err(TransferError::Local { code: ErrorCode(2), .. })));
        assert!(matches!(open_read(&root_path, "outdir/secret"), Err(TransferError::Local { code: ErrorCode(2), .. })));
        assert_eq!(open_read(&root_path, "in").unwrap().1, 1);
    }

    #[test]
    fn upload_never_overwrites_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let dir_path = dir.path().canonicalize().unwrap();
        std::fs::write(dir_path.join("f"), b"old").unwrap();
        assert!(matches!(Upload::create(&dir_path, "f", false, 1), Err(TransferError::Local { code: ErrorCode(6), .. })));
        let (upload, _) = Upload::create(&dir_path, "f", true, 2).unwrap();
        assert_eq!(upload.commit().unwrap(), Some(3), "the size of the file it replaced");
        assert_eq!(std::fs::read(dir_path.join("f")).unwrap(), b"");
    }

    #[test]
    fn abandoned_upload_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let dir_path = dir.path().canonicalize().unwrap();
        let (upload, _) = Upload::create(&dir_path, "g", false, 3).unwrap();
        drop(upload);
        assert_eq!(std::fs::read_dir(&dir_path).unwrap().count(), 0);
    }
}
