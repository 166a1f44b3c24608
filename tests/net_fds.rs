//! Unix stream extras: `peer_cred`, and descriptors passed with `send_fds` / `recv_fds`
//! (`SCM_RIGHTS`): they arrive usable and close-on-exec, a receive dropped in flight leaks
//! none, and a truncated control message is an error that closes what arrived.
//!
//! Every test holds `serial()`: they count this process's descriptors.

mod util;

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::task::Poll;

use proactor::net::{UnixListener, UnixStream};
use proactor::Driver;
use util::{block_on, open_fds, serial, until};

/// A pipe: (read end, write end).
fn pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a live, writable array of two ints.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    // SAFETY: pipe2 just created both descriptors, which nothing else owns.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}

/// `n` temporary files.
fn temp_files(n: usize) -> Vec<std::fs::File> {
    (0..n).map(|_| tempfile::tempfile().unwrap()).collect()
}

fn is_cloexec(fd: &OwnedFd) -> bool {
    // SAFETY: F_GETFD on a descriptor `fd` keeps open takes no pointers.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    assert!(flags >= 0, "{}", io::Error::last_os_error());
    flags & libc::FD_CLOEXEC != 0
}

/// Polls `fut` once, then hands it back (pending) or its output.
async fn poll_once<F: std::future::Future + Unpin>(fut: F) -> Result<F::Output, F> {
    let mut fut = Some(fut);
    std::future::poll_fn(move |cx| {
        let f = fut.as_mut().unwrap();
        match Pin::new(f).poll(cx) {
            Poll::Ready(out) => Poll::Ready(Ok(out)),
            Poll::Pending => Poll::Ready(Err(fut.take().unwrap())),
        }
    })
    .await
}

fn peer_cred_names_this_process(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let (a, b) = UnixStream::pair().unwrap();
        // SAFETY: getuid and getgid take no arguments and cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        for s in [&a, &b] {
            let cred = s.peer_cred().unwrap();
            assert_eq!(cred.pid(), Some(std::process::id() as i32));
            assert_eq!((cred.uid(), cred.gid()), (uid, gid));
        }
        // And over a listener: both ends.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cred.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let client = proactor::spawn(async move { UnixStream::connect(&path).await });
        let (server, _) = listener.accept().await.unwrap();
        let client = client.await.unwrap().unwrap();
        assert_eq!(server.peer_cred().unwrap().uid(), uid);
        assert_eq!(
            client.peer_cred().unwrap().pid(),
            Some(std::process::id() as i32)
        );
    });
}

/// A pipe's read end crosses the socket; what is written to the pipe is read from the
/// received descriptor.
fn passed_fds_read_what_was_written(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let (a, b) = UnixStream::pair().unwrap();
        let (r1, mut w1) = pipe();
        let (r2, mut w2) = pipe();
        let (res, _) = a.send_fds(&b"two fds"[..], &[r1.as_fd(), r2.as_fd()]).await;
        assert_eq!(res.unwrap(), 7);
        drop((r1, r2)); // the peer has its own
        let (res, buf) = b.recv_fds(Vec::with_capacity(64), 4).await;
        let (n, fds) = res.unwrap();
        assert_eq!(&buf[..n], b"two fds");
        assert_eq!(fds.len(), 2);
        assert!(fds.iter().all(is_cloexec), "received fds are close-on-exec");
        w1.write_all(b"first").unwrap();
        w2.write_all(b"second").unwrap();
        drop((w1, w2));
        let mut got = Vec::new();
        for fd in fds {
            let mut s = String::new();
            std::fs::File::from(fd).read_to_string(&mut s).unwrap();
            got.push(s);
        }
        assert_eq!(got, ["first", "second"]);

        // No descriptors: plain bytes, and an empty list back.
        let (res, _) = a.send_fds(&b"none"[..], &[]).await;
        assert_eq!(res.unwrap(), 4);
        let (res, buf) = b.recv_fds(Vec::with_capacity(64), 4).await;
        let (n, fds) = res.unwrap();
        assert_eq!((&buf[..n], fds.len()), (&b"none"[..], 0));
    });
}

