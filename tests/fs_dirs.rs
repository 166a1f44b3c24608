//! `proactor::fs`, the calls beyond open/read/write: `read_dir`, `copy`, `hard_link`,
//! `symlink`, `remove_dir_all`, `set_permissions`, `File::from_std`/`into_std`,
//! `File::fallocate`.

mod util;

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use proactor::fs::{self, File};
use proactor::Driver;
use util::block_on;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Every entry of `dir`: name → (is_file, is_dir, is_symlink, len of its metadata).
async fn listing(dir: &Path) -> BTreeMap<String, (bool, bool, bool, u64)> {
    let mut out = BTreeMap::new();
    let mut entries = fs::read_dir(dir).await.unwrap();
    while let Some(entry) = entries.next_entry().await.unwrap() {
        let name = entry.file_name().into_string().unwrap();
        assert_eq!(entry.path(), dir.join(&name));
        let ty = entry.file_type().await.unwrap();
        let meta = entry.metadata().await.unwrap();
        assert_eq!(meta.ino(), entry.ino());
        let kind = (ty.is_file(), ty.is_dir(), ty.is_symlink(), meta.len());
        assert!(out.insert(name, kind).is_none(), "an entry listed twice");
    }
    assert!(
        entries.next_entry().await.unwrap().is_none(),
        "the end stays the end"
    );
    out
}

fn read_dir_lists_every_entry(driver: Driver) {
    let dir = tmp();
    let d = dir.path();
    block_on(driver, async {
        assert!(listing(d).await.is_empty(), "no . or ..");
        fs::write(d.join("file"), "12345").await.unwrap();
        fs::create_dir(d.join("sub")).await.unwrap();
        fs::symlink("file", d.join("link")).await.unwrap();
        let got = listing(d).await;
        assert_eq!(got["file"], (true, false, false, 5));
        assert!(got["sub"].1);
        assert_eq!(got["link"], (false, false, true, 4), "not followed");
        // More entries than one batch.
        for i in 0..100 {
            fs::write(d.join(format!("n{i:03}")), [i as u8])
                .await
                .unwrap();
        }
        let got = listing(d).await;
        assert_eq!(got.len(), 103);
        assert!((0..100).all(|i| got[&format!("n{i:03}")] == (true, false, false, 1)));
    });
}

