//! `queue_write`: the bytes keep their order with the stream's other writes, go out even
//! when the stream is dropped right after, a failure is told by the next call, and the
//! buffer lives until the kernel is done with it and is freed then, without another call.

mod util;

use std::io::{ErrorKind, Read, Write as _};
use std::net::Shutdown;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use proactor::buf::BufRing;
use proactor::net::{TcpListener, TcpStream};
use proactor::{spawn, Driver};
use util::block_on;

/// A connected pair: the runtime's end, and a std end for a thread.
async fn pair() -> (TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::net::TcpStream::connect(addr).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    (stream, peer)
}

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed * 7)) as u8)
        .collect()
}

/// A send buffer of about 16 KiB on `stream`: its sends wait for room often.
fn small_send_buffer(stream: &TcpStream) {
    socket2::SockRef::from(stream)
        .set_send_buffer_size(16 * 1024)
        .unwrap();
}

/// Reads `peer` to its end, on a thread.
fn read_to_end(mut peer: std::net::TcpStream) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut all = Vec::new();
        peer.read_to_end(&mut all).unwrap();
        all
    })
}

/// What the peer got is `expected`, byte for byte and in order.
fn assert_in_order(got: &[u8], expected: &[u8], what: &str) {
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "{what}");
}

fn queued_writes_keep_their_order(driver: Driver) {
    block_on(driver, async {
        let (stream, mut peer) = pair().await;
        // Small socket buffers and a reader taking little at a time: sends wait for room
        // often, where one overtaking another would show.
        small_send_buffer(&stream);
        socket2::SockRef::from(&peer)
            .set_recv_buffer_size(16 * 1024)
            .unwrap();
        let reader = thread::spawn(move || {
            let (mut all, mut piece) = (Vec::new(), [0u8; 1500]);
            loop {
                match peer.read(&mut piece).unwrap() {
                    0 => return all,
                    n => all.extend_from_slice(&piece[..n]),
                }
            }
        });
        let sizes = [1, 64, 4096, 65_536, 7, 100_000, 3, 20_000, 250_000];
        let mut expected = Vec::new();
        for i in 0..90 {
            let chunk = pattern(sizes[i % sizes.len()], i);
            expected.extend_from_slice(&chunk);
            match i % 11 {
                // The other writes wait for the queued send before them.
                5 => stream.write_all(chunk).await.0.unwrap(),
                10 => {
                    let (res, buf) = stream.write(chunk).await;
                    let n = res.unwrap();
                    stream.queue_write(buf[n..].to_vec()).await.unwrap();
                }
                _ => stream.queue_write(chunk).await.unwrap(),
            }
        }
        // The shutdown comes after the last queued send, and tells its failure if any.
        stream.shutdown(Shutdown::Write).await.unwrap();
        let got = reader.join().unwrap();
        assert_in_order(&got, &expected, "the bytes arrived out of order");
    });
}

/// A write takes its place in the stream's order when it is first polled, not when its
/// future is made: one made before a queued write but polled after it waits for its send.
fn a_write_made_before_a_queued_write_waits_for_it(driver: Driver) {
    block_on(driver, async {
        let (stream, peer) = pair().await;
        small_send_buffer(&stream);
        let reader = read_to_end(peer);
        let (a, b) = (pattern(1 << 20, 1), pattern(1 << 20, 2));
        let later = stream.write_all(b.clone());
        stream.queue_write(a.clone()).await.unwrap();
        later.await.0.unwrap();
        stream.shutdown(Shutdown::Write).await.unwrap();
        let got = reader.join().unwrap();
        let expected = [a, b].concat();
        assert_in_order(&got, &expected, "a write overtook a queued send");
    });
}