/// Many descriptors in one message, and one message after another: each receive takes the
/// descriptors of its own bytes.
fn many_fds_and_messages(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let (a, b) = UnixStream::pair().unwrap();
        let before = open_fds();
        let files = temp_files(32);
        let borrowed: Vec<BorrowedFd<'_>> = files.iter().map(|f| f.as_fd()).collect();
        for round in 0..3u8 {
            let (res, _) = a.send_fds(vec![round], &borrowed).await;
            assert_eq!(res.unwrap(), 1);
        }
        for round in 0..3u8 {
            // One byte at a time: the stream does not merge messages with descriptors.
            let (res, buf) = b.recv_fds(Vec::with_capacity(1), 64).await;
            let (n, fds) = res.unwrap();
            assert_eq!((n, buf[0], fds.len()), (1, round, 32));
        }
        drop(borrowed);
        drop(files);
        assert_eq!(open_fds(), before);
    });
}

/// A receive dropped in flight leaks no descriptor: dropped while waiting (nothing
/// arrived), and dropped after the kernel completed it but before its completion was taken
/// (io_uring: the orphan hook closes what it received).
fn dropped_recv_fds_leaks_nothing(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let (a, b) = UnixStream::pair().unwrap();
        let before = open_fds();

        // Waiting: nothing has arrived yet.
        let pending = poll_once(Box::pin(b.recv_fds(Vec::with_capacity(8), 4))).await;
        let pending = pending.expect_err("nothing to receive yet");
        proactor::nop().await.unwrap(); // the receive is now with the kernel
        drop(pending);

        // Data and descriptors queued before the receive starts: on io_uring it completes
        // at submission, and is dropped before anyone takes the completion.
        let (r, w) = pipe();
        let (res, _) = a.send_fds(&b"x"[..], &[r.as_fd(), w.as_fd()]).await;
        res.unwrap();
        drop((r, w));
        match poll_once(Box::pin(b.recv_fds(Vec::with_capacity(8), 4))).await {
            Ok((res, _)) => drop(res.unwrap()), // epoll: received at the first poll
            Err(inflight) => {
                proactor::nop().await.unwrap(); // submitted, completed, not taken
                drop(inflight);
            }
        }
        until(|| open_fds() <= before).await;
        assert_eq!(open_fds(), before);
        drop((a, b));
    });
}

/// More descriptors than the receive has room for: `MSG_CTRUNC` is an error, the bytes are
/// still in the buffer, and the descriptors that did arrive are closed.
fn truncated_control_is_an_error_and_closes(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let (a, b) = UnixStream::pair().unwrap();
        let before = open_fds();
        let files = temp_files(3);
        let fds: Vec<BorrowedFd<'_>> = files.iter().map(|f| f.as_fd()).collect();
        let (res, _) = a.send_fds(&b"abc"[..], &fds).await;
        assert_eq!(res.unwrap(), 3);
        let (res, _) = a.send_fds(&b"def"[..], &fds).await;
        assert_eq!(res.unwrap(), 3);
        drop(fds);
        drop(files);
        assert_eq!(open_fds(), before);

        let (res, buf) = b.recv_fds(Vec::with_capacity(3), 1).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("MSG_CTRUNC"), "{err}");
        assert_eq!(buf, b"abc");
        assert_eq!(open_fds(), before, "the descriptor that fit was closed");

        // No room at all: the same error, nothing installed.
        let (res, buf) = b.recv_fds(Vec::with_capacity(3), 0).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(buf, b"def");
        assert_eq!(open_fds(), before);
    });
}

fn send_fds_refuses_what_cannot_be_sent(driver: Driver) {
    let _serial = serial();
    block_on(driver, async {
        let (a, _b) = UnixStream::pair().unwrap();
        let (res, _) = a.send_fds(Vec::new(), &[a.as_fd()]).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        let many = vec![a.as_fd(); 254];
        let (res, _) = a.send_fds(&b"x"[..], &many).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    });
}

on_each_driver!(
    peer_cred_names_this_process,
    passed_fds_read_what_was_written,
    many_fds_and_messages,
    dropped_recv_fds_leaks_nothing,
    truncated_control_is_an_error_and_closes,
    send_fds_refuses_what_cannot_be_sent,
);
