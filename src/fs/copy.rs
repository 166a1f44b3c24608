//! [`copy`]: a file's contents and permissions to another file, copied by the kernel
//! (`copy_file_range(2)`, on the blocking pool: the ring has no such operation; a reflink
//! on file systems that share extents), or, where the kernel will not copy between the
//! two files, read and written through the driver.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use super::{File, OpenOptions};
use crate::sys::syscall;

/// Bytes one `copy_file_range` call is asked for.
const CHUNK: usize = 1 << 30;
/// The buffer of the read-and-write fallback.
const BUF: usize = 64 * 1024;

/// Copies the contents of the file `from` to `to`, creating or truncating `to`, and gives
/// `to` the permissions of `from` (as `std::fs::copy`); returns the number of bytes copied.
///
/// # Errors
/// `InvalidInput` when `from` is not a regular file (or a symlink to one); the errors of
/// opening, reading and writing either file.
///
/// ```
/// # proactor::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// let (from, to) = (dir.path().join("from"), dir.path().join("to"));
/// proactor::fs::write(&from, "contents").await?;
/// assert_eq!(proactor::fs::copy(&from, &to).await?, 8);
/// assert_eq!(proactor::fs::read(&to).await?, b"contents");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let src = File::open(from).await?;
    let meta = src.metadata().await?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the source of a copy is not a regular file",
        ));
    }
    let perm = meta.mode() & 0o7777;
    let dst = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(perm)
        .open(to)
        .await?;
    // The pool's job owns its own descriptors: it may outlive this future.
    let (src_fd, dst_fd) = (
        src.as_fd().try_clone_to_owned()?,
        dst.as_fd().try_clone_to_owned()?,
    );
    let copied = crate::spawn_blocking(move || in_kernel(&src_fd, &dst_fd, perm)).await??;
    let n = match copied {
        Some(n) => n,
        None => through_driver(&src, &dst).await?,
    };
    dst.close().await?;
    Ok(n)
}

/// On the pool: sets `dst`'s permissions, then copies with `copy_file_range` until the end
/// of `src`. `None` when the kernel refuses to copy between these two files before any
/// byte was copied (across file systems before Linux 5.3, or a file system without
/// support), so the caller copies another way.
fn in_kernel(src: &OwnedFd, dst: &OwnedFd, perm: u32) -> io::Result<Option<u64>> {
    let (src, dst) = (src.as_raw_fd(), dst.as_raw_fd());
    // SAFETY: fchmod takes no pointer; `dst` is open (owned by the caller).
    syscall!(fchmod(dst, perm as libc::mode_t))?;
    let mut copied = 0u64;
    loop {
        let null = std::ptr::null_mut();
        // SAFETY: null offsets: the fds' own positions are used (dups of files `copy` just
        // opened, whose positions nothing else moves: `File` has positional I/O only);
        // both fds are open (owned by the caller).
        let res = syscall!(copy_file_range(src, null, dst, null, CHUNK, 0));
        match res {
            // Nothing at the first call: an empty file, or one whose size the kernel does
            // not know (procfs, sysfs), which gives nothing to copy_file_range: reading
            // tells them apart.
            Ok(0) if copied == 0 => return Ok(None),
            Ok(0) => return Ok(Some(copied)),
            Ok(n) => copied += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if copied == 0 && refused(&e) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// Whether the kernel's `copy_file_range` error means "not between these files".
fn refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EXDEV
                | libc::ENOSYS
                | libc::EOPNOTSUPP
                | libc::EINVAL
                | libc::EPERM
                | libc::EBADF
        )
    )
}

/// The fallback: reads and writes through the driver, a buffer at a time.
async fn through_driver(src: &File, dst: &File) -> io::Result<u64> {
    let mut buf = Vec::with_capacity(BUF);
    let mut pos = 0u64;
    loop {
        buf.clear();
        let (res, back) = src.read_at(buf, pos).await;
        let n = match res {
            Ok(0) => return Ok(pos),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                buf = back;
                continue;
            }
            Err(e) => return Err(e),
        };
        let (res, back) = dst.write_all_at(back, pos).await;
        res?;
        buf = back;
        pos += n as u64;
    }
}
