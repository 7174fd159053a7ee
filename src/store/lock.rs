//! The data dir's lock: one process at a time writes a store.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::{LOCK_FILE, StoreError};

/// Holds the data dir for one process: a second process gets [`StoreError::Locked`].
pub(super) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(super) fn acquire(dir: &Path) -> Result<DirLock, StoreError> {
        let io = |source| StoreError::Io { dir: dir.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOCK_FILE);
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match try_lock_patiently(&file) {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = match pid.trim() {
                    "" => String::new(),
                    pid => format!(" (pid {pid})"),
                };
                return Err(StoreError::Locked { dir: dir.to_owned(), holder });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DirLock { _file: file })
    }
}

/// Takes the lock, trying again for a moment: a lock is also held, briefly, by a
/// process forked from its holder before it runs its own program, and by a holder
/// that is just exiting.
fn try_lock_patiently(file: &File) -> Result<(), std::fs::TryLockError> {
    const PATIENCE: std::time::Duration = std::time::Duration::from_millis(300);
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < PATIENCE => {
                std::thread::sleep(std::time::Duration::from_millis(15));
            }
            other => return other,
        }
    }
}
