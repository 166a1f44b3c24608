//! [`File`]: an open file whose reads, writes and syncs go through the driver.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::rc::Rc;

use super::{Metadata, OpenOptions};
use crate::buf::{BufResult, FixedBuf, IoBuf, IoBufMut};
use crate::driver::SharedFd;
use crate::op::close::Close;
use crate::op::fallocate::Fallocate;
use crate::op::fsync::Fsync;
use crate::op::ftruncate::Ftruncate;
use crate::op::read_at::ReadAt;
use crate::op::statx::Statx;
use crate::op::vectored_at::{ReadVectoredAt, WriteVectoredAt};
use crate::op::write_at::WriteAt;
use crate::runtime::op::Op;
use crate::sys::syscall;

/// An open file. Positional I/O only (`read_at`, `write_at`): there is no cursor, so
/// many tasks can read and write one file at once without sharing state.
///
/// Dropping the file closes it once every operation using it has completed; [`close`]
/// closes it now and reports the error `close(2)` returns.
///
/// [`close`]: File::close
///
/// ```
/// # proactor::block_on(async {
/// # let path = std::env::temp_dir().join(format!("proactor-doc-file-{}", std::process::id()));
/// let file = proactor::fs::File::create(&path).await?;
/// let (res, _) = file.write_all_at(&b"hello"[..], 0).await;
/// res?;
/// file.close().await?;
/// let file = proactor::fs::File::open(&path).await?;
/// let (res, buf) = file.read_at(Vec::with_capacity(16), 1).await;
/// assert_eq!(&buf[..res?], b"ello");
/// # proactor::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub struct File {
    fd: SharedFd,
    /// Whether reads, and writes, may first try the page cache without the ring
    /// (`RWF_NOWAIT`): never for `O_DIRECT`; turned off where the file system refuses.
    inline_read: Rc<Cell<bool>>,
    inline_write: Rc<Cell<bool>>,
}

impl File {
    pub(crate) fn from_shared(fd: SharedFd) -> File {
        // SAFETY: F_GETFL only reads the open file's status flags.
        let flags = syscall!(fcntl(fd.raw(), libc::F_GETFL)).unwrap_or(libc::O_DIRECT);
        let inline = flags & libc::O_DIRECT == 0;
        File {
            fd,
            inline_read: Rc::new(Cell::new(inline)),
            inline_write: Rc::new(Cell::new(inline)),
        }
    }

