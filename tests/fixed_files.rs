//! Registered file slots for sockets: streams take a slot at their first send or receive,
//! name it once it is filled, and give it back when closed, so that the peer sees the close
//! however the stream goes away (inside a `block_on`, at its end, between two, or after the
//! runtime is gone); past the last slot, and with the table off, streams use their fd.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use proactor::buf::IoBuf;
use proactor::net::{TcpListener, TcpStream};
use proactor::{Driver, Runtime};

/// A uring runtime with `slots` fixed-file slots; `None` (with a message) where io_uring or
/// the table is missing (the probe said no: the other tests cover the fd path).
fn uring(slots: u32) -> Option<Runtime> {
    let rt = match Runtime::builder()
        .driver(Driver::Uring)
        .fast_paths(true)
        .fixed_files(slots)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("skipped: io_uring unavailable here: {e}");
            return None;
        }
    };
    if !rt.ring_features().unwrap().fixed_files {
        eprintln!("skipped: this kernel refused a registered file table");
        return None;
    }
    Some(rt)
}

/// A std listener on loopback and a proactor stream connected to it, plus the peer's end.
fn connected(rt: &Runtime) -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = rt.block_on(TcpStream::connect(addr)).unwrap();
    let (peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (stream, peer)
}

/// One round trip: the stream sends `msg`, the peer echoes it, the stream reads it back.
async fn round_trip(stream: &TcpStream, peer: &mut std::net::TcpStream, msg: &[u8]) {
    let (res, _) = stream.write_all(msg.to_vec()).await;
    res.unwrap();
    let mut got = vec![0; msg.len()];
    peer.read_exact(&mut got).unwrap();
    peer.write_all(&got).unwrap();
    let (res, back) = stream.read_exact(vec![0u8; msg.len()]).await;
    res.unwrap();
    assert_eq!(back, msg);
}

/// Three round trips: the first takes the stream's slot, the later ones name it.
async fn round_trips(stream: &TcpStream, peer: &mut std::net::TcpStream, msg: &[u8]) {
    for _ in 0..3 {
        round_trip(stream, peer, msg).await;
    }
}

/// The peer reads EOF (not a timeout: the table must not keep the socket open).
fn assert_eof(peer: &mut std::net::TcpStream) {
    let mut buf = [0u8; 16];
    // Interrupted: a ring being torn down notifies this thread, which cuts short a read
    // with a timeout.
    let res = loop {
        match peer.read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            res => break res,
        }
    };
    match res {
        Ok(0) => {}
        Ok(n) => panic!("unexpected {n} bytes instead of EOF"),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("no EOF within 10 s: the closed stream is still open")
        }
        Err(e) => panic!("peer read failed: {e}"),
    }
}

#[test]
fn streams_take_a_slot_and_give_it_back_on_close() {
    let Some(rt) = uring(64) else { return };
    let mut pairs: Vec<_> = (0..8).map(|_| connected(&rt)).collect();
    assert_eq!(rt.stats().fixed_files, 0, "no slot before any send or recv");
    rt.block_on(async {
        for (i, (stream, peer)) in pairs.iter_mut().enumerate() {
            // Several trips: the later ones name the slot, filled by then.
            for trip in 0..4u8 {
                round_trip(stream, peer, &[i as u8, trip, 42]).await;
            }
        }
    });
    assert_eq!(rt.stats().fixed_files, 8);
    let (streams, mut peers): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
    rt.block_on(async move {
        for stream in streams {
            drop(stream);
        }
        // The slots are emptied at the next turn and reused only after that completed.
        for _ in 0..100 {
            if proactor::runtime::stats().fixed_files == 0 {
                break;
            }
            proactor::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(proactor::runtime::stats().fixed_files, 0);
    });
    peers.iter_mut().for_each(assert_eof);
}

#[test]
fn a_stream_dropped_between_block_ons_closes_at_once() {
    let Some(rt) = uring(8) else { return };
    let (stream, mut peer) = connected(&rt);
    rt.block_on(round_trips(&stream, &mut peer, b"ping"));
    assert_eq!(rt.stats().fixed_files, 1);
    // No turn is coming: the slot is emptied synchronously, so the peer sees the close now.
    drop(stream);
    assert_eof(&mut peer);
    assert_eq!(rt.stats().fixed_files, 0);
    // The slot is free again for the next stream.
    let (stream, mut peer) = connected(&rt);
    rt.block_on(round_trips(&stream, &mut peer, b"pong"));
    assert_eq!(rt.stats().fixed_files, 1);
}

#[test]
fn a_stream_dropped_as_block_on_returns_closes_without_another_turn() {
    let Some(rt) = uring(8) else { return };
    let (stream, mut peer) = connected(&rt);
    rt.block_on(async {
        round_trips(&stream, &mut peer, b"ping").await;
        drop(stream); // queued for a turn that the end of block_on replaces
    });
    assert_eof(&mut peer);
}

#[test]
fn a_stream_dropped_by_a_panicking_block_on_closes() {
    let Some(rt) = uring(8) else { return };
    let (stream, mut peer) = connected(&rt);
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            round_trips(&stream, &mut peer, b"ping").await;
            drop(stream);
            panic!("the future fails after dropping its stream");
        })
    }));
    assert!(res.is_err());
    assert_eof(&mut peer);
    assert_eq!(rt.stats().fixed_files, 0);
}

