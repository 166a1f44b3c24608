//! Tests of the epoll driver's readiness machinery, through small test-only ops on a
//! non-blocking socketpair.

use std::future::poll_fn;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types};

use super::*;
use crate::driver::{Backend, Op, OpCode};
use crate::runtime::context;
use crate::time::{sleep, timeout};
use crate::{Driver, DriverKind, Runtime};

/// A `recv` into an owned buffer, waiting for readability.
struct Recv {
    fd: SharedFd,
    buf: Vec<u8>,
}

// SAFETY: the SQE points into `buf`, a heap allocation owned by the op, and names `fd`,
// held open by the op's `SharedFd`.
unsafe impl OpCode for Recv {
    type Output = io::Result<Vec<u8>>;

    fn sqe(&mut self) -> squeue::Entry {
        let len = self.buf.capacity() as u32;
        opcode::Recv::new(types::Fd(self.fd.raw()), self.buf.as_mut_ptr(), len).build()
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Read)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let (ptr, len) = (self.buf.as_mut_ptr().cast(), self.buf.capacity());
        // SAFETY: `ptr` points to `len` writable bytes owned by `buf`.
        syscall!(recv(self.fd.raw(), ptr, len, 0)).map(|n| n as u32)
    }

    fn complete(mut self, completion: Completion) -> io::Result<Vec<u8>> {
        let n = completion.result? as usize;
        // SAFETY: the kernel initialised the first `n` bytes of the buffer.
        unsafe { self.buf.set_len(n) };
        Ok(self.buf)
    }
}

/// A `send` of an owned buffer, waiting for writability.
struct Send {
    fd: SharedFd,
    buf: Vec<u8>,
}

// SAFETY: the SQE points into `buf`, a heap allocation owned by the op, and names `fd`,
// held open by the op's `SharedFd`.
unsafe impl OpCode for Send {
    type Output = io::Result<usize>;

    fn sqe(&mut self) -> squeue::Entry {
        let len = self.buf.len() as u32;
        opcode::Send::new(types::Fd(self.fd.raw()), self.buf.as_ptr(), len).build()
    }

    fn mode(&self) -> Mode<'_> {
        Mode::Readiness(&self.fd, Interest::Write)
    }

    fn syscall(&mut self) -> io::Result<u32> {
        let (ptr, len) = (self.buf.as_ptr().cast(), self.buf.len());
        // SAFETY: `ptr` points to `len` readable bytes owned by `buf`.
        syscall!(send(self.fd.raw(), ptr, len, libc::MSG_NOSIGNAL)).map(|n| n as u32)
    }

    fn complete(self, completion: Completion) -> io::Result<usize> {
        completion.result.map(|n| n as usize)
    }
}

async fn recv(fd: &SharedFd, len: usize) -> io::Result<Vec<u8>> {
    let fd = fd.clone();
    Op::new(Recv {
        fd,
        buf: Vec::with_capacity(len),
    })
    .await
}

async fn send(fd: &SharedFd, data: &[u8]) -> io::Result<usize> {
    let fd = fd.clone();
    let buf = data.to_vec();
    Op::new(Send { fd, buf }).await
}

