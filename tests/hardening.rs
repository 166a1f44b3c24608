//! Regression tests of the hardening round: each names the misbehaviour it keeps out (a
//! client or a misuse that could kill, pin or starve the runtime), on both drivers where
//! both can run it. The tests of this file count descriptors, so they run one at a time.

mod util;

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use proactor::buf::{FixedBufPool, IoBuf};
use proactor::fs::File;
use proactor::net::{TcpListener, TcpStream, UnixStream};
use proactor::time::{interval, sleep, timeout};
use proactor::Driver;
use util::{open_fds, runtime, serial, until};

/// A connected TCP pair: a proactor stream and a std peer.
async fn tcp_pair() -> (TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
    let (stream, _) = listener.accept().await.unwrap();
    (stream, peer.join().unwrap())
}

/// A zero-copy send to a peer that stops reading, abandoned by a timeout, does not pin the
/// socket: once its result is in, the dropped send lets go of the fd (its notification
/// needs only the pages), the socket closes with the stream, and dropping the runtime does
/// not wait for a notification that may never come.
#[test]
fn an_abandoned_zero_copy_send_lets_go_of_its_socket() {
    let _serial = serial();
    let rt = runtime(Driver::Uring);
    if !rt.ring_features().unwrap().send_zc {
        eprintln!("skipped: this kernel has no IORING_OP_SEND_ZC");
        return;
    }
    let peer = rt.block_on(async {
        let before = open_fds();
        let (stream, peer) = tcp_pair().await;
        let send = stream.send_zc(vec![7u8; 64 << 20]);
        assert!(timeout(Duration::from_millis(300), send).await.is_err());
        drop(stream);
        until(|| open_fds() == before + 1).await; // only the peer is left
        peer
    });
    let start = Instant::now();
    drop(rt);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the runtime waited {:?} for a notification",
        start.elapsed()
    );
    drop(peer);
}

/// A zero-copy send whose future outlives its runtime's shutdown (the drain gave up on its
/// notification): dropping the future later leaks its buffer, as the drain promised,
/// rather than panicking or freeing pages the kernel may still send from.
#[test]
fn a_zero_copy_send_outliving_its_runtime_is_dropped_quietly() {
    type Send = Pin<Box<dyn Future<Output = proactor::buf::BufResult<usize, Vec<u8>>>>>;
    let _serial = serial();
    let rt = runtime(Driver::Uring);
    if !rt.ring_features().unwrap().send_zc {
        eprintln!("skipped: this kernel has no IORING_OP_SEND_ZC");
        return;
    }
    let (send, peer) = rt.block_on(async {
        let (stream, peer) = tcp_pair().await;
        let stream: &'static TcpStream = Box::leak(Box::new(stream));
        // More than the socket buffers hold: the peer never reads, the send stays in flight.
        let mut send: Send = Box::pin(stream.send_zc(vec![7u8; 64 << 20]));
        for _ in 0..3 {
            poll_fn(|cx| {
                assert!(send.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            sleep(Duration::from_millis(10)).await;
        }
        (send, peer)
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(send)));
    assert!(
        dropped.is_ok(),
        "dropping the send after its runtime panicked"
    );
    drop(peer);
}

thread_local! {
    /// An op future that a buffer's method drops, from inside the driver.
    static VICTIM: RefCell<Option<Pin<Box<dyn Future<Output = ()>>>>> = const { RefCell::new(None) };
}

/// A buffer whose `stable_ptr` drops the victim future: user code running while the driver
/// builds (or, on epoll, runs) the op that owns the buffer.
struct DropsAnOp(Vec<u8>);

// SAFETY: the pointer and lengths are the inner Vec's, whose heap buffer does not move.
unsafe impl IoBuf for DropsAnOp {
    fn stable_ptr(&self) -> *const u8 {
        VICTIM.with(|v| drop(v.borrow_mut().take()));
        self.0.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.0.len()
    }
    fn bytes_total(&self) -> usize {
        self.0.capacity()
    }
}

/// An op dropped while the driver is busy (by an `IoBuf` method the driver calls) is parked
/// at the next turn, not forgotten: its fd closes, nothing stays in flight.
fn an_op_dropped_inside_the_driver_is_not_forgotten(driver: Driver) {
    let _serial = serial();
    let before = open_fds();
    runtime(driver).block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (victim, _keep) = UnixStream::pair().unwrap();
        let mut read = Box::pin(async move {
            let _ = victim.read(Vec::with_capacity(8)).await;
        });
        poll_fn(|cx| {
            assert!(read.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        VICTIM.with(|v| *v.borrow_mut() = Some(read));
        let (res, _) = a.write(DropsAnOp(b"x".to_vec())).await;
        res.unwrap();
        assert!(
            VICTIM.with(|v| v.borrow().is_none()),
            "dropped by the buffer"
        );
        until(|| proactor::runtime::stats().ops_in_flight == 0).await;
        drop((a, b, _keep));
    });
    assert_eq!(open_fds(), before, "the dropped op's fd leaked");
}

/// Offsets above `i64::MAX` are `EINVAL` on every driver, for every positional call (io_uring
/// would take the offset -1 as "the file position" and write at the start).
fn offsets_above_i64_max_are_invalid(driver: Driver) {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, "hello").unwrap();
    runtime(driver).block_on(async {
        let file = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        for pos in [u64::MAX, i64::MAX as u64 + 1] {
            let (res, _) = file.write_at(b"XX".as_slice(), pos).await;
            assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EINVAL));
            let (res, _) = file.read_at(Vec::with_capacity(4), pos).await;
            assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EINVAL));
            let (res, _) = file.write_all_at(b"XX".as_slice(), pos).await;
            assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EINVAL));
            let pool = FixedBufPool::new(1, 4096).unwrap();
            let buf = pool.get().unwrap();
            let (res, buf) = file.read_fixed_at(buf, pos).await;
            assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EINVAL));
            let (res, _) = file.write_fixed_at(buf, pos).await;
            assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EINVAL));
        }
        file.close().await.unwrap();
    });
    assert_eq!(std::fs::read(&path).unwrap(), b"hello");
}

