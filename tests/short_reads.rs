//! Stream reads that come back short. On a TCP stream a short read empties the receive
//! queue, and the epoll backend then waits for the next edge instead of trying a read that
//! would fail with `EAGAIN`; but a read also stops short with data still queued — at a TCP
//! urgent mark, or at a Unix stream message that carries descriptors — and then the data
//! behind must still be read, not wait for an edge that never comes.

mod util;

use std::future::Future;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use proactor::buf::BufResult;
use proactor::net::{TcpListener, TcpStream, UnixStream};
use proactor::time::timeout;
use proactor::{spawn, Driver};
use util::block_on;

/// Polls `fut` once: its output if it is ready at once.
async fn poll_once<F: Future>(mut fut: Pin<&mut F>) -> Option<F::Output> {
    std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(out) => Poll::Ready(Some(out)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// Reads until `want` bytes came (after the `first` of them), each read bounded by a
/// generous limit that only a stall reaches.
async fn read_on<R, F>(mut read: R, mut got: Vec<u8>, want: usize) -> Vec<u8>
where
    R: FnMut() -> F,
    F: Future<Output = BufResult<usize, Vec<u8>>>,
{
    while got.len() < want {
        match timeout(Duration::from_secs(10), read()).await {
            Ok((Ok(n), buf)) => {
                assert!(
                    n > 0,
                    "end of stream after {:?}",
                    String::from_utf8_lossy(&got)
                );
                got.extend_from_slice(&buf);
            }
            Ok((Err(e), _)) => panic!("read failed: {e}"),
            Err(_) => panic!("stalled after {:?}", String::from_utf8_lossy(&got)),
        }
    }
    got
}

/// A connected pair: a std client, blocking, and the runtime's end.
async fn tcp_pair() -> (std::net::TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.set_nodelay(true).unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// The peer sends `hello`, one urgent byte, `world`, all while a read waits: the read that
/// stops at the urgent mark is followed by the data behind it (the urgent byte itself is
/// out of band).
fn data_behind_an_urgent_mark_is_read(driver: Driver) {
    block_on(driver, async {
        let (mut client, server) = tcp_pair().await;
        let mut first = pin!(server.read(Vec::with_capacity(1)));
        assert!(
            poll_once(first.as_mut()).await.is_none(),
            "nothing was sent yet"
        );
        client.write_all(b"hello").unwrap();
        // SAFETY: `send` reads one byte from a live static buffer; the fd is open.
        let sent =
            unsafe { libc::send(client.as_raw_fd(), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
        assert_eq!(sent, 1);
        client.write_all(b"world").unwrap();
        let (res, first) = first.await;
        assert_eq!(res.unwrap(), 1);
        let got = read_on(|| server.read(Vec::with_capacity(1024)), first, 10).await;
        assert_eq!(got, b"helloworld");
    });
}

/// Sends `data` on the Unix stream `fd` with `passed` riding along (`SCM_RIGHTS`).
fn send_with_fd(fd: i32, data: &[u8], passed: i32) {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(4) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)]; // aligned for cmsghdr
                                                     // SAFETY: an all-zero msghdr is a valid empty one.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: `msg` names a control buffer of `space` bytes, room for one header with one
    // descriptor, so CMSG_FIRSTHDR is non-null and its data holds an i32; `iov` and
    // `control` outlive the `sendmsg` call, which only reads them.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>(), passed);
        assert_eq!(libc::sendmsg(fd, &msg, 0), data.len() as isize);
    }
}

/// The peer sends `hello`, then `world` carrying a descriptor, then `again`, all while a
/// read waits: a read stops before the message that carries the descriptor, and the data
/// behind it is read all the same.
fn data_behind_passed_descriptors_is_read(driver: Driver) {
    block_on(driver, async {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (mut peer, b) = (a, UnixStream::from_std(b).unwrap());
        let mut first = pin!(b.read(Vec::with_capacity(1)));
        assert!(
            poll_once(first.as_mut()).await.is_none(),
            "nothing was sent yet"
        );
        peer.write_all(b"hello").unwrap();
        let passed = std::fs::File::open("/dev/null").unwrap();
        send_with_fd(peer.as_raw_fd(), b"world", passed.as_raw_fd());
        peer.write_all(b"again").unwrap();
        let (res, first) = first.await;
        assert_eq!(res.unwrap(), 1);
        let got = read_on(|| b.read(Vec::with_capacity(1024)), first, 15).await;
        assert_eq!(got, b"helloworldagain");
    });
}

on_each_driver!(
    data_behind_an_urgent_mark_is_read,
    data_behind_passed_descriptors_is_read,
);

/// On epoll, a TCP read that comes back short is not followed by a read that would only
/// find the socket empty: a reader waiting for each message costs one system call per
/// message (the plain epoll loop's count), not an extra one that fails with `EAGAIN`.
#[test]
fn epoll_reads_a_tcp_stream_once_per_message() {
    const MESSAGES: u64 = 100;
    block_on(Driver::Epoll, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (b, _) = listener.accept().await.unwrap();
        a.set_nodelay(true).unwrap();
        let got = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let reader = spawn({
            let got = got.clone();
            async move {
                for _ in 0..MESSAGES {
                    let (res, _) = b.read(Vec::with_capacity(64)).await;
                    assert_eq!(res.unwrap(), 10);
                    got.set(got.get() + 1);
                }
            }
        });
        proactor::task::yield_now().await; // the reader waits for the first message
        let before = proactor::runtime::stats().submissions;
        for i in 0..MESSAGES {
            a.write(vec![1u8; 10]).await.0.unwrap();
            while got.get() <= i {
                proactor::task::yield_now().await;
            }
        }
        reader.await.unwrap();
        let calls = proactor::runtime::stats().submissions - before;
        assert!(
            calls <= 2 * MESSAGES + 2,
            "{calls} system calls for {MESSAGES} messages (a write and a read each)"
        );
    });
}
