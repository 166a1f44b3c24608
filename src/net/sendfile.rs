//! [`TcpStream::sendfile`](super::TcpStream::sendfile): a file's bytes to a socket without
//! copying them through user memory (the static-file server's path).
//!
//! On io_uring, two splices per chunk through a pipe made for the call: file to pipe
//! (`IORING_OP_SPLICE` at the file offset), then pipe to socket until the pipe is empty; a
//! full socket answers `EAGAIN` (the kernel does not wait on a non-blocking socket inside a
//! splice), and an `IORING_OP_POLL_ADD` waits for room. The pipe is the call's own, closed
//! at its end, so bytes left in it by a call dropped half-way are discarded with it, never
//! sent to another socket; each splice holds the pipe's ends, the file and the socket until
//! its completion (`[fd-outlives-op]`). On epoll, `sendfile(2)` on the socket's readiness.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::driver::SharedFd;
use crate::op::{poll_add::PollAdd, sendfile::SendFile, splice::Splice};
use crate::runtime::context;
use crate::runtime::op::Op;
use crate::sys::syscall;

/// The pipe's size asked for: 1 MiB, the default `fs.pipe-max-size` (an unprivileged
/// process gets no more; where it gets less, the default 64 KiB serves).
const PIPE_SIZE: u64 = 1 << 20;

/// The most one `sendfile(2)` is asked to move.
const SENDFILE_CHUNK: u64 = 1 << 30;

/// Sends `len` bytes of `file` from `offset` to the connected `socket`; fewer where the file
/// ends first. Returns how many were sent.
pub(crate) async fn sendfile(
    socket: &SharedFd,
    file: &SharedFd,
    offset: u64,
    len: u64,
) -> io::Result<u64> {
    if offset
        .checked_add(len)
        .is_none_or(|end| end > i64::MAX as u64)
    {
        let msg = "sendfile: offset + len exceeds i64::MAX";
        return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    }
    if len == 0 {
        return Ok(0);
    }
    if context::with_uring(|_| ()).is_some() {
        splice(socket, file, offset, len).await
    } else {
        send_file(socket, file, offset, len).await
    }
}

/// The io_uring path: file to pipe, pipe to socket, chunk by chunk.
async fn splice(socket: &SharedFd, file: &SharedFd, offset: u64, len: u64) -> io::Result<u64> {
    let pipe = Pipe::new(len.min(PIPE_SIZE))?;
    let mut sent = 0;
    while sent < len {
        let chunk = (len - sent).min(pipe.size) as u32;
        let filled = Op::new(Splice::from_file(file, offset + sent, &pipe.write, chunk)).await?;
        if filled == 0 {
            break; // the end of the file
        }
        let mut left = filled;
        while left > 0 {
            match Op::new(Splice::to_socket(&pipe.read, socket, left)).await {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    left -= n;
                    sent += u64::from(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    Op::new(PollAdd::writable(socket)).await?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(sent)
}

/// The epoll path: `sendfile(2)` when the socket has room.
async fn send_file(socket: &SharedFd, file: &SharedFd, offset: u64, len: u64) -> io::Result<u64> {
    let mut sent = 0;
    while sent < len {
        let chunk = (len - sent).min(SENDFILE_CHUNK) as u32;
        match Op::new(SendFile::new(socket, file, offset + sent, chunk)).await {
            Ok(0) => break, // the end of the file
            Ok(n) => sent += u64::from(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

/// A pipe of one `sendfile` call: blocking (a splice into it never finds it full, one out
/// of it never finds it empty), close-on-exec.
struct Pipe {
    read: SharedFd,
    write: SharedFd,
    /// Its capacity, in bytes.
    size: u64,
}

impl Pipe {
    /// A pipe that holds `want` bytes where the kernel allows, else its default size.
    fn new(want: u64) -> io::Result<Pipe> {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a live array of two ints for pipe2 to fill.
        syscall!(pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC))?;
        // SAFETY: pipe2 just created both fds; each is owned once, here.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let write = SharedFd::new(write);
        let want = want.max(4096) as libc::c_int;
        // SAFETY: F_SETPIPE_SZ and F_GETPIPE_SZ take an int by value; the fd is open. Refused
        // above `fs.pipe-max-size` (or the user's pipe quota): the pipe keeps its size.
        let _ = syscall!(fcntl(write.raw(), libc::F_SETPIPE_SZ, want));
        // SAFETY: as above.
        let size = syscall!(fcntl(write.raw(), libc::F_GETPIPE_SZ))?;
        Ok(Pipe {
            read: SharedFd::new(read),
            write,
            size: size as u64,
        })
    }
}
