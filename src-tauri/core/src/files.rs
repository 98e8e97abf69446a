//! Files Mailproof writes for the user (exports, reports) appear whole or not at all: each is written to a
//! temporary file beside its destination and renamed over it once complete, so a full disk, a crash or an error
//! midway never leaves half a file — nor destroys the one it was replacing.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes)).map_err(|e| match e {
        Failed::Io(e) | Failed::Writer(e) => e,
    })
}

/// Why an atomic write failed: the file system, or the writer itself.
#[derive(Debug)]
pub enum Failed<E> {
    Io(io::Error),
    Writer(E),
}

/// Runs `write` on a temporary file beside `path`, then puts the file in place; on any failure the temporary file
/// is removed and `path` is as it was.
pub fn write_atomic_with<T, E>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<T, E>,
) -> Result<T, Failed<E>> {
    let part = part_path(path);
    let result = (|| {
        let mut file = std::fs::File::create(&part).map_err(Failed::Io)?;
        let value = {
            let mut w = io::BufWriter::new(&mut file);
            let value = write(&mut w).map_err(Failed::Writer)?;
            w.flush().map_err(Failed::Io)?;
            value
        };
        file.sync_all().map_err(Failed::Io)?;
        std::fs::rename(&part, path).map_err(Failed::Io)?;
        Ok(value)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

/// `.<name>.part-<pid>` in the same folder (so the rename never crosses file systems).
fn part_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into());
    path.with_file_name(format!(".{name}.part-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_part_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        std::fs::write(&path, "the previous export\n").unwrap();
        let failed = write_atomic_with(&path, |w| {
            w.write_all(b"half of the new").map_err(|e| e.to_string())?;
            Err::<(), _>("the database went away".to_string())
        });
        assert!(matches!(failed, Err(Failed::Writer(ref why)) if why == "the database went away"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "the previous export\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");

        write_atomic(&path, b"the new export\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "the new export\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_folder_that_cannot_be_written_says_so() {
        let e = write_atomic(Path::new("/nonexistent-folder/out.csv"), b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