fn read_dir_errors(driver: Driver) {
    let dir = tmp();
    block_on(driver, async {
        let err = fs::read_dir(dir.path().join("missing")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        fs::write(dir.path().join("f"), "").await.unwrap();
        let err = fs::read_dir(dir.path().join("f")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotADirectory);
        // A listing dropped halfway is fine.
        let mut entries = fs::read_dir(dir.path()).await.unwrap();
        drop(entries.next_entry().await);
        drop(entries);
    });
}

fn copy_copies_contents_and_permissions(driver: Driver) {
    let dir = tmp();
    let (from, to) = (dir.path().join("from"), dir.path().join("to"));
    block_on(driver, async {
        let data = pattern(300_000);
        fs::write(&from, &data).await.unwrap();
        fs::set_permissions(&from, fs::Permissions::from_mode(0o640))
            .await
            .unwrap();
        fs::write(&to, "older and longer than nothing")
            .await
            .unwrap();
        assert_eq!(fs::copy(&from, &to).await.unwrap(), data.len() as u64);
        assert_eq!(fs::read(&to).await.unwrap(), data);
        let mode = fs::metadata(&to).await.unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        // An empty file.
        fs::write(&from, "").await.unwrap();
        assert_eq!(fs::copy(&from, &to).await.unwrap(), 0);
        assert_eq!(fs::metadata(&to).await.unwrap().len(), 0);
    });
}

fn copy_falls_back_where_the_kernel_copies_nothing(driver: Driver) {
    // procfs reports a size of 0 and gives copy_file_range nothing: read and write.
    let dir = tmp();
    let to = dir.path().join("status");
    block_on(driver, async {
        let n = fs::copy("/proc/self/status", &to).await.unwrap();
        assert!(n > 0);
        let text = String::from_utf8(fs::read(&to).await.unwrap()).unwrap();
        assert_eq!(text.len() as u64, n);
        assert!(text.contains("Pid:"), "{text}");
    });
}

fn copy_errors(driver: Driver) {
    let dir = tmp();
    let d = dir.path();
    block_on(driver, async {
        let err = fs::copy(d.join("missing"), d.join("to")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = fs::copy(d, d.join("to")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        fs::write(d.join("f"), "x").await.unwrap();
        let err = fs::copy(d.join("f"), d.join("no/such/dir"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

fn hard_link_and_symlink(driver: Driver) {
    let dir = tmp();
    let d = dir.path();
    block_on(driver, async {
        fs::write(d.join("f"), "data").await.unwrap();
        fs::hard_link(d.join("f"), d.join("h")).await.unwrap();
        let (f, h) = (
            fs::metadata(d.join("f")).await.unwrap(),
            fs::metadata(d.join("h")).await.unwrap(),
        );
        assert_eq!(f.ino(), h.ino());
        assert_eq!(f.nlink(), 2);
        fs::symlink(d.join("f"), d.join("s")).await.unwrap();
        assert!(fs::symlink_metadata(d.join("s"))
            .await
            .unwrap()
            .is_symlink());
        assert_eq!(fs::metadata(d.join("s")).await.unwrap().ino(), f.ino());
        assert_eq!(std::fs::read_link(d.join("s")).unwrap(), d.join("f"));
        // A dangling symlink is fine; its target is stored as given.
        fs::symlink("nowhere", d.join("dangling")).await.unwrap();
        assert_eq!(
            std::fs::read_link(d.join("dangling")).unwrap(),
            Path::new("nowhere")
        );

        let err = fs::hard_link(d.join("f"), d.join("h")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        let err = fs::symlink("f", d.join("s")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        let err = fs::hard_link(d.join("missing"), d.join("h2"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = fs::symlink("x", "bad\0path").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

fn remove_dir_all_removes_a_tree_not_what_links_point_to(driver: Driver) {
    let dir = tmp();
    let d = dir.path();
    block_on(driver, async {
        fs::write(d.join("outside"), "keep").await.unwrap();
        let tree = d.join("tree");
        fs::create_dir_all(tree.join("a/b/c")).await.unwrap();
        for p in ["a/1", "a/b/2", "a/b/c/3"] {
            fs::write(tree.join(p), p).await.unwrap();
        }
        fs::symlink(d.join("outside"), tree.join("a/link"))
            .await
            .unwrap();
        fs::symlink(d, tree.join("a/b/dirlink")).await.unwrap();
        fs::remove_dir_all(&tree).await.unwrap();
        assert_eq!(
            fs::metadata(&tree).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(fs::read(d.join("outside")).await.unwrap(), b"keep");
        let err = fs::remove_dir_all(&tree).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

fn set_permissions_changes_the_mode(driver: Driver) {
    let dir = tmp();
    let f = dir.path().join("f");
    block_on(driver, async {
        fs::write(&f, "").await.unwrap();
        for mode in [0o600, 0o755, 0o400] {
            fs::set_permissions(&f, fs::Permissions::from_mode(mode))
                .await
                .unwrap();
            let perm = fs::metadata(&f).await.unwrap().permissions();
            assert_eq!(perm.mode() & 0o7777, mode);
        }
        let missing = dir.path().join("missing");
        let err = fs::set_permissions(&missing, fs::Permissions::from_mode(0o600))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

fn file_from_std_and_back(driver: Driver) {
    let dir = tmp();
    let path = dir.path().join("f");
    block_on(driver, async {
        let std_file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let file = File::from_std(std_file);
        let (res, _) = file.write_all_at(pattern(10_000), 0).await;
        res.unwrap();
        let file = match file.try_into_std() {
            Ok(std_file) => File::from_std(std_file),
            Err(_) => panic!("no op holds the file"),
        };
        let std_file = file.into_std().await;
        assert_eq!(std_file.metadata().unwrap().len(), 10_000);
        assert_eq!(std::fs::read(&path).unwrap(), pattern(10_000));
    });
}

fn fallocate_allocates_and_extends(driver: Driver) {
    let dir = tmp();
    let path = dir.path().join("f");
    block_on(driver, async {
        let file = File::create(&path).await.unwrap();
        match file.fallocate(0, 1 << 20).await {
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                eprintln!("skipped: this file system cannot fallocate ({e})");
                return;
            }
            res => res.unwrap(),
        }
        let meta = file.metadata().await.unwrap();
        assert_eq!(meta.len(), 1 << 20, "extended");
        assert!(meta.blocks() >= (1 << 20) / 512, "allocated: {meta:?}");
        // Inside the file: the length stays.
        file.fallocate(4096, 4096).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 1 << 20);
        let (res, buf) = file.read_at(Vec::with_capacity(16), 100).await;
        assert!(res.is_err(), "opened write-only");
        drop(buf);
        for (offset, len) in [(0, 0), (0, u64::MAX), (u64::MAX, 1)] {
            let err = file.fallocate(offset, len).await.unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{offset} {len}");
        }
        file.close().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![0u8; 1 << 20]);
    });
}

on_each_driver!(
    read_dir_lists_every_entry,
    read_dir_errors,
    copy_copies_contents_and_permissions,
    copy_falls_back_where_the_kernel_copies_nothing,
    copy_errors,
    hard_link_and_symlink,
    remove_dir_all_removes_a_tree_not_what_links_point_to,
    set_permissions_changes_the_mode,
    file_from_std_and_back,
    fallocate_allocates_and_extends,
);
