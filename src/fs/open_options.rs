//! [`OpenOptions`]: how a [`File`](super::File) is opened, as in `std::fs::OpenOptions`.

use std::io;
use std::path::Path;

use super::{cstring, File};
use crate::driver::SharedFd;
use crate::op::open::Open;
use crate::runtime::op::Op;

/// Options and flags to open a [`File`], mirroring [`std::fs::OpenOptions`].
///
/// ```
/// # proactor::block_on(async {
/// # let dir = std::env::temp_dir().join(format!("proactor-doc-oo-{}", std::process::id()));
/// let file = proactor::fs::OpenOptions::new()
///     .write(true)
///     .create(true)
///     .truncate(true)
///     .mode(0o600)
///     .open(&dir)
///     .await?;
/// file.close().await?;
/// # proactor::fs::remove_file(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// All options off; creation mode `0o666` (before the umask).
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.read = read;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.write = write;
        self
    }

    /// Open for appending (implies writing): on Linux every write goes to the end of the
    /// file, whatever offset [`File::write_at`] is given (`O_APPEND`).
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.append = append;
        self
    }

    /// Truncate an existing file to length 0 (needs write access).
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.truncate = truncate;
        self
    }

    /// Create the file if it does not exist (needs write or append access).
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.create = create;
        self
    }

    /// Create the file, failing with `AlreadyExists` if it exists (`O_EXCL`).
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.create_new = create_new;
        self
    }

    /// The permission bits of a created file (before the umask).
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Extra `open(2)` flags (e.g. `libc::O_NOFOLLOW`, `libc::O_DIRECT`); the access mode
    /// bits are ignored, as in std.
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    /// Opens `path` with these options.
    ///
    /// Invalid combinations (no access mode, `truncate` or `create` without write access)
    /// give an `InvalidInput` error.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let flags = self.access_mode()? | self.creation_mode()? | self.flags_extra();
        let path = cstring(path.as_ref())?;
        let fd = Op::new(Open::new(path, flags, self.mode as libc::mode_t)).await?;
        Ok(File::from_shared(SharedFd::new(fd)))
    }

    fn flags_extra(&self) -> libc::c_int {
        self.custom_flags & !libc::O_ACCMODE
    }

    fn access_mode(&self) -> io::Result<libc::c_int> {
        match (self.read, self.write, self.append) {
            (true, false, false) => Ok(libc::O_RDONLY),
            (false, true, false) => Ok(libc::O_WRONLY),
            (true, true, false) => Ok(libc::O_RDWR),
            (false, _, true) => Ok(libc::O_WRONLY | libc::O_APPEND),
            (true, _, true) => Ok(libc::O_RDWR | libc::O_APPEND),
            (false, false, false) => Err(invalid("no access mode: set read, write or append")),
        }
    }

    fn creation_mode(&self) -> io::Result<libc::c_int> {
        let writable = self.write || self.append;
        if !writable && (self.truncate || self.create || self.create_new) {
            return Err(invalid("create and truncate need write or append access"));
        }
        if self.append && self.truncate && !self.create_new {
            return Err(invalid("append and truncate cannot be combined"));
        }
        Ok(match (self.create, self.truncate, self.create_new) {
            (_, _, true) => libc::O_CREAT | libc::O_EXCL,
            (false, false, false) => 0,
            (true, false, false) => libc::O_CREAT,
            (false, true, false) => libc::O_TRUNC,
            (true, true, false) => libc::O_CREAT | libc::O_TRUNC,
        })
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
