//! [`read_dir`]: a directory's entries as an async stream, read in batches by `getdents`
//! (through `std::fs::ReadDir`) on the blocking pool: the ring has no operation that lists
//! a directory.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs::FileType;
use std::future::{poll_fn, Future};
use std::io;
use std::os::unix::fs::DirEntryExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Metadata;
use crate::runtime::JoinHandle;

/// Entries read from the directory per trip to the pool.
const BATCH: usize = 32;

/// Opens the directory `path` for listing; its entries come from
/// [`ReadDir::next_entry`] (`.` and `..` are left out, as in std).
///
/// ```
/// # proactor::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// proactor::fs::write(dir.path().join("a"), "1").await?;
/// let mut entries = proactor::fs::read_dir(dir.path()).await?;
/// while let Some(entry) = entries.next_entry().await? {
///     assert_eq!(entry.file_name(), "a");
///     assert!(entry.file_type().await?.is_file());
///     assert_eq!(entry.metadata().await?.len(), 1);
/// }
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_owned();
    let dir = crate::spawn_blocking(move || std::fs::read_dir(path)).await??;
    Ok(ReadDir {
        state: State::Idle(dir),
        ready: VecDeque::new(),
    })
}

type Batch = (std::fs::ReadDir, VecDeque<io::Result<DirEntry>>, bool);

enum State {
    /// Between batches: the directory, positioned after the entries read so far.
    Idle(std::fs::ReadDir),
    /// A batch being read on the pool.
    Reading(JoinHandle<Batch>),
    /// The end was reached (or the pool lost the directory).
    Done,
}

/// The entries of a directory, from [`read_dir`]. Dropping it closes the directory (on the
/// pool, once a batch still being read there is done).
pub struct ReadDir {
    state: State,
    ready: VecDeque<io::Result<DirEntry>>,
}

impl ReadDir {
    /// The next entry; `None` at the end. An error reading one entry is returned in its
    /// place, and the listing goes on after it.
    ///
    /// # Panics
    /// Outside a runtime.
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        poll_fn(|cx| self.poll_next_entry(cx)).await
    }

    /// Polls for the next entry (see [`next_entry`](ReadDir::next_entry)).
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        loop {
            if let Some(entry) = self.ready.pop_front() {
                return Poll::Ready(entry.map(Some));
            }
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Poll::Ready(Ok(None)),
                State::Idle(dir) => {
                    self.state = State::Reading(crate::spawn_blocking(move || read_batch(dir)));
                }
                State::Reading(mut batch) => match Pin::new(&mut batch).poll(cx) {
                    Poll::Pending => {
                        self.state = State::Reading(batch);
                        return Poll::Pending;
                    }
                    Poll::Ready(res) => {
                        let (dir, entries, end) = res.map_err(io::Error::from)?;
                        self.ready = entries;
                        if !end {
                            self.state = State::Idle(dir);
                        }
                    }
                },
            }
        }
    }
}

/// Reads up to [`BATCH`] entries; whether the end was reached.
fn read_batch(mut dir: std::fs::ReadDir) -> Batch {
    let mut entries = VecDeque::with_capacity(BATCH);
    while entries.len() < BATCH {
        match dir.next() {
            Some(entry) => entries.push_back(entry.map(DirEntry::from_std)),
            None => return (dir, entries, true),
        }
    }
    (dir, entries, false)
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadDir").finish_non_exhaustive()
    }
}

/// One entry of a directory listing, from [`ReadDir::next_entry`].
#[derive(Clone)]
pub struct DirEntry {
    path: PathBuf,
    file_name: OsString,
    ino: u64,
    /// From the listing itself (`d_type`), read on the pool; `None` if it could not tell.
    file_type: Option<FileType>,
}

impl DirEntry {
    fn from_std(entry: std::fs::DirEntry) -> DirEntry {
        DirEntry {
            path: entry.path(),
            file_name: entry.file_name(),
            ino: entry.ino(),
            file_type: entry.file_type().ok(),
        }
    }

    /// The entry's full path: the directory's path joined with [`file_name`](Self::file_name).
    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The entry's name within its directory.
    pub fn file_name(&self) -> OsString {
        self.file_name.clone()
    }

    /// The entry's inode number, from the listing.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The entry's type, not following a symlink: from the listing itself when the file
    /// system reports it (no system call), else from `lstat` on the blocking pool.
    pub async fn file_type(&self) -> io::Result<FileType> {
        if let Some(file_type) = self.file_type {
            return Ok(file_type);
        }
        let path = self.path.clone();
        crate::spawn_blocking(move || std::fs::symlink_metadata(path).map(|m| m.file_type()))
            .await?
    }

    /// The entry's metadata, not following a symlink (as `std::fs::DirEntry::metadata`):
    /// a `statx` through the driver.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        super::symlink_metadata(&self.path).await
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DirEntry").field(&self.path).finish()
    }
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<Batch>();
}