/// A queued write still writing (its send left to the kernel, or, where it cannot be, its
/// `write_all` waiting for room) holds the stream's order: a write polled while it does
/// waits, even when the socket has room for it by then.
fn a_write_polled_behind_a_pending_queued_write_waits(driver: Driver) {
    block_on(driver, async {
        let (stream, mut peer) = pair().await;
        small_send_buffer(&stream);
        let (go, wait) = mpsc::channel::<usize>();
        let (took, taken) = mpsc::channel::<()>();
        let reader = thread::spawn(move || {
            let mut all = Vec::new();
            while let Ok(n) = wait.recv() {
                // What the socket holds, up to `n`: room for the writer.
                let mut piece = vec![0u8; n];
                let got = peer.read(&mut piece).unwrap();
                all.extend_from_slice(&piece[..got]);
                took.send(()).unwrap();
            }
            peer.read_to_end(&mut all).unwrap();
            all
        });
        let (c, a) = (pattern(512 << 10, 3), pattern(64 << 10, 4));
        // Far more than the socket takes: pending on epoll, left to the kernel on io_uring.
        let mut queued = Box::pin(stream.queue_write(c.clone()));
        let first = util::poll_once(&mut queued).await;
        // Room for the next write, which must wait all the same.
        go.send(256 << 10).unwrap();
        util::until(|| taken.try_recv().is_ok()).await;
        let mut next = Box::pin(stream.write_all(a.clone()));
        assert!(util::poll_once(&mut next).await.is_pending());
        drop(go); // the reader takes the rest
        if first.is_pending() {
            queued.await.unwrap();
        }
        next.await.0.unwrap();
        stream.shutdown(Shutdown::Write).await.unwrap();
        let got = reader.join().unwrap();
        let expected = [c, a].concat();
        assert_in_order(&got, &expected, "a write overtook a queued write");
    });
}

fn a_queued_write_goes_out_after_the_stream_is_dropped(driver: Driver) {
    block_on(driver, async {
        let (stream, mut peer) = pair().await;
        let guard = Arc::new(());
        let data = pattern(8 << 20, 1); // far more than the socket buffers hold
        let buf = util::ArcBuf {
            data: data.clone(),
            _guard: guard.clone(),
        };
        let (go, wait) = mpsc::channel::<()>();
        let reader = thread::spawn(move || {
            wait.recv().unwrap();
            let mut all = Vec::new();
            peer.read_to_end(&mut all).unwrap();
            all
        });
        let write = spawn(async move {
            let res = stream.queue_write(buf).await;
            drop(stream);
            res
        });
        for _ in 0..20 {
            proactor::nop().await.unwrap();
        }
        if write.is_finished() {
            // Left to the kernel, which cannot finish it while nobody reads: the driver
            // still holds the buffer, though its stream is gone (`[parked-on-drop]`).
            assert_eq!(
                Arc::strong_count(&guard),
                2,
                "the buffer was freed in flight"
            );
        }
        go.send(()).unwrap();
        write.await.unwrap().unwrap();
        let got = reader;
        // Freed once sent, with no call on anything: nobody is left to make one.
        util::until(|| Arc::strong_count(&guard) == 1).await;
        // The socket closes after the send (its registered slot empties at a turn).
        util::until(|| got.is_finished()).await;
        let got = got.join().unwrap();
        assert!(
            got == data,
            "{} of {} bytes, or out of order",
            got.len(),
            data.len()
        );
    });
}

fn a_failed_queued_write_is_told_by_the_next_call(driver: Driver) {
    block_on(driver, async {
        let (stream, peer) = pair().await;
        socket2::SockRef::from(&peer)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(peer); // a reset
                    // The reset has arrived once a read sees it.
        let (res, _) = stream.read(Vec::with_capacity(16)).await;
        assert!(matches!(res, Ok(0) | Err(_)), "{res:?}");
        // Handed to the kernel (io_uring), the send fails there: the failure is told by
        // the next call, here the shutdown; elsewhere by the write itself.
        let first = stream.queue_write(vec![7u8; 4096]).await;
        let next = stream.shutdown(Shutdown::Write).await;
        let e = first
            .err()
            .or(next.err())
            .expect("a write to a reset peer failed");
        assert!(
            matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            "{e}"
        );
    });
}

fn pool_buffers_come_back_as_their_sends_complete(driver: Driver) {
    block_on(driver, async {
        let pool = BufRing::builder().count(8).size(256).build().unwrap();
        let (stream, mut peer) = pair().await;
        let echo = {
            let pool = pool.clone();
            spawn(async move {
                let mut recv = stream.recv_multi(&pool);
                while let Some(buf) = recv.next().await {
                    stream.queue_write(buf.unwrap()).await.unwrap();
                }
            })
        };
        let client = thread::spawn(move || {
            for i in 0..200 {
                let msg = pattern(1 + i % 200, i);
                peer.write_all(&msg).unwrap();
                let mut back = vec![0u8; msg.len()];
                peer.read_exact(&mut back).unwrap();
                assert!(back == msg, "echo {i} differs");
            }
            peer
        });
        util::until(|| client.is_finished()).await;
        // Every echo was received, so every send completed: each buffer went back to the
        // pool then, while the connection idles in its receive.
        util::until(|| pool.available() == 8).await;
        drop(client.join().unwrap()); // EOF: the echo task ends
        echo.await.unwrap();
    });
}