#[test]
fn a_stream_outliving_its_runtime_still_closes() {
    let Some(rt) = uring(8) else { return };
    let (stream, mut peer) = connected(&rt);
    rt.block_on(round_trips(&stream, &mut peer, b"ping"));
    drop(rt); // unmapping the ring releases the slot
    drop(stream); // closes the fd; the table is gone, nothing else to do
    assert_eof(&mut peer);
}

/// A stream that took a slot on one runtime and is then used on another names its fd
/// there: the other ring's slot of the same number holds another socket.
#[test]
fn a_stream_used_on_another_runtime_never_names_the_first_ones_slot() {
    let Some(rt_a) = uring(8) else { return };
    let (stream_a, mut peer_a) = connected(&rt_a);
    rt_a.block_on(round_trips(&stream_a, &mut peer_a, b"on A"));
    let rt_b = uring(8).unwrap();
    let (stream_b, mut peer_b) = connected(&rt_b);
    rt_b.block_on(async {
        round_trips(&stream_b, &mut peer_b, b"on B").await;
        // stream_a's slot number is in use on B's ring by stream_b.
        round_trips(&stream_a, &mut peer_a, b"A on B").await;
    });
    peer_b.set_nonblocking(true).unwrap();
    let mut stray = [0u8; 16];
    assert!(
        matches!(peer_b.read(&mut stray), Err(e) if e.kind() == ErrorKind::WouldBlock),
        "B's peer got bytes meant for A's"
    );
    drop(rt_a);
    drop(stream_a);
    assert_eof(&mut peer_a);
}

#[test]
fn shutdown_through_the_slot_sends_eof_and_reading_goes_on() {
    let Some(rt) = uring(8) else { return };
    let (stream, mut peer) = connected(&rt);
    rt.block_on(async {
        round_trips(&stream, &mut peer, b"abc").await;
        stream.shutdown(Shutdown::Write).await.unwrap();
        assert_eof(&mut peer);
        peer.write_all(b"after").unwrap();
        let (res, got) = stream.read_exact(vec![0u8; 5]).await;
        res.unwrap();
        assert_eq!(got, b"after");
    });
}

#[test]
fn streams_past_the_last_slot_use_their_fd() {
    let Some(rt) = uring(4) else { return };
    let listener = rt
        .block_on(async { TcpListener::bind("127.0.0.1:0") })
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.block_on(async move {
        let server = proactor::spawn(async move {
            let mut set = proactor::JoinSet::new();
            for _ in 0..16 {
                let (s, _) = listener.accept().await.unwrap();
                set.spawn(async move {
                    let mut buf = vec![0u8; 64];
                    loop {
                        let (res, b) = s.read(buf).await;
                        let n = res.unwrap();
                        if n == 0 {
                            return;
                        }
                        let (res, b) = s.write_all(b.slice(..n)).await;
                        res.unwrap();
                        buf = b.into_inner();
                    }
                });
            }
            while let Some(r) = set.join_next().await {
                r.unwrap();
            }
        });
        let mut clients = Vec::new();
        for i in 0..16u8 {
            let c = TcpStream::connect(addr).await.unwrap();
            for trip in 0..3u8 {
                let (res, _) = c.write_all(vec![i, trip]).await;
                res.unwrap();
                let (res, got) = c.read_exact(vec![0u8; 2]).await;
                res.unwrap();
                assert_eq!(got, [i, trip]);
            }
            clients.push(c);
        }
        // 32 streams (16 each side) want slots; the table has 4.
        assert_eq!(proactor::runtime::stats().fixed_files, 4);
        drop(clients);
        server.await.unwrap();
    });
}

#[test]
fn no_table_when_turned_off_or_without_fast_paths() {
    let Ok(rt) = Runtime::builder()
        .driver(Driver::Uring)
        .fixed_files(0)
        .build()
    else {
        return;
    };
    assert!(!rt.ring_features().unwrap().fixed_files);
    let (stream, mut peer) = connected(&rt);
    rt.block_on(round_trip(&stream, &mut peer, b"plain"));
    assert_eq!(rt.stats().fixed_files, 0);
    let rt = Runtime::builder()
        .driver(Driver::Uring)
        .fast_paths(false)
        .build()
        .unwrap();
    assert!(!rt.ring_features().unwrap().fixed_files);
    let rt = Runtime::builder().driver(Driver::Epoll).build().unwrap();
    let (stream, mut peer) = connected(&rt);
    rt.block_on(round_trip(&stream, &mut peer, b"epoll"));
    assert_eq!(rt.stats().fixed_files, 0);
}
