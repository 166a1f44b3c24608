//! The one copy of the loops that finish a partial transfer: [`read_exact`] and
//! [`write_all`], over a stream (each call goes on where the stream left off) and over a
//! file (each call at the offset reached; the closure gets the bytes done so far).

use std::future::Future;
use std::io;

use crate::buf::{BufResult, IoBuf, IoBufMut, Slice};

/// Fills `buf` to its capacity with `read(rest, done)` calls; `UnexpectedEof` if a read
/// gives 0 first (the bytes read so far are in the buffer).
pub(crate) async fn read_exact<B, F, Fut>(buf: B, mut read: F) -> BufResult<(), B>
where
    B: IoBufMut,
    F: FnMut(Slice<B>, u64) -> Fut,
    Fut: Future<Output = BufResult<usize, Slice<B>>>,
{
    let total = buf.bytes_total();
    let (mut done, mut buf) = (0, buf);
    while done < total {
        let (res, slice) = read(buf.slice(done..total), done as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => {
                let msg = format!("end of data after {done} of {total} bytes");
                return (Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg)), buf);
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Writes every initialised byte of `buf` with `write(rest, done)` calls; `WriteZero` if a
/// write takes none.
pub(crate) async fn write_all<B, F, Fut>(buf: B, mut write: F) -> BufResult<(), B>
where
    B: IoBuf,
    F: FnMut(Slice<B>, u64) -> Fut,
    Fut: Future<Output = BufResult<usize, Slice<B>>>,
{
    let total = buf.bytes_init();
    let (mut done, mut buf) = (0, buf);
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