fn dropping_the_runtime_lets_a_queued_write_finish(driver: Driver) {
    let guard = Arc::new(());
    let data = pattern(8 << 20, 3);
    let rt = util::runtime(driver);
    let reader = rt.block_on(async {
        let (stream, mut peer) = pair().await;
        let buf = util::ArcBuf {
            data: data.clone(),
            _guard: guard.clone(),
        };
        let reader = thread::spawn(move || {
            let mut all = Vec::new();
            peer.read_to_end(&mut all).unwrap();
            all
        });
        // On io_uring ready at once, most of the bytes not sent yet: the runtime goes next.
        stream.queue_write(buf).await.unwrap();
        reader
    });
    drop(rt); // lets the send finish before it cancels anything
    assert_eq!(
        Arc::strong_count(&guard),
        1,
        "the buffer outlived its runtime"
    );
    let got = reader.join().unwrap();
    assert!(
        got == data,
        "{} of {} bytes, or out of order",
        got.len(),
        data.len()
    );
}

fn a_shutdown_deadline_cancels_a_queued_write_and_frees_it(driver: Driver) {
    let guard = Arc::new(());
    let rt = util::runtime(driver);
    let peer = rt.block_on(async {
        let (stream, peer) = pair().await;
        let buf = util::ArcBuf {
            data: vec![1u8; 8 << 20],
            _guard: guard.clone(),
        };
        // Nobody reads: on io_uring the send is left to the kernel and stays in flight;
        // elsewhere the write waits, and is given up at the deadline.
        let write = stream.queue_write(buf);
        let _ = proactor::time::timeout(Duration::from_millis(50), write).await;
        peer
    });
    // Past the deadline the send is cancelled, and its buffer freed once it completes.
    rt.shutdown_timeout(Duration::from_millis(100));
    assert_eq!(
        Arc::strong_count(&guard),
        1,
        "the buffer outlived its runtime"
    );
    drop(peer);
}

/// With a linger of zero the runtime's drop cancels a queued send at once, as any other
/// operation: what the peer had not taken is dropped, the buffer is freed, and the drop
/// does not wait out the default 10 s.
fn a_zero_linger_drops_a_queued_write_with_the_runtime(driver: Driver) {
    let guard = Arc::new(());
    let rt = proactor::Builder::new()
        .driver(driver)
        .queue_write_linger(Duration::ZERO)
        .build()
        .unwrap();
    let (peer, len) = rt.block_on(async {
        let (stream, peer) = pair().await;
        let buf = util::ArcBuf {
            data: vec![1u8; 8 << 20],
            _guard: guard.clone(),
        };
        // Nobody reads yet: on io_uring left to the kernel; elsewhere given up at the
        // deadline.
        let _ = proactor::time::timeout(Duration::from_millis(50), stream.queue_write(buf)).await;
        (peer, 8 << 20)
    });
    let dropped = std::time::Instant::now();
    drop(rt);
    assert!(
        dropped.elapsed() < Duration::from_secs(5),
        "the drop waited for the send"
    );
    assert_eq!(
        Arc::strong_count(&guard),
        1,
        "the buffer outlived its runtime"
    );
    let mut peer = peer;
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    assert!(
        got.len() < len,
        "all of it arrived, though nobody read before the drop"
    );
}

on_each_driver!(
    queued_writes_keep_their_order,
    a_write_made_before_a_queued_write_waits_for_it,
    a_write_polled_behind_a_pending_queued_write_waits,
    a_queued_write_goes_out_after_the_stream_is_dropped,
    a_failed_queued_write_is_told_by_the_next_call,
    pool_buffers_come_back_as_their_sends_complete,
    dropping_the_runtime_lets_a_queued_write_finish,
    a_shutdown_deadline_cancels_a_queued_write_and_frees_it,
    a_zero_linger_drops_a_queued_write_with_the_runtime,
);
