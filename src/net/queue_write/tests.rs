//! A dropped stream's queued send is bounded: a peer that never reads holds its buffer and
//! socket for [`LINGER`] (300 ms in these tests), then the send is cancelled and both go.

use std::time::{Duration, Instant};

use crate::net::TcpListener;
use crate::{Driver, Runtime};

#[test]
fn a_dropped_streams_queued_send_is_cancelled_after_the_linger() {
    let Ok(rt) = Runtime::builder().driver(Driver::Uring).build() else {
        eprintln!("skipped: no io_uring here");
        return;
    };
    if !rt.ring_features().is_some_and(|f| f.send_zc) {
        eprintln!("skipped: this ring leaves no send to the kernel (no SEND_ZC)");
        return;
    }
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::net::TcpStream::connect(addr).unwrap(); // never reads
        let (stream, _) = listener.accept().await.unwrap();
        // The send's slot holds its buffer and socket: counted in flight until it is freed.
        let in_flight = || crate::runtime::stats().ops_in_flight;
        let before = in_flight();
        stream.queue_write(vec![5u8; 16 << 20]).await.unwrap(); // left to the kernel
        assert_eq!(in_flight(), before + 1);
        let dropped = Instant::now();
        drop(stream);
        crate::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(in_flight(), before + 1, "held while the send lingers");
        while in_flight() > before {
            assert!(
                dropped.elapsed() < Duration::from_secs(10),
                "never cancelled"
            );
            crate::time::sleep(Duration::from_millis(5)).await;
        }
        // Not before the linger was over.
        assert!(
            dropped.elapsed() >= super::LINGER,
            "{:?}",
            dropped.elapsed()
        );
        drop(peer);
    });
}