/// A sleep polled on one runtime, then awaited on another (the first dropped, or alive),
/// waits out its deadline on the second: never early, never for ever.
fn a_sleep_moves_to_the_runtime_that_polls_it(driver: Driver) {
    let _serial = serial();
    for keep_first in [false, true] {
        let first = runtime(driver);
        let mut nap = Box::pin(sleep(Duration::from_millis(200)));
        let start = Instant::now();
        first.block_on(poll_fn(|cx| {
            assert!(nap.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        }));
        let kept = keep_first.then_some(first);
        let second = runtime(driver);
        second
            .block_on(timeout(Duration::from_secs(5), nap))
            .expect("never fired");
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(200),
            "fired early: {waited:?}"
        );
        drop(kept);
    }
}

/// An op still in flight on one runtime, polled on another, is a clear panic naming the
/// misuse (another ring holds it), never a hang or a wrong completion.
fn an_op_in_flight_polled_on_another_runtime_panics_clearly(driver: Driver) {
    let _serial = serial();
    let first = runtime(driver);
    let (a, _b) = first.block_on(async { UnixStream::pair().unwrap() });
    let mut read = Box::pin(async move { a.read(Vec::with_capacity(8)).await.0 });
    first.block_on(poll_fn(|cx| {
        assert!(read.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    }));
    let second = runtime(driver);
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        second.block_on(poll_fn(|cx| read.as_mut().poll(cx).map(drop)))
    }));
    let msg = panic_text(&*res.expect_err("polled on another runtime"));
    assert!(
        msg.contains("started on one runtime was polled on another"),
        "{msg}"
    );
    drop(read);
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Intervals and resets saturate: a period too long for an `Instant` never panics.
fn intervals_saturate_instead_of_overflowing(driver: Driver) {
    let _serial = serial();
    runtime(driver).block_on(async {
        let mut never = interval(Duration::MAX);
        never.tick().await; // the first tick is at once
        never.reset();
        assert!(timeout(Duration::from_millis(20), never.tick())
            .await
            .is_err());
        let mut nap = sleep(Duration::MAX);
        let far = Instant::now() + Duration::from_secs(3600);
        assert!(nap.deadline() > far);
        Pin::new(&mut nap).reset(Instant::now());
        nap.await;
    });
}

