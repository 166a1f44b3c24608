//! The poll-based bridge (features `tokio-io`, `futures-io`): `tokio::io::copy` between two
//! proactor streams, a `copy_buf` echo between a stream's halves, futures-io `read_to_end`,
//! a read cancelled by a timeout that loses no byte, a peer that never reads stopping
//! `poll_write`, a reset peer, the halves, and the owned-buffer methods (`queue_write`
//! among them) keeping the byte order with the bridge.

#![cfg(all(feature = "tokio-io", feature = "futures-io"))]

mod util;

use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use proactor::net::{TcpListener, TcpStream, UnixStream};
use proactor::time::timeout;
use proactor::{spawn, Driver};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use util::block_on;

/// A connected pair: the client's end and the server's.
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

/// 1 MiB from one connection to another through `tokio::io::copy`, in the middle.
fn tokio_copy_between_streams(driver: Driver) {
    block_on(driver, async {
        let (mut src_client, mut src_server) = tcp_pair().await;
        let (mut dst_client, mut dst_server) = tcp_pair().await;
        let data = pattern(1 << 20, 7);
        let sent = data.clone();
        let writer = spawn(async move {
            src_client.write_all(&sent).await?;
            src_client.shutdown().await
        });
        let copier = spawn(async move {
            let n = tokio::io::copy(&mut src_server, &mut dst_client).await?;
            dst_client.shutdown().await?;
            Ok::<_, io::Error>(n)
        });
        let mut got = Vec::new();
        dst_server.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap().unwrap();
        assert_eq!(copier.await.unwrap().unwrap(), data.len() as u64);
        assert!(got == data, "copied bytes differ");
    });
}

/// An echo through `tokio::io::copy_buf` between a stream's halves (`AsyncBufRead`: the
/// bytes are written from where the receive put them): 1 MiB in, the same 1 MiB back, end of
/// stream passed on.
fn copy_buf_echo_between_halves(driver: Driver) {
    block_on(driver, async {
        let (client, server) = tcp_pair().await;
        let echo = spawn(async move {
            let (mut rd, mut wr) = server.into_split();
            let n = tokio::io::copy_buf(&mut rd, &mut wr).await?;
            wr.shutdown().await?;
            Ok::<_, io::Error>(n)
        });
        let data = pattern(1 << 20, 3);
        let (mut rd, mut wr) = client.into_split();
        let sent = data.clone();
        let writer = spawn(async move {
            wr.write_all(&sent).await?;
            wr.shutdown().await
        });
        let mut back = Vec::new();
        rd.read_to_end(&mut back).await.unwrap();
        writer.await.unwrap().unwrap();
        assert_eq!(echo.await.unwrap().unwrap(), data.len() as u64);
        assert!(back == data, "the echo differs from what was sent");
    });
}

/// futures-io's `read_to_end` over a stream whose peer writes 300 KiB and closes.
fn futures_read_to_end(driver: Driver) {
    block_on(driver, async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let data = pattern(300 * 1024, 3);
        let sent = data.clone();
        let writer = spawn(async move {
            futures_util::io::AsyncWriteExt::write_all(&mut a, &sent).await?;
            futures_util::io::AsyncWriteExt::close(&mut a).await
        });
        let mut got = Vec::new();
        futures_util::io::AsyncReadExt::read_to_end(&mut b, &mut got)
            .await
            .unwrap();
        writer.await.unwrap().unwrap();
        assert!(got == data, "read_to_end differs");
    });
}

/// A read dropped by a timeout loses nothing: the next read gets the data. And reads
/// abandoned after one poll each, while data streams in, lose no byte either.
fn read_cancelled_by_timeout(driver: Driver) {
    block_on(driver, async {
        let (mut client, mut server) = tcp_pair().await;
        let mut buf = [0u8; 64];
        let waited = timeout(Duration::from_millis(20), server.read(&mut buf)).await;
        assert!(waited.is_err(), "nothing was sent, the read must time out");
        client.write_all(b"after the timeout").await.unwrap();
        client.flush().await.unwrap();
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"after the timeout");

        let data = pattern(256 * 1024, 9);
        let sent = data.clone();
        let writer = spawn(async move {
            client.write_all(&sent).await?;
            client.shutdown().await
        });
        let mut got = Vec::new();
        let mut chunk = [0u8; 1000];
        for round in 0.. {
            // Every other read is polled once and dropped, ready or not.
            let read = server.read(&mut chunk);
            let res = if round % 2 == 0 {
                let mut read = pin!(read);
                let once = poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
                match once {
                    Poll::Ready(res) => res.unwrap(),
                    Poll::Pending => {
                        proactor::task::yield_now().await;
                        continue;
                    }
                }
            } else {
                read.await.unwrap()
            };
            if res == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..res]);
        }
        writer.await.unwrap().unwrap();
        assert!(got == data, "bytes lost or reordered by dropped reads");
    });
}

