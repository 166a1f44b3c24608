//! Vectored I/O: `read_vectored` / `write_vectored` on TCP and Unix streams, `send_msg` /
//! `recv_msg` on UDP, `read_vectored_at` / `write_vectored_at` on files; buffers filled in
//! order and given back, a dropped vectored read, and the `IOV_MAX` limit.

mod util;

use proactor::buf::IoBuf;
use proactor::fs::File;
use proactor::net::{UdpSocket, UnixStream};
use proactor::Driver;
use util::{block_on, tcp_pair};

/// Buffers of the given capacities, empty.
fn bufs(caps: &[usize]) -> Vec<Vec<u8>> {
    caps.iter().map(|&c| Vec::with_capacity(c)).collect()
}

fn tcp_read_vectored_fills_each_buffer_in_order(driver: Driver) {
    block_on(driver, async {
        let (client, server) = tcp_pair().await;
        let (res, _) = client.write_all(b"abcdefghij".as_slice()).await;
        res.unwrap();
        let mut got = Vec::new();
        while got.len() < 10 {
            let (res, back) = server.read_vectored(bufs(&[3, 4, 16])).await;
            let n = res.unwrap();
            assert!(n > 0);
            let lens: Vec<usize> = back.iter().map(Vec::len).collect();
            assert_eq!(lens.iter().sum::<usize>(), n, "{lens:?}");
            // Each buffer is full before the next holds anything.
            for (i, b) in back.iter().enumerate().skip(1) {
                if !b.is_empty() {
                    assert_eq!(back[i - 1].len(), back[i - 1].capacity());
                }
            }
            back.iter().for_each(|b| got.extend_from_slice(b));
        }
        assert_eq!(got, b"abcdefghij");
    });
}

fn tcp_write_vectored_sends_in_order(driver: Driver) {
    block_on(driver, async {
        let (client, server) = tcp_pair().await;
        let parts = vec![b"ab".to_vec(), Vec::new(), b"cde".to_vec(), b"f".to_vec()];
        let (res, back) = client.write_vectored(parts).await;
        assert_eq!(res.unwrap(), 6);
        assert_eq!(back.len(), 4, "the buffers come back");
        let (res, buf) = server.read_exact(Vec::with_capacity(6)).await;
        res.unwrap();
        assert_eq!(buf, b"abcdef");
    });
}

fn tcp_vectored_of_a_megabyte(driver: Driver) {
    block_on(driver, async {
        let (client, server) = tcp_pair().await;
        let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7) as u8).collect();
        let chunks: Vec<Vec<u8>> = data.chunks(100_000).map(<[u8]>::to_vec).collect();
        let writer = proactor::spawn(async move {
            // write_vectored may take part: go on from where it stopped, as write_all does.
            let mut chunks = chunks;
            while !chunks.is_empty() {
                let (res, mut back) = client.write_vectored(chunks).await;
                let mut n = res.unwrap();
                while n > 0 && n >= back[0].len() {
                    n -= back.remove(0).len();
                }
                if n > 0 {
                    back[0].drain(..n);
                }
                chunks = back;
            }
        });
        let mut got = Vec::with_capacity(data.len());
        while got.len() < data.len() {
            let (res, back) = server.read_vectored(bufs(&[7000, 60_000, 200_000])).await;
            assert!(res.unwrap() > 0);
            back.iter().for_each(|b| got.extend_from_slice(b));
        }
        writer.await.unwrap();
        assert!(got == data, "the bytes arrive in order");
    });
}

fn read_vectored_of_slices_and_at_eof(driver: Driver) {
    block_on(driver, async {
        let (client, server) = tcp_pair().await;
        let (res, _) = client.write_all(b"xyz".as_slice()).await;
        res.unwrap();
        drop(client);
        // A slice past a buffer's initialised bytes: the buffer grows to the slice's end.
        let mut first = Vec::with_capacity(4);
        first.extend_from_slice(&[1, 1]);
        let bufs = vec![first.slice(2..4), Vec::with_capacity(8).slice(..)];
        let (res, back) = server.read_vectored(bufs).await;
        assert_eq!(res.unwrap(), 3);
        let back: Vec<Vec<u8>> = back.into_iter().map(|s| s.into_inner()).collect();
        assert_eq!(back[0], [1, 1, b'x', b'y']);
        assert_eq!(back[1], b"z");
        let (res, _) = server.read_vectored(bufs_one()).await;
        assert_eq!(res.unwrap(), 0, "end of stream");
    });
}

