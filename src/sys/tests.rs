//! The raw-call helpers: kernel version parsing, `RWF_NOWAIT` reads.

use std::cell::Cell;
use std::os::fd::AsRawFd;

use super::{rw_nowait, Dir};

#[test]
fn kernel_versions_parse() {
    assert_eq!(
        super::parse_kernel_version("6.18.44-fc-v657"),
        Some((6, 18))
    );
    assert_eq!(
        super::parse_kernel_version("5.15.0-91-generic"),
        Some((5, 15))
    );
    assert_eq!(super::parse_kernel_version("6.13"), Some((6, 13)));
    assert_eq!(super::parse_kernel_version("garbage"), None);
    assert!(super::kernel_version().is_some());
}

fn read(file: &std::fs::File, enabled: &Cell<bool>) -> Option<u32> {
    let mut buf = [0u8; 64];
    // SAFETY: `buf` is 64 writable bytes on this frame for the call.
    unsafe {
        rw_nowait(
            file.as_raw_fd(),
            enabled,
            Dir::Read,
            buf.as_mut_ptr(),
            64,
            0,
        )
    }
}

#[test]
fn nowait_read_of_a_cached_file_succeeds_and_stays_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, [1u8; 64]).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let enabled = Cell::new(true);
    assert_eq!(read(&file, &enabled), Some(64));
    assert!(enabled.get());
}

#[test]
fn nowait_refused_by_the_file_turns_itself_off() {
    // procfs files have no RWF_NOWAIT support: EOPNOTSUPP.
    let file = std::fs::File::open("/proc/self/stat").unwrap();
    let enabled = Cell::new(true);
    assert_eq!(read(&file, &enabled), None);
    assert!(!enabled.get(), "EOPNOTSUPP must switch the try off");
    assert_eq!(read(&file, &enabled), None, "off: nothing is tried");
}

#[test]
fn a_listeners_accept_queue_length_is_read() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    assert_eq!(super::accept_queue_len(listener.as_raw_fd()), Some(0));
    let clients: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    assert_eq!(super::accept_queue_len(listener.as_raw_fd()), Some(3));
    let (accepted, _) = listener.accept().unwrap();
    assert_eq!(super::accept_queue_len(listener.as_raw_fd()), Some(2));
    assert_eq!(
        super::accept_queue_len(accepted.as_raw_fd()),
        None,
        "not a listener"
    );
    drop(clients);
}