/// A peer that never reads: once its socket buffers and the stream's 64 KiB are full,
/// `poll_write` stays `Pending` (bounded buffering); when the peer reads, every accepted
/// byte arrives.
fn poll_write_pending_when_peer_never_reads(driver: Driver) {
    block_on(driver, async {
        let (client, mut server) = tcp_pair().await;
        let sock = socket2::SockRef::from(&client);
        sock.set_recv_buffer_size(64 * 1024).unwrap();
        sock.set_send_buffer_size(64 * 1024).unwrap();
        let chunk = pattern(16 * 1024, 1);
        let mut accepted = 0usize;
        let mut stalled = false;
        while accepted < 64 << 20 {
            match timeout(Duration::from_millis(300), server.write(&chunk)).await {
                Ok(n) => accepted += n.unwrap(),
                Err(_) => {
                    stalled = true;
                    break;
                }
            }
        }
        assert!(
            stalled,
            "poll_write never returned Pending ({accepted} bytes taken)"
        );
        let reader = spawn(async move {
            let mut client = client;
            let chunk = pattern(16 * 1024, 1);
            let mut got = 0usize;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = client.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, io::Error>(got);
                }
                for (i, b) in buf[..n].iter().enumerate() {
                    let at = got + i;
                    assert_eq!(*b, chunk[at % chunk.len()], "byte {at} differs");
                }
                got += n;
            }
        });
        server.shutdown().await.unwrap(); // flushes everything accepted, then FIN
        assert_eq!(reader.await.unwrap().unwrap(), accepted);
    });
}

/// A peer that resets: the next read is `ConnectionReset`, and writes fail cleanly.
fn reset_peer_gives_connection_reset(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 16];
        // A read armed before the reset, and one after it.
        let armed = timeout(Duration::from_millis(10), stream.read(&mut buf)).await;
        assert!(armed.is_err());
        socket2::SockRef::from(&peer)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(peer); // RST
        let err = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        let mut failed = None;
        for _ in 0..100 {
            let res = async {
                stream.write_all(&[1u8; 1024]).await?;
                stream.flush().await
            };
            if let Err(e) = res.await {
                failed = Some(e);
                break;
            }
        }
        let e = failed.expect("writes to a reset connection must fail");
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{e}"
        );
    });
}

/// The halves through tokio's traits, each in its own task; and the state of a stream read
/// through the traits goes with its reading half.
fn split_halves(driver: Driver) {
    block_on(driver, async {
        let (mut client, server) = tcp_pair().await;
        client.write_all(b"first second").await.unwrap();
        client.flush().await.unwrap();
        // The stream's own `AsyncBufRead`: what it received past the word stays in it.
        let mut server = server;
        let mut word = Vec::new();
        server.read_until(b' ', &mut word).await.unwrap();
        assert_eq!(word, b"first ");
        let (mut rd, mut wr) = server.into_split();
        let mut rest = [0u8; 6];
        rd.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"second");
        let echo = spawn(async move {
            let mut buf = [0u8; 5];
            rd.read_exact(&mut buf).await?;
            wr.write_all(&buf).await?;
            wr.shutdown().await
        });
        client.write_all(b"hello").await.unwrap();
        client.flush().await.unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"hello");
        echo.await.unwrap().unwrap();
    });
}

/// Both styles on one stream keep the byte order: an owned-buffer read takes what the
/// bridge received first, an owned-buffer write follows what the bridge accepted.
fn styles_keep_byte_order(driver: Driver) {
    block_on(driver, async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        // Bridge write, then owned-buffer write, with no flush between.
        let big = pattern(100 * 1024, 5);
        AsyncWriteExt::write_all(&mut a, &big).await.unwrap();
        let (res, _) = proactor::io::AsyncWriteRent::write_all(&a, b"tail".as_slice()).await;
        res.unwrap();
        // Bridge read of a little, then owned-buffer reads of the rest.
        let mut head = [0u8; 10];
        AsyncReadExt::read_exact(&mut b, &mut head).await.unwrap();
        assert_eq!(head, big[..10]);
        let rest_len = big.len() - 10 + 4;
        let (res, rest) = (*b).read_exact(Vec::with_capacity(rest_len)).await;
        res.unwrap();
        assert!(
            rest[..big.len() - 10] == big[10..],
            "owned read reordered bytes"
        );
        assert_eq!(&rest[big.len() - 10..], b"tail");
    });
}

/// Queued writes and the bridge's writes keep the byte order both ways: a bridge write
/// after a `queue_write` waits for its send, and a `queue_write` after a bridge write waits
/// for the bridge's bytes; the shutdown comes after all.
fn queued_writes_and_the_bridge_keep_byte_order(driver: Driver) {
    block_on(driver, async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let reader = spawn(async move {
            let mut all = Vec::new();
            AsyncReadExt::read_to_end(&mut b, &mut all).await.unwrap();
            all
        });
        let mut expected = Vec::new();
        for i in 0..20u8 {
            let queued = pattern(50_000 + i as usize * 999, i);
            let bridged = pattern(30_000, i ^ 0x55);
            expected.extend_from_slice(&queued);
            expected.extend_from_slice(&bridged);
            a.queue_write(queued).await.unwrap();
            AsyncWriteExt::write_all(&mut a, &bridged).await.unwrap();
        }
        let last = pattern(4096, 99);
        expected.extend_from_slice(&last);
        a.queue_write(last).await.unwrap();
        AsyncWriteExt::shutdown(&mut a).await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "the bytes arrived out of order");
    });
}

