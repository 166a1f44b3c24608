//! Helpers shared by the integration tests.
//!
//! Every test that exercises the runtime is written as `fn name(driver: Driver)` and
//! instantiated once per driver by [`on_each_driver!`], so the suite reports each test per
//! driver (`uring::name`, `epoll::name`).

#![allow(dead_code)]

use std::future::Future;

use proactor::{Driver, Runtime};

/// A runtime on `driver`; panics with the reason when it cannot be built.
pub fn runtime(driver: Driver) -> Runtime {
    Runtime::builder()
        .driver(driver)
        .build()
        .unwrap_or_else(|e| panic!("cannot build a {driver:?} runtime: {e}"))
}

/// Runs `fut` on a fresh runtime on `driver`.
pub fn block_on<F: Future>(driver: Driver, fut: F) -> F::Output {
    runtime(driver).block_on(fut)
}

/// Instantiates each named `fn(Driver)` as a `#[test]` once per driver.
#[macro_export]
macro_rules! on_each_driver {
    ($($name:ident),* $(,)?) => {
        mod uring {
            $(
                #[test]
                fn $name() {
                    super::$name(proactor::Driver::Uring)
                }
            )*
        }
        mod epoll {
            $(
                #[test]
                fn $name() {
                    super::$name(proactor::Driver::Epoll)
                }
            )*
        }
    };
}

/// A connected pair of TCP streams over loopback: (client, server).
pub async fn tcp_pair() -> (proactor::net::TcpStream, proactor::net::TcpStream) {
    let listener = proactor::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = proactor::net::TcpStream::connect(addr).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// The number of descriptors this process holds open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A lock for the tests of one file that count descriptors: held while a test runs, so no
/// other test of the file opens or closes one meanwhile.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Polls `fut` once (starting its operation) and gives what that poll gave.
pub async fn poll_once<F: Future + Unpin>(fut: &mut F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx))).await
}

/// Turns the current runtime until `cond` holds (within 10 s): sleeps of 1 ms.
pub async fn until(mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "not within 10 s");
        proactor::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// A buffer that holds an `Arc`, to see when the driver lets go of it.
pub struct ArcBuf {
    pub data: Vec<u8>,
    pub _guard: std::sync::Arc<()>,
}

// SAFETY: delegates to the Vec, whose heap pointer is stable across moves.
unsafe impl proactor::buf::IoBuf for ArcBuf {
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

// SAFETY: delegates to the Vec.
unsafe impl proactor::buf::IoBufMut for ArcBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: forwarded from the caller's guarantee.
        unsafe { proactor::buf::IoBufMut::set_init(&mut self.data, pos) }
    }
}

/// Waits for `fut` on the calling thread, parking between polls: how a plain thread (not a
/// runtime's) awaits a `JoinHandle`. Panics if it takes more than 20 s.
pub fn wait<F: Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        let now = std::time::Instant::now();
        assert!(now < deadline, "not ready within 20 s");
        std::thread::park_timeout(deadline - now);
    }
}