    /// The shared descriptor, for an op of another module (`TcpStream::sendfile`).
    pub(crate) fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }

    /// Opens `path` read-only.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens `path` write-only, creating it or truncating it.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Options to open a file with.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Takes over a file opened by std: its reads and writes then go through the driver.
    ///
    /// ```
    /// # proactor::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let std_file = std::fs::File::create(dir.path().join("f"))?;
    /// let file = proactor::fs::File::from_std(std_file);
    /// let (res, _) = file.write_at(&b"hi"[..], 0).await;
    /// assert_eq!(res?, 2);
    /// let std_file: std::fs::File = file.into_std().await;
    /// assert_eq!(std_file.metadata()?.len(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn from_std(file: std::fs::File) -> File {
        File::from_shared(SharedFd::new(OwnedFd::from(file)))
    }

    /// Gives the file back as a `std::fs::File`, once every operation still using it (one
    /// whose future was dropped) has completed.
    pub async fn into_std(self) -> std::fs::File {
        let mut file = self;
        loop {
            match file.try_into_std() {
                Ok(std_file) => return std_file,
                // A dropped op still holds it: wait a turn for its completion.
                Err(back) => {
                    file = back;
                    crate::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        }
    }

    /// Gives the file back as a `std::fs::File` now, or the file itself while an operation
    /// still uses it.
    pub fn try_into_std(self) -> Result<std::fs::File, File> {
        let File {
            fd,
            inline_read,
            inline_write,
        } = self;
        match fd.try_unwrap() {
            Ok(owned) => Ok(std::fs::File::from(owned)),
            Err(fd) => Err(File {
                fd,
                inline_read,
                inline_write,
            }),
        }
    }

    /// Reads into `buf` (up to its capacity, from its start) at offset `pos`; returns how
    /// many bytes were read (0 at end of file) and the buffer. An offset above `i64::MAX`
    /// is `EINVAL`, as for every positional call here.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        if let Err(e) = offset(pos) {
            return (Err(e), buf);
        }
        Op::new(ReadAt::new(&self.fd, buf, pos, &self.inline_read, None)).await
    }

    /// Writes `buf`'s initialised bytes at offset `pos`; returns how many were written.
    ///
    /// Dropping the future before it completes does not undo the write: the kernel (on
    /// epoll, the thread pool) may still write the bytes, at any time until it is done with
    /// them, even after later writes to the same range have completed.
    pub async fn write_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        if let Err(e) = offset(pos) {
            return (Err(e), buf);
        }
        Op::new(WriteAt::new(&self.fd, buf, pos, &self.inline_write, None)).await
    }

    /// Reads into several buffers at once (`preadv`) from offset `pos`, filling each to its
    /// capacity before the next; returns how many bytes in all (0 at end of file). At most
    /// 1024 buffers (`IOV_MAX`; more is `EINVAL`).
    pub async fn read_vectored_at<B: IoBufMut>(
        &self,
        bufs: Vec<B>,
        pos: u64,
    ) -> BufResult<usize, Vec<B>> {
        if let Err(e) = offset(pos) {
            return (Err(e), bufs);
        }
        Op::new(ReadVectoredAt::read(&self.fd, bufs, pos, &self.inline_read)).await
    }

    /// Writes the initialised bytes of several buffers, in order, at offset `pos` at once
    /// (`pwritev`); returns how many were written. A drop before completion does not undo
    /// the write, as for [`write_at`](File::write_at).
    pub async fn write_vectored_at<B: IoBuf>(
        &self,
        bufs: Vec<B>,
        pos: u64,
    ) -> BufResult<usize, Vec<B>> {
        if let Err(e) = offset(pos) {
            return (Err(e), bufs);
        }
        Op::new(WriteVectoredAt::write(
            &self.fd,
            bufs,
            pos,
            &self.inline_write,
        ))
        .await
    }

    /// Like [`read_at`](File::read_at), into a buffer of a
    /// [`FixedBufPool`](crate::buf::FixedBufPool): a registered pool saves the kernel
    /// pinning the buffer's pages on every read.
    pub async fn read_fixed_at(&self, buf: FixedBuf, pos: u64) -> BufResult<usize, FixedBuf> {
        if let Err(e) = offset(pos) {
            return (Err(e), buf);
        }
        let fixed = Some(buf.fixed_id());
        Op::new(ReadAt::new(&self.fd, buf, pos, &self.inline_read, fixed)).await
    }

    /// Like [`write_at`](File::write_at), from a buffer of a
    /// [`FixedBufPool`](crate::buf::FixedBufPool).
    pub async fn write_fixed_at(&self, buf: FixedBuf, pos: u64) -> BufResult<usize, FixedBuf> {
        if let Err(e) = offset(pos) {
            return (Err(e), buf);
        }
        let fixed = Some(buf.fixed_id());
        Op::new(WriteAt::new(&self.fd, buf, pos, &self.inline_write, fixed)).await
    }

    /// Fills `buf` to its capacity from offset `pos`; `UnexpectedEof` if the file ends
    /// first (the bytes read so far are in the buffer).
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        crate::io::read_exact(buf, |rest, done| self.read_at(rest, pos + done)).await
    }

    /// Writes all of `buf`'s initialised bytes at offset `pos`, however many writes it
    /// takes.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        crate::io::write_all(buf, |rest, done| self.write_at(rest, pos + done)).await
    }

    /// Flushes data and metadata to the device (`fsync`).
    pub async fn sync_all(&self) -> io::Result<()> {
        Op::new(Fsync::new(&self.fd, false)).await
    }

    /// Flushes data, and only the metadata needed to read it back (`fdatasync`).
    pub async fn sync_data(&self) -> io::Result<()> {
        Op::new(Fsync::new(&self.fd, true)).await
    }

    /// The file's metadata (`statx` on the open fd).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        Op::new(Statx::fd(&self.fd)).await.map(Metadata::from_statx)
    }

    /// Truncates or extends the file to `size` bytes (extension reads as zeros).
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        if size > i64::MAX as u64 {
            let msg = "file length exceeds i64::MAX";
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        Op::new(Ftruncate::new(&self.fd, size)).await
    }

    /// Allocates the file's blocks for the `len` bytes at `offset` (`fallocate(2)` with mode
    /// 0, through the ring): later writes there cannot fail for lack of space, and the file
    /// grows to `offset + len` if it was shorter (the new bytes read as zeros).
    ///
    /// # Errors
    /// `EINVAL` for a `len` of 0 or an offset or length above `i64::MAX`; `EOPNOTSUPP` on
    /// file systems that cannot allocate ahead; `ENOSPC`.
    pub async fn fallocate(&self, offset: u64, len: u64) -> io::Result<()> {
        offset_ok(offset)?;
        offset_ok(len)?;
        if len == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        Op::new(Fallocate::new(&self.fd, offset, len, 0)).await
    }

    /// Closes the file, reporting the error `close(2)` gives (e.g. a delayed write error
    /// on some file systems). Any operation still using the fd (one whose future was
    /// dropped) finishes first.
    pub async fn close(self) -> io::Result<()> {
        let mut fd = self.fd;
        loop {
            match fd.try_unwrap() {
                Ok(owned) => return Op::new(Close::new(owned)).await,
                // A dropped op still holds it: wait a turn for its completion.
                Err(shared) => {
                    fd = shared;
                    crate::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        }
    }
}

/// A file offset the kernel takes: at most `i64::MAX` (`loff_t`), else `EINVAL` (io_uring
/// would read an offset of -1 as "use the file position").
fn offset(pos: u64) -> io::Result<u64> {
    if pos > i64::MAX as u64 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(pos)
}

/// [`offset`], for a value that is not used afterwards.
fn offset_ok(pos: u64) -> io::Result<()> {
    offset(pos).map(drop)
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl FromRawFd for File {
    /// Takes ownership of `fd`, which must be an open file descriptor.
    unsafe fn from_raw_fd(fd: RawFd) -> File {
        // SAFETY: the caller hands over an open descriptor it owns (the contract of
        // `FromRawFd`), so this is its one owner.
        File::from_std(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
}

impl IntoRawFd for File {
    /// The descriptor, which the caller then owns.
    ///
    /// # Panics
    /// When an operation still uses it (a future of this file dropped before it
    /// completed, until its completion arrives): see [`try_into_std`](File::try_into_std),
    /// which hands the file back instead, and [`into_std`](File::into_std), which waits.
    fn into_raw_fd(self) -> RawFd {
        match self.try_into_std() {
            Ok(file) => file.into_raw_fd(),
            Err(_) => panic!(
                "proactor: File::into_raw_fd: an operation whose future was dropped still \
                 uses the descriptor (try_into_std hands the file back instead)"
            ),
        }
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File").field("fd", &self.fd.raw()).finish()
    }
}
