//! Each process's scratch folder: `DATA_DIR/tmp/<host>-<pid>-<random>/`, holding a locked
//! `.lock` file for as long as the process lives. Temporary uploads, exports and tile
//! pyramids being cut live there. At start, a folder whose lock can be taken belongs to a
//! process that has died (its lock went with it, whatever became of its process id) and is
//! removed with everything in it.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

const LOCK: &str = ".lock";

/// A process's scratch folder; removed when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    _lock: File,
}

impl Scratch {
    /// Creates and locks a new scratch folder under `tmp`.
    pub fn create(tmp: &Path) -> io::Result<Self> {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| {
                h.trim()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect::<String>()
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        let dir = tmp.join(format!(
            "{host}-{}-{}",
            std::process::id(),
            &crate::auth::random_token()[..12]
        ));
        std::fs::create_dir_all(&dir)?;
        let lock = File::create(dir.join(LOCK))?;
        lock.try_lock().map_err(|e| match e {
            TryLockError::Error(e) => e,
            TryLockError::WouldBlock => io::Error::other("a new scratch folder is locked already"),
        })?;
        Ok(Self { dir, _lock: lock })
    }

    /// A path for a temporary file or folder named `name` in this scratch folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A temporary file in this scratch folder, removed when dropped.
    pub fn temp_file(&self, name: &str) -> TempPath {
        TempPath(self.path(name))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A temporary file removed when dropped, also when the request that writes it is dropped
/// half-way (a client that disconnects or stalls).
#[derive(Debug)]
pub struct TempPath(PathBuf);

impl std::ops::Deref for TempPath {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn age(p: &Path) -> Option<Duration> {
    std::fs::metadata(p).ok()?.modified().ok()?.elapsed().ok()
}

/// Removes the scratch folders of processes that no longer run, and loose files (left by
/// earlier versions) older than `grace`. Returns (folders, files) removed.
pub fn sweep(tmp: &Path, grace: Duration) -> io::Result<(usize, usize)> {
    let (mut dirs, mut files) = (0, 0);
    let Ok(rd) = std::fs::read_dir(tmp) else {
        return Ok((0, 0));
    };
    for e in rd.flatten() {
        let path = e.path();
        if path.is_dir() {
            let dead = match File::options().write(true).open(path.join(LOCK)) {
                // Held by a live process: WouldBlock. Taken: its owner is gone.
                Ok(f) => match f.try_lock() {
                    Ok(()) => true,
                    Err(TryLockError::WouldBlock) => false,
                    Err(TryLockError::Error(e)) => return Err(e),
                },
                // No lock file: a folder being created right now, or a leftover.
                Err(_) => age(&path).is_some_and(|a| a >= Duration::from_secs(60)),
            };
            if dead && std::fs::remove_dir_all(&path).is_ok() {
                dirs += 1;
            }
        } else if age(&path).is_some_and(|a| a >= grace) && std::fs::remove_file(&path).is_ok() {
            files += 1;
        }
    }
    Ok((dirs, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_folders_go_and_live_ones_stay_whatever_the_pid() {
        let tmp = tempfile::tempdir().unwrap();
        let live = Scratch::create(tmp.path()).unwrap();
        std::fs::write(live.path("upload-1"), b"in progress").unwrap();
        // A dead process whose pid has been reused (here: by this very process).
        let dead = tmp
            .path()
            .join(format!("host-{}-deadbeef0000", std::process::id()));
        std::fs::create_dir_all(dead.join("tiles-abc/0")).unwrap();
        std::fs::write(dead.join(LOCK), b"").unwrap();
        std::fs::write(dead.join("upload-7"), b"partial").unwrap();
        assert_eq!(sweep(tmp.path(), Duration::from_secs(600)).unwrap(), (1, 0));
        assert!(!dead.exists());
        assert!(
            live.path("upload-1").exists(),
            "a live process keeps its files"
        );
        let dir = live.dir().to_path_buf();
        drop(live);
        assert!(!dir.exists(), "a clean exit removes its scratch folder");
    }
}
