//! Files and directories through the driver: on io_uring most calls here are one ring
//! operation (`openat`, `read`, `write`, `fsync`, `statx`, `ftruncate`, `fallocate`,
//! `unlinkat`, `renameat`, `mkdirat`, `linkat`, `symlinkat`, `close`), so file I/O does not
//! block the runtime's thread. What the ring has no operation for runs on the blocking pool:
//! [`read_dir`]'s listing, [`copy`]'s `copy_file_range`, [`set_permissions`] and
//! [`remove_dir_all`].
//!
//! Errors are `io::Error`s carrying the kernel's errno (`NotFound`, `PermissionDenied`,
//! `AlreadyExists`, `EISDIR`...).
//!
//! ```
//! # proactor::block_on(async {
//! # let dir = std::env::temp_dir().join(format!("proactor-doc-fs-{}", std::process::id()));
//! proactor::fs::create_dir_all(dir.join("a/b")).await?;
//! proactor::fs::write(dir.join("a/b/f"), "hi").await?;
//! assert_eq!(proactor::fs::read(dir.join("a/b/f")).await?, b"hi");
//! proactor::fs::rename(dir.join("a/b/f"), dir.join("g")).await?;
//! assert_eq!(proactor::fs::metadata(dir.join("g")).await?.len(), 2);
//! # proactor::fs::remove_file(dir.join("g")).await?;
//! # proactor::fs::remove_dir(dir.join("a/b")).await?;
//! # proactor::fs::remove_dir(dir.join("a")).await?;
//! # proactor::fs::remove_dir(&dir).await?;
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```

mod copy;
mod file;
mod metadata;
mod open_options;
mod read_dir;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use copy::copy;
pub use file::File;
pub use metadata::Metadata;
pub use open_options::OpenOptions;
pub use read_dir::{read_dir, DirEntry, ReadDir};
pub use std::fs::Permissions;

use crate::buf::IoBuf;
use crate::op::is_lacking_on_ring;
use crate::op::link::{self, Link};
use crate::op::mkdir::Mkdir;
use crate::op::rename::Rename;
use crate::op::statx::Statx;
use crate::op::symlink::{self, Symlink};
use crate::op::unlink::Unlink;
use crate::runtime::op::Op;

/// The path as the NUL-terminated string the kernel reads; an interior NUL is an error.
pub(crate) fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path contains a NUL byte: {}", path.display()),
        )
    })
}

/// Reads a whole file into a vector.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = File::open(path).await?;
    let hint = file.metadata().await.map_or(0, |m| m.len() as usize);
    let mut buf = Vec::with_capacity(hint.max(8192) + 1);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity());
        }
        let start = buf.len();
        let (res, slice) = file.read_at(buf.slice(start..), start as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    file.close().await?;
    Ok(buf)
}

/// Writes `contents` as the whole content of `path`, creating or truncating it.
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let file = File::create(path).await?;
    let (res, _) = file.write_all_at(contents.as_ref().to_vec(), 0).await;
    res?;
    file.close().await
}

/// Creates a directory (mode `0o777` before the umask); its parent must exist.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    Op::new(Mkdir::new(cstring(path.as_ref())?, 0o777)).await
}

/// Creates a directory and every missing parent; succeeds if it already is a directory.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    // Walk up to the first ancestor that exists, then create downwards.
    let mut missing = Vec::new();
    let mut cur = path;
    loop {
        if cur.as_os_str().is_empty() {
            break;
        }
        match create_dir(cur).await {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => match cur.parent() {
                Some(parent) => {
                    missing.push(cur);
                    cur = parent;
                }
                None => return Err(e),
            },
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if metadata(cur).await?.is_dir() {
                    break;
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
    for dir in missing.into_iter().rev() {
        match create_dir(dir).await {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && metadata(dir).await?.is_dir() => {
            }
            res => res?,
        }
    }
    Ok(())
}

/// Removes a file (or symlink).
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    Op::new(Unlink::new(cstring(path.as_ref())?, false)).await
}

/// Removes an empty directory.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    Op::new(Unlink::new(cstring(path.as_ref())?, true)).await
}

/// Renames `from` to `to`, replacing `to` if it exists (atomically, on one file system).
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    Op::new(Rename::new(cstring(from.as_ref())?, cstring(to.as_ref())?)).await
}

/// Metadata of `path`, following symlinks.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let stx = Op::new(Statx::path(cstring(path.as_ref())?, true)).await?;
    Ok(Metadata::from_statx(stx))
}

/// Metadata of `path` itself, not following a final symlink.
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let stx = Op::new(Statx::path(cstring(path.as_ref())?, false)).await?;
    Ok(Metadata::from_statx(stx))
}

/// Makes `link` a new hard link to the file `original` (`linkat`, not following a final
/// symlink of `original`, as `std::fs::hard_link` on Linux).
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (original, link) = (cstring(original.as_ref())?, cstring(link.as_ref())?);
    let res = Op::new(Link::new(original.clone(), link.clone())).await;
    on_pool_if_lacking(res, move || link::link_at(&original, &link).map(drop)).await
}

/// Makes `link` a symbolic link to `original` (`symlinkat`; `original` is stored as given,
/// relative or absolute, and need not exist), as `std::os::unix::fs::symlink`.
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (original, link) = (cstring(original.as_ref())?, cstring(link.as_ref())?);
    let res = Op::new(Symlink::new(original.clone(), link.clone())).await;
    on_pool_if_lacking(res, move || symlink::symlink_at(&original, &link).map(drop)).await
}

/// `res`, or, where the ring lacked the operation, `fallback` run on the blocking pool.
async fn on_pool_if_lacking<T: Send + 'static>(
    res: io::Result<T>,
    fallback: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    match res {
        Err(e) if is_lacking_on_ring(&e) => {
            crate::trace::event!(
                debug,
                "the ring lacks the opcode; the call runs on the pool"
            );
            crate::spawn_blocking(fallback).await?
        }
        res => res,
    }
}

/// Removes a directory after removing everything in it, not following symlinks (a symlink
/// itself is removed, never what it points to). Runs `std::fs::remove_dir_all` on the
/// blocking pool: it walks the tree through directory descriptors (`openat`, `unlinkat`),
/// so a directory swapped for a symlink meanwhile cannot redirect it elsewhere, which a walk
/// by paths through the ring could not promise.
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    crate::spawn_blocking(move || std::fs::remove_dir_all(path)).await?
}

/// Sets the permissions of `path` (following symlinks; `chmod`, on the blocking pool: the
/// ring has no such operation). `Permissions::from_mode` (from
/// `std::os::unix::fs::PermissionsExt`) makes them from mode bits, and
/// [`Metadata::permissions`] gives a file's.
pub async fn set_permissions(path: impl AsRef<Path>, perm: Permissions) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    crate::spawn_blocking(move || std::fs::set_permissions(path, perm)).await?
}
