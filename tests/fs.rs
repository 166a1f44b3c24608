//! `proactor::fs`: files and directories through the driver.

mod util;

use std::io::ErrorKind;
use std::path::Path;

use proactor::fs::{self, File, OpenOptions};
use proactor::Driver;
use tempfile::TempDir;
use util::block_on;

fn tmp() -> TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// `len` bytes of a pattern that differs at every offset within a 251-byte period.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn round_trip(driver: Driver) {
    let dir = tmp();
    let path = dir.path().join("f");
    block_on(driver, async {
        let data = pattern(100_000);
        let file = File::create(&path).await.unwrap();
        let (res, back) = file.write_all_at(data.clone(), 0).await;
        res.unwrap();
        assert_eq!(back, data, "the buffer comes back");
        file.sync_all().await.unwrap();
        file.close().await.unwrap();

        let file = File::open(&path).await.unwrap();
        let meta = file.metadata().await.unwrap();
        assert!(meta.is_file() && !meta.is_dir());
        assert_eq!(meta.len(), data.len() as u64);
        let (res, buf) = file.read_exact_at(vec![0u8; data.len()], 0).await;
        res.unwrap();
        assert_eq!(buf, data);
        let (res, buf) = file.read_at(Vec::with_capacity(10), 251).await;
        assert_eq!(res.unwrap(), 10);
        assert_eq!(buf, pattern(10), "read_at fills from the buffer's start");
        let (res, buf) = file
            .read_at(Vec::with_capacity(10), data.len() as u64)
            .await;
        assert_eq!(res.unwrap(), 0, "end of file");
        assert!(buf.is_empty());

        fs::write(&path, b"replaced").await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"replaced");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"replaced",
            "std sees the same bytes"
        );
    });
}

fn read_of_large_file_grows_its_buffer(driver: Driver) {
    let dir = tmp();
    let path = dir.path().join("big");
    let data = pattern(3 << 20);
    std::fs::write(&path, &data).unwrap();
    let got = block_on(driver, fs::read(&path)).unwrap();
    assert!(got == data, "fs::read differs from what std wrote");
}

fn sparse_write_at(driver: Driver) {
    let dir = tmp();
    let path = dir.path().join("sparse");
    block_on(driver, async {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        let (res, _) = file.write_at(&b"tail"[..], 1 << 20).await;
        assert_eq!(res.unwrap(), 4);
        let (res, _) = file.write_at(&b"head"[..], 0).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(file.metadata().await.unwrap().len(), (1 << 20) + 4);
        let (res, hole) = file.read_exact_at(vec![1u8; 4096], 4096).await;
        res.unwrap();
        assert!(hole.iter().all(|&b| b == 0), "the hole reads as zeros");
        let (res, head) = file.read_exact_at(vec![0u8; 4], 0).await;
        res.unwrap();
        assert_eq!(head, b"head");
    });
}

fn write_at_one_gib_offset(driver: Driver) {
    let dir = tmp();
    let path = dir.path().join("far");
    let offset = 1u64 << 30;
    block_on(driver, async {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .unwrap();
        let (res, _) = file.write_all_at(pattern(8192), offset).await;
        res.unwrap();
        let meta = file.metadata().await.unwrap();
        assert_eq!(meta.len(), offset + 8192);
        assert!(
            meta.blocks() * 512 < 1 << 24,
            "the gigabyte hole is not allocated"
        );
        let (res, buf) = file.read_exact_at(vec![0u8; 8192], offset).await;
        res.unwrap();
        assert_eq!(buf, pattern(8192));
        let (res, _) = file.read_exact_at(vec![0u8; 8193], offset).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::UnexpectedEof);
    });
}

fn concurrent_reads_from_many_tasks(driver: Driver) {
    let dir = tmp();
    let path = dir.path().join("shared");
    const CHUNK: usize = 4096;
    const TASKS: usize = 64;
    let data = pattern(CHUNK * TASKS);
    std::fs::write(&path, &data).unwrap();
    block_on(driver, async {
        let file = std::rc::Rc::new(File::open(&path).await.unwrap());
        let mut set = proactor::JoinSet::new();
        for i in 0..TASKS {
            let file = file.clone();
            set.spawn(async move {
                // Each task reads every chunk, starting from its own.
                let mut chunks = Vec::new();
                for k in 0..TASKS {
                    let c = (i + k) % TASKS;
                    let pos = (c * CHUNK) as u64;
                    let (res, buf) = file.read_exact_at(vec![0u8; CHUNK], pos).await;
                    res.unwrap();
                    chunks.push((c, buf));
                }
                chunks
            });
        }
        let mut tasks = 0;
        while let Some(res) = set.join_next().await {
            for (c, buf) in res.unwrap() {
                assert!(buf == data[c * CHUNK..(c + 1) * CHUNK], "chunk {c} differs");
            }
            tasks += 1;
        }
        assert_eq!(tasks, TASKS);
    });
}

