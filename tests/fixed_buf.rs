//! `FixedBufPool`: registered buffers for positional file I/O, their fallback where they
//! cannot be registered, and their return to the pool.

mod util;

use proactor::buf::FixedBufPool;
use proactor::fs::File;
use proactor::{Driver, Runtime};

async fn rw(path: &std::path::Path) -> File {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .await
        .unwrap()
}

fn fixed_round_trip(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fixed");
    util::block_on(driver, async move {
        let pool = FixedBufPool::new(2, 8192).unwrap();
        let expect_registered = proactor::runtime::ring_features().is_some_and(|f| f.fixed_buffers);
        assert_eq!(pool.is_registered(), expect_registered);
        let file = rw(&path).await;
        let mut buf = pool.get().unwrap();
        let data: Vec<u8> = (0..8192u32).map(|i| (i % 253) as u8).collect();
        assert_eq!(buf.extend_from_slice(&data), 8192);
        assert_eq!(buf.extend_from_slice(b"more"), 0, "full");
        let (res, buf) = file.write_fixed_at(buf, 100).await;
        assert_eq!(res.unwrap(), 8192);
        drop(buf);
        assert_eq!(pool.available(), 2, "a dropped buffer goes back");
        let (res, back) = file.read_fixed_at(pool.get().unwrap(), 100).await;
        assert_eq!(res.unwrap(), 8192);
        assert_eq!(&back[..], &data[..]);
        let (res, tail) = file.read_fixed_at(pool.get().unwrap(), 8192).await;
        assert_eq!(res.unwrap(), 100, "short read at the end of the file");
        assert_eq!(&tail[..], &data[8092..]);
        assert!(pool.get().is_none(), "both buffers in use");
        drop((back, tail));
        assert_eq!(pool.available(), pool.capacity());
    });
}

fn second_pool_falls_back_but_works(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("second");
    util::block_on(driver, async move {
        let first = FixedBufPool::new(1, 4096).unwrap();
        let second = FixedBufPool::new(1, 4096).unwrap();
        assert!(!second.is_registered(), "one registered pool per runtime");
        let file = rw(&path).await;
        let mut buf = second.get().unwrap();
        buf.extend_from_slice(b"second pool");
        let (res, _buf) = file.write_fixed_at(buf, 0).await;
        assert_eq!(res.unwrap(), 11);
        let (res, back) = file.read_fixed_at(first.get().unwrap(), 0).await;
        assert_eq!(res.unwrap(), 11);
        assert_eq!(&back[..], b"second pool");
    });
}

fn bad_arguments_are_errors(driver: Driver) {
    util::block_on(driver, async {
        for (count, size) in [(0, 4096), (1, 0), (20_000, 16), (1, 2 << 30)] {
            let err = FixedBufPool::new(count, size).unwrap_err();
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::InvalidInput,
                "{count}x{size}"
            );
        }
    });
}

#[test]
fn outside_a_runtime_is_an_error() {
    let err = FixedBufPool::new(1, 16).unwrap_err();
    assert!(
        err.to_string().contains("inside a proactor runtime"),
        "{err}"
    );
}

#[test]
fn fast_paths_off_is_not_registered_but_works() {
    let rt = match Runtime::builder()
        .driver(Driver::Uring)
        .fast_paths(false)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return eprintln!("skipped: io_uring unavailable here: {e}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("off");
    rt.block_on(async move {
        let pool = FixedBufPool::new(1, 64).unwrap();
        assert!(!pool.is_registered());
        let file = rw(&path).await;
        let mut buf = pool.get().unwrap();
        buf.extend_from_slice(b"plain");
        let (res, buf) = file.write_fixed_at(buf, 0).await;
        assert_eq!(res.unwrap(), 5);
        drop(buf);
        let (res, back) = file.read_fixed_at(pool.get().unwrap(), 0).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(&back[..], b"plain");
    });
}

on_each_driver!(
    fixed_round_trip,
    second_pool_falls_back_but_works,
    bad_arguments_are_errors
);

/// Pool buffers are page-aligned, so `O_DIRECT` (which refuses unaligned memory with
/// EINVAL) works on both the registered and the plain path. Skipped where the file system
/// refuses `O_DIRECT` itself (tmpfs).
fn direct_round_trip(driver: Driver) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("direct");
    util::block_on(driver, async move {
        let opened = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .await;
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                eprintln!("skipped: O_DIRECT refused here: {e}");
                return;
            }
        };
        let pool = FixedBufPool::new(3, 16384).unwrap();
        let data: Vec<u8> = (0..16384u32).map(|i| (i % 251) as u8).collect();
        let mut buf = pool.get().unwrap();
        buf.extend_from_slice(&data);
        let (res, _) = file.write_fixed_at(buf, 4096).await;
        assert_eq!(res.expect("aligned O_DIRECT write"), 16384);
        let (res, back) = file.read_fixed_at(pool.get().unwrap(), 4096).await;
        assert_eq!(res.expect("aligned O_DIRECT read"), 16384);
        assert_eq!(&back[..], &data[..]);
        // The same memory through the plain positional ops.
        let (res, back) = file.read_at(pool.get().unwrap(), 8192).await;
        assert_eq!(res.expect("aligned O_DIRECT read_at"), 12288);
        assert_eq!(&back[..], &data[4096..]);
    });
}

#[test]
fn direct_io_on_uring() {
    direct_round_trip(Driver::Uring);
}

#[test]
fn direct_io_on_epoll() {
    direct_round_trip(Driver::Epoll);
}