fn bufs_one() -> Vec<Vec<u8>> {
    bufs(&[16])
}

fn too_many_buffers_is_an_error(driver: Driver) {
    block_on(driver, async {
        let (client, _server) = tcp_pair().await;
        let many = vec![b"x".to_vec(); 1025];
        let (res, back) = client.write_vectored(many).await;
        // sendmsg(2) says EMSGSIZE; readv(2) and writev(2) say EINVAL.
        let err = res.unwrap_err().raw_os_error();
        assert!(
            matches!(err, Some(libc::EMSGSIZE | libc::EINVAL)),
            "{err:?}"
        );
        assert_eq!(back.len(), 1025);
    });
}

fn unix_stream_vectored_round_trip(driver: Driver) {
    block_on(driver, async {
        let (a, b) = UnixStream::pair().unwrap();
        let (res, _) = a
            .write_vectored(vec![b"hello ".as_slice(), b"world".as_slice()])
            .await;
        assert_eq!(res.unwrap(), 11);
        let (res, back) = b.read_vectored(bufs(&[5, 6])).await;
        assert_eq!(res.unwrap(), 11);
        assert_eq!(back[0], b"hello");
        assert_eq!(back[1], b" world");
    });
}

fn udp_send_msg_recv_msg(driver: Driver) {
    block_on(driver, async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = b.local_addr().unwrap();
        let (res, back) = a
            .send_msg(vec![b"one ".to_vec(), b"datagram".to_vec()], to)
            .await;
        assert_eq!(res.unwrap(), 12);
        assert_eq!(back[1], b"datagram");
        let (res, back) = b.recv_msg(bufs(&[4, 4, 100])).await;
        let (n, from) = res.unwrap();
        assert_eq!((n, from), (12, a.local_addr().unwrap()));
        assert_eq!(back[0], b"one ");
        assert_eq!(back[1], b"data");
        assert_eq!(back[2], b"gram");
        // A datagram longer than the buffers is cut.
        let (res, _) = a.send_msg(vec![vec![9u8; 50]], to).await;
        res.unwrap();
        let (res, back) = b.recv_msg(bufs(&[10, 10])).await;
        assert_eq!(res.unwrap().0, 20);
        assert_eq!(back[1], [9u8; 10]);
    });
}

fn file_vectored_at(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    block_on(driver, async {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        let parts = vec![b"0123".to_vec(), b"".to_vec(), b"456789".to_vec()];
        let (res, _) = file.write_vectored_at(parts, 100).await;
        assert_eq!(res.unwrap(), 10);
        let (res, back) = file.read_vectored_at(bufs(&[2, 3, 100]), 99).await;
        assert_eq!(res.unwrap(), 11, "to the end of the file");
        assert_eq!(back[0], [0, b'0']);
        assert_eq!(back[1], b"123");
        assert_eq!(back[2], b"456789");
        let (res, back) = file.read_vectored_at(bufs(&[4]), 110).await;
        assert_eq!(res.unwrap(), 0, "end of file");
        assert!(back[0].is_empty());
        let (res, _) = file.write_vectored_at(vec![b"x".to_vec()], u64::MAX).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EINVAL));
    });
    assert_eq!(&std::fs::read(&path).unwrap()[100..], b"0123456789");
}

/// A vectored read waiting on an idle socket is dropped: the runtime forgets it (the
/// buffers are parked or freed, never written after), and the socket still works.
fn dropped_vectored_read(driver: Driver) {
    block_on(driver, async {
        let (client, server) = tcp_pair().await;
        let mut read = server.read_vectored(bufs(&[64, 64]));
        assert!(util::poll_once(&mut read).await.is_pending());
        drop(read);
        util::until(|| proactor::runtime::stats().ops_in_flight == 0).await;
        let (res, _) = client.write_all(b"after".as_slice()).await;
        res.unwrap();
        let (res, back) = server.read_vectored(bufs(&[2, 8])).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(back[0], b"af");
        assert_eq!(back[1], b"ter");
    });
}

on_each_driver!(
    tcp_read_vectored_fills_each_buffer_in_order,
    tcp_write_vectored_sends_in_order,
    tcp_vectored_of_a_megabyte,
    read_vectored_of_slices_and_at_eof,
    too_many_buffers_is_an_error,
    unix_stream_vectored_round_trip,
    udp_send_msg_recv_msg,
    file_vectored_at,
    dropped_vectored_read,
);
