//! `tokio::io::{AsyncRead, AsyncBufRead, AsyncWrite}` for the streams and halves (feature
//! `tokio-io`), on the bridge's state. The types are `Unpin`.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

use crate::net::{OwnedReadHalf, OwnedWriteHalf, TcpStream, UnixStream};

macro_rules! tokio_read {
    ($($ty:ty),*) => {$(
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                if buf.remaining() == 0 {
                    return Poll::Ready(Ok(()));
                }
                let (socket, rd) = self.get_mut().io.reader();
                let data = ready!(rd.poll_fill(cx, socket))?;
                let n = data.len().min(buf.remaining());
                buf.put_slice(&data[..n]);
                rd.consume(n);
                Poll::Ready(Ok(()))
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

macro_rules! tokio_write {
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

            fn is_write_vectored(&self) -> bool {
                true // the slices are copied into one staging buffer: one send for all
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().io.writer().1.poll_flush(cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let (socket, wr) = self.get_mut().io.writer();
                wr.poll_shutdown(cx, socket)
            }
        }
    )*};
}

tokio_read!(TcpStream, UnixStream, OwnedReadHalf);
tokio_write!(TcpStream, UnixStream, OwnedWriteHalf);