/// An owned-buffer read served by the bridge (the stream was read through the traits, so
/// its receive is armed) keeps its deadline: with nothing sent it ends `TimedOut` with its
/// buffer, and the bytes sent afterwards go to the next read, none lost.
fn bridged_owned_read_times_out(driver: Driver) {
    block_on(driver, async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        AsyncWriteExt::write_all(&mut a, b"x").await.unwrap();
        let mut first = [0u8; 1];
        AsyncReadExt::read_exact(&mut b, &mut first).await.unwrap();
        let timed = (*b)
            .read(Vec::with_capacity(8))
            .timeout(Duration::from_millis(50));
        let (res, buf) = timeout(Duration::from_secs(10), timed)
            .await
            .expect("the read's own deadline did not end it");
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert_eq!(buf.capacity(), 8, "the buffer comes back with the error");
        AsyncWriteExt::write_all(&mut a, b"late").await.unwrap();
        let (res, buf) = (*b).read(buf).timeout(Duration::from_secs(10)).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(buf, b"late");
    });
}

/// A stream read through the traits keeps a receive armed: `into_std` refuses it rather
/// than lose bytes; a fresh one converts.
fn into_std_after_bridge_reads(driver: Driver) {
    block_on(driver, async {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut buf = [0u8; 4];
        let _ = timeout(Duration::from_millis(5), a.read(&mut buf)).await;
        let err = a.into_std().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ResourceBusy, "{err}");
        let std = b.into_std().unwrap();
        assert!(std.peer_addr().is_ok());
    });
}

/// Bytes accepted go out even when the writer never polls again (no flush, the task
/// waits on something else), and when the stream is dropped right after the write: a
/// pump task of the runtime sends them (before the socket closes).
fn accepted_bytes_go_out_without_flush(driver: Driver) {
    block_on(driver, async {
        let (client, server) = tcp_pair().await;
        // Small socket buffers: the sends must wait for the reader (on epoll, a send left
        // waiting for writability needs a poll to go on).
        socket2::SockRef::from(&client)
            .set_recv_buffer_size(32 * 1024)
            .unwrap();
        socket2::SockRef::from(&server)
            .set_send_buffer_size(32 * 1024)
            .unwrap();
        let (rd, mut wr) = server.into_split();
        let data = pattern(1 << 20, 11);
        let sent = data.clone();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let writer = spawn(async move {
            wr.write_all(&sent[..1000]).await?;
            wr.write_all(&sent[1000..]).await?;
            // Never polls `wr` again until the reader is done.
            util::until(|| done_rx.try_recv().is_ok()).await;
            Ok::<_, io::Error>(wr)
        });
        let mut client = client;
        proactor::time::sleep(Duration::from_millis(30)).await;
        let mut got = vec![0u8; data.len()];
        let read = timeout(Duration::from_secs(20), client.read_exact(&mut got)).await;
        read.expect("the accepted bytes did not arrive").unwrap();
        assert!(got == data, "bytes differ");
        done_tx.send(()).unwrap();
        let wr = writer.await.unwrap().unwrap();

        drop((rd, wr));

        // Dropped with unsent bytes (less than the 64 KiB the stream accepts, more than the
        // socket takes at once), no flush, no shutdown: they still arrive, then EOF.
        let data = pattern(60 * 1024, 12);
        let (client2, server2) = tcp_pair().await;
        socket2::SockRef::from(&client2)
            .set_recv_buffer_size(32 * 1024)
            .unwrap();
        socket2::SockRef::from(&server2)
            .set_send_buffer_size(32 * 1024)
            .unwrap();
        let mut server2 = server2;
        server2.write_all(&data).await.unwrap();
        drop(server2);
        let mut client2 = client2;
        proactor::time::sleep(Duration::from_millis(30)).await;
        let mut all = Vec::new();
        let read = timeout(Duration::from_secs(20), client2.read_to_end(&mut all)).await;
        read.expect("the dropped stream's bytes did not arrive")
            .unwrap();
        assert!(all == data, "a dropped stream lost accepted bytes");
    });
}

on_each_driver!(
    accepted_bytes_go_out_without_flush,
    tokio_copy_between_streams,
    copy_buf_echo_between_halves,
    futures_read_to_end,
    read_cancelled_by_timeout,
    poll_write_pending_when_peer_never_reads,
    reset_peer_gives_connection_reset,
    split_halves,
    styles_keep_byte_order,
    queued_writes_and_the_bridge_keep_byte_order,
    bridged_owned_read_times_out,
    into_std_after_bridge_reads,
);
