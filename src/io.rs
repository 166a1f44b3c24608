//! The one copy of the loops that finish a partial transfer: [`read_exact`] and
//! [`write_all`], over a stream (each call goes on where the stream left off) and over a
//! file (each call at the offset reached; the closure gets the bytes done so far). The
//! `_from` forms go on after a first transfer of the whole buffer made by the caller
//! (streams: one call usually does it all, with no slice and no loop).

use std::future::Future;
use std::io;

use crate::buf::{BufResult, IoBuf, IoBufMut, Slice};

/// The error of a read that ended after `done` of `total` bytes.
pub(crate) fn unexpected_eof(done: usize, total: usize) -> io::Error {
    let msg = format!("end of data after {done} of {total} bytes");
    io::Error::new(io::ErrorKind::UnexpectedEof, msg)
}

/// Fills `buf` to its capacity with `read(rest, done)` calls; `UnexpectedEof` if a read
/// gives 0 first (the bytes read so far are in the buffer).
pub(crate) async fn read_exact<B, F, Fut>(buf: B, read: F) -> BufResult<(), B>
where
    B: IoBufMut,
    F: FnMut(Slice<B>, u64) -> Fut,
    Fut: Future<Output = BufResult<usize, Slice<B>>>,
{
    read_exact_from(buf, 0, read).await
}

/// [`read_exact`] of a buffer whose first `done` bytes are already read.
pub(crate) async fn read_exact_from<B, F, Fut>(buf: B, done: usize, mut read: F) -> BufResult<(), B>
where
    B: IoBufMut,
    F: FnMut(Slice<B>, u64) -> Fut,
    Fut: Future<Output = BufResult<usize, Slice<B>>>,
{
    let total = buf.bytes_total();
    let (mut done, mut buf) = (done, buf);
    while done < total {
        let (res, slice) = read(buf.slice(done..total), done as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return (Err(unexpected_eof(done, total)), buf),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Writes every initialised byte of `buf` with `write(rest, done)` calls; `WriteZero` if a
/// write takes none.
pub(crate) async fn write_all<B, F, Fut>(buf: B, write: F) -> BufResult<(), B>
where
    B: IoBuf,
    F: FnMut(Slice<B>, u64) -> Fut,
    Fut: Future<Output = BufResult<usize, Slice<B>>>,
{
    write_all_from(buf, 0, write).await
}

/// [`write_all`] of a buffer whose first `done` bytes are already written.
pub(crate) async fn write_all_from<B, F, Fut>(buf: B, done: usize, mut write: F) -> BufResult<(), B>
where
    B: IoBuf,
    F: FnMut(Slice<B>, u64) -> Fut,
    Fut: Future<Output = BufResult<usize, Slice<B>>>,
{
    let total = buf.bytes_init();
    let (mut done, mut buf) = (done, buf);
    while done < total {
        let (res, slice) = write(buf.slice(done..total), done as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => {
                let msg = format!("wrote 0 bytes after {done} of {total}");
                return (Err(io::Error::new(io::ErrorKind::WriteZero, msg)), buf);
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}
