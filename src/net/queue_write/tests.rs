//! A dropped stream's queued send is bounded: a peer that never reads holds its buffer and
//! socket for [`LINGER`] (300 ms in these tests), then the send is cancelled and both go.

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::buf::IoBuf;
use crate::net::TcpListener;
use crate::{Driver, Runtime};

/// A buffer whose drop shows through an `Rc`.
struct Witnessed {
    data: Vec<u8>,
    _witness: Rc<()>,
}

// SAFETY: the pointer is the Vec's heap allocation, stable across moves of the struct.
unsafe impl IoBuf for Witnessed {
    fn stable_ptr(&self) -> *const u8 {
        self.data.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.data.len()
    }
    fn bytes_total(&self) -> usize {
        self.data.capacity()
    }
}

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
        let witness = Rc::new(());
        let buf = Witnessed {
            data: vec![5u8; 16 << 20],
            _witness: witness.clone(),
        };
        stream.queue_write(buf).await.unwrap(); // left to the kernel
        let dropped = Instant::now();
        drop(stream);
        crate::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(Rc::strong_count(&witness), 2, "held while the send lingers");
        while Rc::strong_count(&witness) > 1 {
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
