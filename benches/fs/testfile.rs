//! The file every row reads and writes: created once per run (or reused with `--file`),
//! on the disk the build lives on, and evicted from the page cache before each cold pass.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::engines::AlignedBuf;

pub(crate) struct TestFile {
    pub(crate) path: PathBuf,
    /// The temporary directory the file lives in (removed with it), unless `--file`.
    _dir: Option<tempfile::TempDir>,
    /// Whether the file system takes `O_DIRECT` reads of it.
    pub(crate) direct_ok: bool,
    /// `findmnt`'s file system type and source for the file, when it answers.
    pub(crate) fs: String,
}

impl TestFile {
    /// `path` (kept afterwards), or a file in a temporary directory under the build's
    /// target dir (a real disk, not tmpfs); written to `size` bytes unless already that
    /// large.
    pub(crate) fn prepare(path: Option<&Path>, size: u64) -> TestFile {
        let (dir, path) = match path {
            Some(p) => (None, p.to_path_buf()),
            None => {
                let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                    .unwrap_or_else(|e| super::die(&format!("temp dir: {e}")));
                let path = dir.path().join("fs-bench.data");
                (Some(dir), path)
            }
        };
        let have = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if have < size {
            eprintln!("writing {} MiB to {}", size >> 20, path.display());
            fill(&path, size).unwrap_or_else(|e| super::die(&format!("write test file: {e}")));
        }
        TestFile {
            direct_ok: direct_ok(&path),
            fs: mount_of(&path),
            path,
            _dir: dir,
        }
    }
}

/// Writes `size` bytes of a pattern (every block different, none zero-filled: the file
/// system must read real blocks back) and syncs them to the device.
fn fill(path: &Path, size: u64) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let mut chunk = vec![0u8; 1 << 20];
    for (i, b) in chunk.iter_mut().enumerate() {
        *b = (i % 251) as u8 | 1;
    }
    for mib in 0..size >> 20 {
        chunk[..8].copy_from_slice(&mib.to_le_bytes());
        file.write_all(&chunk)?;
    }
    file.sync_all()?;
    drop(file);
    evict(path);
    Ok(())
}

/// Whether a 4 KiB `O_DIRECT` read of the file works here.
fn direct_ok(path: &Path) -> bool {
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    else {
        return false;
    };
    let mut buf = AlignedBuf::new(4096);
    file.read_exact_at(buf.as_mut_slice(), 0).is_ok()
}

fn mount_of(path: &Path) -> String {
    Command::new("findmnt")
        .args(["-n", "-o", "FSTYPE,SOURCE", "-T"])
        .arg(path)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            out.split_whitespace().collect::<Vec<_>>().join(" on ")
        })
        .unwrap_or_else(|| "unknown file system".into())
}

/// Drops the file's clean pages from the page cache (`POSIX_FADV_DONTNEED`, what fio's
/// `--invalidate=1` does), so the next buffered pass reads from the device.
pub(crate) fn evict(path: &Path) {
    let Ok(file) = File::open(path) else { return };
    // SAFETY: fadvise takes an open fd and a range, no pointers.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
}

/// The share of the file's pages in the page cache now (`mincore` over a mapping of it).
pub(crate) fn resident(path: &Path) -> Option<f64> {
    let file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len() as usize;
    let page = 4096;
    let mut vec = vec![0u8; len.div_ceil(page)];
    // SAFETY: a fresh read-only shared mapping of an open file, unmapped below; nothing
    // reads through it.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: `map` is `len` mapped bytes; `vec` has one byte per page of them.
    let res = unsafe { libc::mincore(map, len, vec.as_mut_ptr()) };
    // SAFETY: `map` and `len` are the mapping made above, unmapped once.
    unsafe { libc::munmap(map, len) };
    if res != 0 {
        return None;
    }
    let resident = vec.iter().filter(|&&b| b & 1 != 0).count();
    Some(resident as f64 / vec.len() as f64)
}