/// `Builder::file_batch`: whatever the batch, concurrent reads and writes carry the right
/// bytes; on io_uring (inline page-cache reads off, so every read reaches the ring) a
/// batch of 1 submits each file op on its own and a batch of 0 submits them with the turn.
fn file_batch_submits_file_ops_in_groups(driver: Driver) {
    const CHUNK: usize = 4096;
    const TASKS: usize = 32;
    let dir = tmp();
    let path = dir.path().join("batched");
    std::fs::write(&path, vec![0u8; CHUNK * TASKS]).unwrap();
    for batch in [0, 1, 4, 7] {
        let rt = proactor::Runtime::builder()
            .driver(driver)
            .fast_paths(false)
            .file_batch(batch)
            .build()
            .unwrap();
        let (ops, enters) = rt.block_on(async {
            let file = OpenOptions::new().read(true).write(true).open(&path).await;
            let file = std::rc::Rc::new(file.unwrap());
            let before = proactor::runtime::stats();
            let mut set = proactor::JoinSet::new();
            for i in 0..TASKS {
                let file = file.clone();
                set.spawn(async move {
                    let pos = (i * CHUNK) as u64;
                    let data = vec![i as u8 + batch as u8; CHUNK];
                    let (res, _) = file.write_all_at(data.clone(), pos).await;
                    res.unwrap();
                    let (res, buf) = file.read_exact_at(vec![0u8; CHUNK], pos).await;
                    res.unwrap();
                    assert!(buf == data, "chunk {i} differs with file_batch({batch})");
                });
            }
            while let Some(res) = set.join_next().await {
                res.unwrap();
            }
            let after = proactor::runtime::stats();
            (
                after.submissions - before.submissions,
                after.enters - before.enters,
            )
        });
        if rt.driver() != proactor::DriverKind::Uring {
            continue;
        }
        assert!(
            ops >= 2 * TASKS as u64,
            "file_batch({batch}): {ops} submissions"
        );
        match batch {
            1 => assert!(enters >= ops, "file_batch(1): {enters} enters, {ops} ops"),
            0 => assert!(
                enters < ops / 2,
                "file_batch(0): {enters} enters, {ops} ops"
            ),
            _ => {}
        }
    }
}

fn set_len_sync_and_append(driver: Driver) {
    let dir = tmp();
    let path = dir.path().join("log");
    block_on(driver, async {
        fs::write(&path, b"0123456789").await.unwrap();
        let file = OpenOptions::new().write(true).open(&path).await.unwrap();
        file.set_len(4).await.unwrap();
        file.sync_data().await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"0123");
        file.set_len(6).await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"0123\0\0");
        let err = file.set_len(u64::MAX).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        file.close().await.unwrap();

        let file = OpenOptions::new().append(true).open(&path).await.unwrap();
        let (res, _) = file.write_all_at(&b"ab"[..], 0).await;
        res.unwrap();
        assert_eq!(
            fs::read(&path).await.unwrap(),
            b"0123\0\0ab",
            "append ignores the offset"
        );
    });
}

fn directories(driver: Driver) {
    let dir = tmp();
    let root = dir.path();
    block_on(driver, async {
        let deep = root.join("a/b/c");
        fs::create_dir_all(&deep).await.unwrap();
        fs::create_dir_all(&deep).await.unwrap();
        assert!(fs::metadata(&deep).await.unwrap().is_dir());
        let err = fs::create_dir(&deep).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);

        fs::write(deep.join("f"), b"x").await.unwrap();
        let err = fs::create_dir_all(deep.join("f")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "a file is in the way");
        let err = fs::remove_dir(&deep).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTEMPTY));

        fs::rename(deep.join("f"), root.join("g")).await.unwrap();
        assert_eq!(fs::read(root.join("g")).await.unwrap(), b"x");
        fs::remove_dir(&deep).await.unwrap();
        let err = fs::metadata(&deep).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        fs::remove_file(root.join("g")).await.unwrap();
        assert!(std::fs::read_dir(root.join("a/b"))
            .unwrap()
            .next()
            .is_none());
    });
}