/// A waker that panics when woken; it counts its wakes.
struct Panics(AtomicUsize);

impl Wake for Panics {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("a waker that panics");
    }
}

struct Counts(AtomicUsize);

impl Wake for Counts {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Timers due together are all woken even when one of their wakers panics: the panic goes
/// on, but no other timer is marked fired and left unwoken.
fn a_panicking_waker_does_not_lose_other_timers(driver: Driver) {
    let _serial = serial();
    let rt = runtime(driver);
    let (bad, good) = (
        Arc::new(Panics(AtomicUsize::new(0))),
        Arc::new(Counts(AtomicUsize::new(0))),
    );
    let (bad_waker, good_waker) = (Waker::from(bad.clone()), Waker::from(good.clone()));
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let deadline = Instant::now() + Duration::from_millis(10);
            let mut naps: Vec<_> = (0..4)
                .map(|_| Box::pin(proactor::time::sleep_until(deadline)))
                .collect();
            for (i, nap) in naps.iter_mut().enumerate() {
                let waker = if i == 1 { &bad_waker } else { &good_waker };
                assert!(nap
                    .as_mut()
                    .poll(&mut Context::from_waker(waker))
                    .is_pending());
            }
            sleep(Duration::from_millis(50)).await;
            drop(naps);
        })
    }));
    assert!(res.is_err(), "the waker's panic goes on");
    assert_eq!(bad.0.load(Ordering::SeqCst), 1);
    assert_eq!(
        good.0.load(Ordering::SeqCst),
        3,
        "a timer was fired and never woken"
    );
}

/// A `FixedBufPool` registered with one runtime's ring works on another runtime: there its
/// buffers are plain memory, read into with a plain read (the other ring registered none of
/// them).
#[test]
fn a_fixed_buffer_pool_works_on_another_runtime() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, "fixed").unwrap();
    let first = runtime(Driver::Uring);
    let pool = first.block_on(async { FixedBufPool::new(2, 4096).unwrap() });
    for second in [runtime(Driver::Uring), runtime(Driver::Epoll)] {
        second.block_on(async {
            let file = File::open(&path).await.unwrap();
            let (res, buf) = file.read_fixed_at(pool.get().unwrap(), 0).await;
            assert_eq!(res.unwrap(), 5, "{:?}", second.driver());
            assert_eq!(&buf[..], b"fixed");
        });
    }
    drop(first);
}

/// A read into a slice that starts past the buffer's initialised bytes shows what it read:
/// the bytes land in the buffer (the gap before them zeroed), never counted yet unseen.
fn a_read_into_a_slice_past_the_initialised_bytes_is_seen(driver: Driver) {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, "hello").unwrap();
    runtime(driver).block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (res, _) = a.write_all(b"hello".as_slice()).await;
        res.unwrap();
        let (res, slice) = b.read(Vec::with_capacity(64).slice(10..)).await;
        assert_eq!(res.unwrap(), 5);
        let buf = slice.into_inner();
        assert_eq!(&buf[..], b"\0\0\0\0\0\0\0\0\0\0hello");
        let file = File::open(&path).await.unwrap();
        let (res, slice) = file.read_at(Vec::with_capacity(64).slice(3..), 0).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(&slice.into_inner()[..], b"\0\0\0hello");
    });
}

on_each_driver!(
    a_read_into_a_slice_past_the_initialised_bytes_is_seen,
    an_op_dropped_inside_the_driver_is_not_forgotten,
    offsets_above_i64_max_are_invalid,
    a_sleep_moves_to_the_runtime_that_polls_it,
    an_op_in_flight_polled_on_another_runtime_panics_clearly,
    intervals_saturate_instead_of_overflowing,
    a_panicking_waker_does_not_lose_other_timers,
);
