//! `TcpStream::sendfile`: a megabyte, a file larger than the pipe, offsets, a length past
//! the end of the file, a peer that closes part-way (an error, no hang), and a future
//! dropped part-way (no descriptor left open).

mod util;

use std::io::ErrorKind;
use std::path::Path;
use std::time::Duration;

use proactor::fs::File;
use proactor::Driver;
use util::{block_on, tcp_pair};

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(7) as u8)
        .collect()
}

/// Writes `data` to a file under `dir`.
fn file_with(dir: &Path, data: &[u8]) -> std::path::PathBuf {
    let path = dir.join("data");
    std::fs::write(&path, data).unwrap();
    path
}

/// Sends `file[offset..offset + len]` over a fresh connection; what `sendfile` returned and
/// what the peer read until EOF.
async fn send_and_read(path: &Path, offset: u64, len: u64) -> (u64, Vec<u8>) {
    let (client, server) = tcp_pair().await;
    let file = File::open(path).await.unwrap();
    let sender = proactor::spawn(async move {
        let sent = server.sendfile(&file, offset, len).await.unwrap();
        server.shutdown(std::net::Shutdown::Write).await.unwrap();
        sent
    });
    let mut got = Vec::new();
    loop {
        let (res, buf) = client.read(Vec::with_capacity(256 << 10)).await;
        if res.unwrap() == 0 {
            break;
        }
        got.extend_from_slice(&buf);
    }
    (sender.await.unwrap(), got)
}

fn sends_a_megabyte(driver: Driver) {
    let _serial = util::serial(); // the descriptor count below
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(1 << 20);
    let path = file_with(dir.path(), &data);
    block_on(driver, async {
        let (sent, got) = send_and_read(&path, 0, 1 << 20).await;
        assert_eq!(sent, 1 << 20);
        assert!(got == data, "the bytes arrive as in the file");
    });
}

/// More than one pipe's worth (the pipe holds 1 MiB at most), from an odd offset.
fn sends_more_than_a_pipe_holds(driver: Driver) {
    let _serial = util::serial(); // the descriptor count below
    let dir = tempfile::tempdir().unwrap();
    let data = pattern((5 << 20) + 4321);
    let path = file_with(dir.path(), &data);
    block_on(driver, async {
        let (offset, len) = (777u64, (4 << 20) + 99);
        let (sent, got) = send_and_read(&path, offset, len).await;
        assert_eq!(sent, len);
        let want = &data[offset as usize..(offset + len) as usize];
        assert!(got == want, "the range arrives as in the file");
    });
}

fn offsets_and_lengths_past_the_end(driver: Driver) {
    let _serial = util::serial(); // the descriptor count below
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(5000);
    let path = file_with(dir.path(), &data);
    block_on(driver, async {
        let (sent, got) = send_and_read(&path, 100, 1000).await;
        assert_eq!((sent, &got[..]), (1000, &data[100..1100]));
        // Past the end: what there is.
        let (sent, got) = send_and_read(&path, 4000, 10_000).await;
        assert_eq!((sent, &got[..]), (1000, &data[4000..]));
        // At or beyond the end, or nothing asked: nothing sent.
        for (offset, len) in [(5000, 10), (9999, 10), (0, 0)] {
            let (sent, got) = send_and_read(&path, offset, len).await;
            assert_eq!((sent, got.len()), (0, 0), "offset {offset}, len {len}");
        }
        let (_client, server) = tcp_pair().await;
        let file = File::open(&path).await.unwrap();
        let err = server.sendfile(&file, u64::MAX - 1, 10).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

/// A large sparse file (holes read as zeros, nothing on disk).
async fn sparse_file(dir: &Path, len: u64) -> File {
    let path = dir.join("sparse");
    let file = File::create(&path).await.unwrap();
    file.set_len(len).await.unwrap();
    drop(file);
    File::open(&path).await.unwrap()
}

/// The peer reads a little, then closes: `sendfile` fails (it does not wait for ever).
fn peer_closing_part_way_is_an_error(driver: Driver) {
    let _serial = util::serial(); // the descriptor count below
    let dir = tempfile::tempdir().unwrap();
    block_on(driver, async {
        let file = sparse_file(dir.path(), 1 << 30).await;
        let (client, server) = tcp_pair().await;
        let reader = proactor::spawn(async move {
            let (res, _) = client.read_exact(Vec::with_capacity(100_000)).await;
            res.unwrap();
            drop(client); // unread data: the connection is reset
        });
        let err = server.sendfile(&file, 0, 1 << 30).await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{err:?}"
        );
        reader.await.unwrap();
    });
}

/// A `sendfile` to a peer that reads nothing, dropped part-way: once the kernel let go of
/// its splices every descriptor it opened (the pipe) is closed, and the stream lives on.
fn dropping_part_way_leaves_no_descriptor(driver: Driver) {
    let _serial = util::serial();
    let dir = tempfile::tempdir().unwrap();
    block_on(driver, async {
        let file = sparse_file(dir.path(), 1 << 30).await;
        let (client, server) = tcp_pair().await;
        let before = util::open_fds();
        for _ in 0..3 {
            let send = server.sendfile(&file, 0, 1 << 30);
            let res = proactor::time::timeout(Duration::from_millis(30), send).await;
            assert!(res.is_err(), "a peer that reads nothing takes no gigabyte");
            util::until(|| proactor::runtime::stats().ops_in_flight == 0).await;
            assert_eq!(util::open_fds(), before, "the call's pipe is closed");
        }
        drop(client);
        drop(server);
    });
}

on_each_driver!(
    sends_a_megabyte,
    sends_more_than_a_pipe_holds,
    offsets_and_lengths_past_the_end,
    peer_closing_part_way_is_an_error,
    dropping_part_way_leaves_no_descriptor,
);
