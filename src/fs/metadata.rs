//! [`Metadata`]: what `statx` reports about a file.

use std::fmt;
use std::time::{Duration, SystemTime};

/// Metadata of a file, from `statx(2)`; mirrors the common part of [`std::fs::Metadata`].
#[derive(Clone)]
pub struct Metadata {
    stx: libc::statx,
}

impl Metadata {
    pub(crate) fn from_statx(stx: Box<libc::statx>) -> Metadata {
        Metadata { stx: *stx }
    }

    fn kind(&self) -> u32 {
        u32::from(self.stx.stx_mode) & libc::S_IFMT
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.stx.stx_size
    }

    /// Whether the size is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.kind() == libc::S_IFREG
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR
    }

    /// Whether this is a symbolic link (only from
    /// [`symlink_metadata`](super::symlink_metadata)).
    pub fn is_symlink(&self) -> bool {
        self.kind() == libc::S_IFLNK
    }

    /// The full `st_mode`: file type and permission bits.
    pub fn mode(&self) -> u32 {
        u32::from(self.stx.stx_mode)
    }

    /// The permission bits, for [`set_permissions`](super::set_permissions).
    pub fn permissions(&self) -> std::fs::Permissions {
        std::os::unix::fs::PermissionsExt::from_mode(self.mode() & 0o7777)
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        self.stx.stx_ino
    }

    /// Number of hard links.
    pub fn nlink(&self) -> u32 {
        self.stx.stx_nlink
    }

    /// Owner's user id.
    pub fn uid(&self) -> u32 {
        self.stx.stx_uid
    }

    /// Owner's group id.
    pub fn gid(&self) -> u32 {
        self.stx.stx_gid
    }

    /// Number of 512-byte blocks allocated (less than `len / 512` for a sparse file).
    pub fn blocks(&self) -> u64 {
        self.stx.stx_blocks
    }

    /// Last modification time.
    pub fn modified(&self) -> SystemTime {
        time(&self.stx.stx_mtime)
    }

    /// Last access time.
    pub fn accessed(&self) -> SystemTime {
        time(&self.stx.stx_atime)
    }

    /// Creation time, when the file system records it.
    pub fn created(&self) -> Option<SystemTime> {
        (self.stx.stx_mask & libc::STATX_BTIME != 0).then(|| time(&self.stx.stx_btime))
    }
}

fn time(ts: &libc::statx_timestamp) -> SystemTime {
    let nanos = Duration::new(ts.tv_sec.unsigned_abs(), ts.tv_nsec);
    if ts.tv_sec >= 0 {
        SystemTime::UNIX_EPOCH + nanos
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(ts.tv_sec.unsigned_abs())
            + Duration::from_nanos(ts.tv_nsec.into())
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("len", &self.len())
            .field("mode", &format_args!("{:o}", self.mode()))
            .field("ino", &self.ino())
            .finish_non_exhaustive()
    }
}