fn socketpair() -> (SharedFd, SharedFd) {
    let mut fds = [0; 2];
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` is a live array of two ints for the call to fill.
    syscall!(socketpair(libc::AF_UNIX, flags, 0, fds.as_mut_ptr())).unwrap();
    // SAFETY: socketpair just returned these two fds, owned by nothing else.
    let own = |fd| SharedFd::new(unsafe { OwnedFd::from_raw_fd(fd) });
    (own(fds[0]), own(fds[1]))
}

fn epoll_runtime() -> Runtime {
    let rt = Runtime::builder().driver(Driver::Epoll).build().unwrap();
    assert_eq!(rt.driver(), DriverKind::Epoll);
    rt
}

/// Runs `f` on the current runtime's epoll driver.
fn with_epoll<R>(f: impl FnOnce(&Epoll) -> R) -> R {
    match &*context::current().driver_mut() {
        Backend::Epoll(d) => f(d),
        Backend::Uring(_) => panic!("not an epoll runtime"),
    }
}

/// Lets the loop turn `n` times (a nop is an immediate op: yield through a timer instead).
async fn turns(n: usize) {
    for _ in 0..n {
        crate::runtime::yield_now().await;
    }
}

#[test]
fn read_waits_for_readiness_then_retries() {
    let rt = epoll_runtime();
    rt.block_on(async {
        let (a, b) = socketpair();
        let reader = crate::spawn({
            let a = a.clone();
            async move { recv(&a, 64).await }
        });
        turns(3).await;
        assert_eq!(with_epoll(|d| d.waiting), 1, "the read must be waiting");
        assert!(!reader.is_finished());
        assert_eq!(send(&b, b"ping").await.unwrap(), 4);
        let got = timeout(Duration::from_secs(10), reader).await;
        assert_eq!(got.unwrap().unwrap().unwrap(), b"ping");
        let stats = crate::runtime::stats();
        assert_eq!(stats.ops_in_flight, 0);
        assert!(stats.submissions >= 3, "attempt, retry and send: {stats:?}");
        assert!(
            stats.completions >= 1,
            "a readiness event was handled: {stats:?}"
        );
        // One registration per fd, however many ops use it.
        for _ in 0..3 {
            send(&b, b"x").await.unwrap();
            recv(&a, 8).await.unwrap();
        }
        assert_eq!(with_epoll(|d| d.fds.len()), 1);
    });
}

#[test]
fn write_waits_for_room_then_completes() {
    let rt = epoll_runtime();
    rt.block_on(async {
        let (a, b) = socketpair();
        let chunk = vec![7u8; 64 * 1024];
        let total = 64 * chunk.len();
        // Far more than a socket buffer holds: the writer must wait for room.
        let writer = crate::spawn({
            let a = a.clone();
            async move {
                let mut sent = 0;
                while sent < total {
                    sent += send(&a, &chunk[..(total - sent).min(chunk.len())]).await?;
                }
                io::Result::Ok(sent)
            }
        });
        turns(3).await;
        assert_eq!(
            with_epoll(|d| d.waiting),
            1,
            "the writer must wait for room"
        );
        let mut received = 0;
        while received < total {
            let got = timeout(Duration::from_secs(10), recv(&b, 256 * 1024)).await;
            let n = got.expect("the reader starved").unwrap().len();
            assert!(n > 0, "unexpected EOF");
            received += n;
        }
        assert_eq!(writer.await.unwrap().unwrap(), received);
        assert_eq!(crate::runtime::stats().ops_in_flight, 0);
    });
}

#[test]
fn dropping_a_waiting_op_leaves_nothing_in_flight() {
    let rt = epoll_runtime();
    rt.block_on(async {
        let (a, _b) = socketpair();
        for _ in 0..3 {
            let res = timeout(Duration::from_millis(5), recv(&a, 16)).await;
            assert!(res.is_err(), "nothing was sent: the read must time out");
            assert_eq!(crate::runtime::stats().ops_in_flight, 0);
            assert!(
                a.poll_state().readers.borrow().is_empty(),
                "waker left behind"
            );
        }
    });
    assert_eq!(rt.stats().ops_in_flight, 0);
}

#[test]
fn closed_fds_free_their_slots() {
    let rt = epoll_runtime();
    rt.block_on(async {
        for _ in 0..4 {
            let (a, b) = socketpair();
            let waiting = timeout(Duration::from_millis(1), recv(&a, 16)).await;
            assert!(waiting.is_err());
            assert_eq!(with_epoll(|d| d.fds.len()), 1);
            drop((a, b));
            turns(2).await;
            assert_eq!(with_epoll(|d| d.fds.len()), 0, "slot of a closed fd kept");
        }
    });
}

#[test]
fn peer_close_wakes_a_waiting_read() {
    let rt = epoll_runtime();
    rt.block_on(async {
        let (a, b) = socketpair();
        let reader = crate::spawn(async move { recv(&a, 16).await });
        turns(3).await;
        drop(b);
        let got = timeout(Duration::from_secs(10), reader).await.unwrap();
        assert!(
            got.unwrap().unwrap().is_empty(),
            "EOF after the peer closed"
        );
    });
}

#[derive(Default)]
struct Flag {
    set: bool,
    waker: Option<Waker>,
}

#[test]
fn another_thread_wakes_the_parked_loop() {
    let rt = epoll_runtime();
    let flag = Arc::new(Mutex::new(Flag::default()));
    let remote = flag.clone();
    let waker_thread = std::thread::spawn(move || {
        // Wait until the loop has registered its waker (and is about to park or parked).
        loop {
            let mut f = remote.lock().unwrap();
            if let Some(w) = f.waker.take() {
                f.set = true;
                drop(f);
                std::thread::sleep(Duration::from_millis(20));
                w.wake();
                return;
            }
            drop(f);
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let woken = rt.block_on(timeout(
        Duration::from_secs(10),
        poll_fn(|cx| {
            let mut f = flag.lock().unwrap();
            if f.set && f.waker.is_none() {
                return Poll::Ready(());
            }
            f.waker = Some(cx.waker().clone());
            Poll::Pending
        }),
    ));
    waker_thread.join().unwrap();
    assert!(
        woken.is_ok(),
        "the eventfd wake did not reach the parked epoll_wait"
    );
    assert!(rt.stats().parks >= 1);
}

#[test]
fn timers_fire_on_epoll_and_never_early() {
    let rt = epoll_runtime();
    rt.block_on(async {
        for d in [Duration::from_micros(300), Duration::from_millis(3)] {
            let start = Instant::now();
            sleep(d).await;
            assert!(start.elapsed() >= d, "a {d:?} sleep fired early");
        }
        let (slow, fast) = (
            sleep(Duration::from_millis(20)),
            sleep(Duration::from_millis(2)),
        );
        let first = crate::spawn(async move {
            fast.await;
            1
        });
        assert_eq!(
            timeout(Duration::from_secs(10), first)
                .await
                .unwrap()
                .unwrap(),
            1
        );
        slow.await;
    });
    assert!(rt.stats().enters >= 1);
}

#[test]
fn immediate_ops_run_inline() {
    let rt = epoll_runtime();
    rt.block_on(async {
        for _ in 0..10 {
            crate::nop().await.unwrap();
        }
        let stats = crate::runtime::stats();
        assert_eq!(stats.submissions, 10);
        assert_eq!(stats.ops_in_flight, 0);
    });
}

#[test]
fn millisecond_timeouts_round_up() {
    assert_eq!(timeout_ms(None), -1);
    assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
    assert_eq!(timeout_ms(Some(Duration::from_nanos(1))), 1);
    assert_eq!(timeout_ms(Some(Duration::from_millis(1))), 1);
    assert_eq!(timeout_ms(Some(Duration::from_micros(1001))), 2);
    assert_eq!(
        timeout_ms(Some(Duration::from_secs(u64::MAX))),
        libc::c_int::MAX
    );
}

#[test]
fn fd_state_wakes_each_direction_once() {
    let state = FdState::default();
    let (count, waker) = {
        struct Count(std::sync::atomic::AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let c = Arc::new(Count(0.into()));
        (c.clone(), Waker::from(c))
    };
    state.set_waker(Interest::Read, 1, &waker);
    state.set_waker(Interest::Read, 1, &waker);
    state.set_waker(Interest::Write, 2, &waker);
    assert_eq!(state.readers.borrow().len(), 1, "one entry per waiter");
    state.on_event(libc::EPOLLOUT as u32);
    assert!(state.is_ready(Interest::Write) && !state.is_ready(Interest::Read));
    assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    state.on_event(libc::EPOLLRDHUP as u32);
    assert!(state.is_ready(Interest::Read));
    assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(state.readers.borrow().is_empty() && state.writers.borrow().is_empty());
}

#[test]
fn stale_tokens_are_ignored() {
    let rt = epoll_runtime();
    rt.block_on(async {
        let token_of = |fd: &SharedFd| {
            let reg = fd.poll_state().registration.take();
            let token = reg.as_ref().map(|r| r.token).expect("registered");
            fd.poll_state().registration.set(reg);
            token
        };
        let (a, _b) = socketpair();
        assert!(timeout(Duration::from_millis(1), recv(&a, 8))
            .await
            .is_err());
        let old = token_of(&a);
        drop(a);
        turns(2).await;
        let (c, _d) = socketpair();
        assert!(timeout(Duration::from_millis(1), recv(&c, 8))
            .await
            .is_err());
        let new = token_of(&c);
        assert_eq!(slot_key(old), slot_key(new), "the slot is reused");
        assert_ne!(old, new, "with a new generation");
        match &mut *context::current().driver_mut() {
            Backend::Epoll(d) => d.dispatch(old, libc::EPOLLIN as u32),
            Backend::Uring(_) => unreachable!(),
        }
        assert!(
            !c.poll_state().is_ready(Interest::Read),
            "a stale event reached a new fd"
        );
    });
}

#[test]
fn an_fd_wrapped_again_takes_its_registration_over() {
    let rt = epoll_runtime();
    rt.block_on(async {
        let (a, b) = socketpair();
        assert!(timeout(Duration::from_millis(1), recv(&a, 8))
            .await
            .is_err());
        // Given away while still in the epoll set, then wrapped in a new handle.
        let a = SharedFd::new(a.try_unwrap().expect("the only handle"));
        turns(2).await;
        let reader = crate::spawn({
            let a = a.clone();
            async move { recv(&a, 8).await }
        });
        turns(3).await;
        assert_eq!(with_epoll(|d| d.waiting), 1);
        send(&b, b"again").await.unwrap();
        let got = timeout(Duration::from_secs(10), reader).await;
        assert_eq!(got.unwrap().unwrap().unwrap(), b"again");
        assert_eq!(with_epoll(|d| d.fds.len()), 1, "the old slot was freed");
    });
}

#[test]
fn a_task_looping_on_ready_ops_yields_to_others() {
    let rt = epoll_runtime();
    rt.block_on(async {
        let other_ran = std::rc::Rc::new(std::cell::Cell::new(false));
        let spinner = crate::spawn({
            let other_ran = other_ran.clone();
            async move {
                let mut n = 0;
                // Every nop completes at its first poll: only the budget makes it yield.
                while !other_ran.get() && n < 100_000 {
                    crate::nop().await.unwrap();
                    n += 1;
                }
                n
            }
        });
        let other = crate::spawn(async move { other_ran.set(true) });
        let n = spinner.await.unwrap();
        other.await.unwrap();
        // The op that found the budget spent completes once the task runs again.
        assert!(
            n <= BUDGET as usize + 1,
            "the spinner ran {n} ops without yielding"
        );
    });
}
