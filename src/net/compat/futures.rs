//! `futures_io::{AsyncRead, AsyncBufRead, AsyncWrite}` for the streams and halves (feature
//! `futures-io`), on the bridge's state: the same state as the tokio traits', so the two
//! may even be mixed on one stream. `poll_close` flushes and shuts the write direction
//! down.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};

use crate::net::{OwnedReadHalf, OwnedWriteHalf, TcpStream, UnixStream};

macro_rules! futures_read {
    ($($ty:ty),*) => {$(
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let (socket, rd) = self.get_mut().io.reader();
                rd.poll_read(cx, socket, buf)
            }
        }

        impl AsyncBufRead for $ty {
            fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
                let (socket, rd) = self.get_mut().io.reader();
                rd.poll_fill(cx, socket)
            }

            fn consume(self: Pin<&mut Self>, amt: usize) {
                self.get_mut().io.reader().1.consume(amt);
            }
        }
    )*};
}

macro_rules! futures_write {
    ($($ty:ty),*) => {$(
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let (socket, wr) = self.get_mut().io.writer();
                wr.poll_write(cx, socket, &[IoSlice::new(buf)])
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let (socket, wr) = self.get_mut().io.writer();
                wr.poll_write(cx, socket, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().io.writer().1.poll_flush(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let (socket, wr) = self.get_mut().io.writer();
                wr.poll_shutdown(cx, socket)
            }
        }
    )*};
}

futures_read!(TcpStream, UnixStream, OwnedReadHalf);
futures_write!(TcpStream, UnixStream, OwnedWriteHalf);