fn error_kinds(driver: Driver) {
    let dir = tmp();
    let root = dir.path();
    block_on(driver, async {
        let missing = root.join("missing");
        let kind = |r: std::io::Result<File>| r.unwrap_err().kind();
        assert_eq!(kind(File::open(&missing).await), ErrorKind::NotFound);
        assert_eq!(
            fs::remove_file(&missing).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        let err = fs::rename(&missing, root.join("x")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);

        let err = File::create(root).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EISDIR));
        let err = fs::read(root).await.unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(libc::EISDIR),
            "reading a directory"
        );

        let existing = root.join("existing");
        fs::write(&existing, b"").await.unwrap();
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        assert_eq!(kind(opts.open(&existing).await), ErrorKind::AlreadyExists);

        let nul = Path::new("a\0b");
        assert_eq!(kind(File::open(nul).await), ErrorKind::InvalidInput);
        assert_eq!(
            kind(OpenOptions::new().open(&existing).await),
            ErrorKind::InvalidInput
        );
        let read_create = OpenOptions::new()
            .read(true)
            .create(true)
            .open(&missing)
            .await;
        assert_eq!(kind(read_create), ErrorKind::InvalidInput);

        std::os::unix::fs::symlink(&existing, root.join("link")).unwrap();
        let nofollow = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(root.join("link"))
            .await;
        assert_eq!(nofollow.unwrap_err().raw_os_error(), Some(libc::ELOOP));
        assert!(fs::symlink_metadata(root.join("link"))
            .await
            .unwrap()
            .is_symlink());
        assert!(fs::metadata(root.join("link")).await.unwrap().is_file());

        let file = File::open(&existing).await.unwrap();
        let (res, _) = file.write_at(&b"no"[..], 0).await;
        assert_eq!(
            res.unwrap_err().raw_os_error(),
            Some(libc::EBADF),
            "opened read-only"
        );
    });
}

fn permission_denied(driver: Driver) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("skipped: running as root, which bypasses file permissions");
        return;
    }
    let dir = tmp();
    let path = dir.path().join("ro");
    block_on(driver, async {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o400)
            .open(&path)
            .await
            .unwrap();
        file.close().await.unwrap();
        let err = OpenOptions::new()
            .write(true)
            .open(&path)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    });
}

/// Reads of cached pages may finish without the ring (io_uring with fast paths), yet a task
/// that reads in a loop without awaiting anything else still lets other tasks run, and
/// every read returns the right bytes.
fn cached_reads_do_not_starve_other_tasks(driver: Driver) {
    let dir = tmp();
    let path = dir.path().join("cached");
    let data = pattern(64 * 1024);
    std::fs::write(&path, &data).unwrap();
    block_on(driver, async move {
        let file = File::open(&path).await.unwrap();
        let (res, _) = file.read_at(vec![0u8; data.len()], 0).await; // now cached
        res.unwrap();
        let ran = std::rc::Rc::new(std::cell::Cell::new(false));
        let flag = ran.clone();
        proactor::spawn(async move { flag.set(true) });
        let before = proactor::runtime::stats().submissions;
        let mut reads = 0;
        while !ran.get() && reads < 10_000 {
            let off = (reads * 4096) % data.len();
            let (res, buf) = file.read_at(Vec::with_capacity(4096), off as u64).await;
            assert_eq!(res.unwrap(), 4096);
            assert_eq!(&buf[..], &data[off..off + 4096], "read at {off}");
            reads += 1;
        }
        assert!(ran.get(), "the other task never ran during {reads} reads");
        let submitted = proactor::runtime::stats().submissions - before;
        let inline = proactor::runtime::ring_features().is_some_and(|f| f.inline_file_io);
        if inline {
            assert!(
                submitted < reads as u64,
                "{reads} cached reads made {submitted} submissions: none finished inline"
            );
        }
    });
}

/// The same for buffered writes: a task writing in a loop lets other tasks run, and the
/// file holds exactly what was written.
fn buffered_writes_do_not_starve_other_tasks(driver: Driver) {
    let dir = tmp();
    let path = dir.path().join("written");
    let data = pattern(256 * 1024);
    let p = path.clone();
    let expected = data.clone();
    block_on(driver, async move {
        let file = File::create(&p).await.unwrap();
        let ran = std::rc::Rc::new(std::cell::Cell::new(false));
        let flag = ran.clone();
        proactor::spawn(async move { flag.set(true) });
        let chunks: Vec<&[u8]> = data.chunks(4096).collect();
        let mut writes = 0;
        // Every chunk at least once, then on until the other task has run.
        while writes < chunks.len() || (!ran.get() && writes < 10_000) {
            let i = writes % chunks.len();
            let (res, _) = file
                .write_all_at(chunks[i].to_vec(), (i * 4096) as u64)
                .await;
            res.unwrap();
            writes += 1;
        }
        assert!(ran.get(), "the other task never ran during {writes} writes");
        file.close().await.unwrap();
    });
    assert_eq!(std::fs::read(&path).unwrap(), expected);
}

on_each_driver!(
    round_trip,
    read_of_large_file_grows_its_buffer,
    sparse_write_at,
    write_at_one_gib_offset,
    concurrent_reads_from_many_tasks,
    file_batch_submits_file_ops_in_groups,
    set_len_sync_and_append,
    directories,
    error_kinds,
    permission_denied,
    cached_reads_do_not_starve_other_tasks,
    buffered_writes_do_not_starve_other_tasks,
);
