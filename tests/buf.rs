//! Owned buffers: a slice whose buffer shrinks, and a buffer whose methods panic.

mod util;

use proactor::buf::{IoBuf, IoBufMut};
use proactor::Driver;
use util::block_on;

fn data_file(len: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    std::fs::write(&path, vec![5u8; len]).unwrap();
    (dir, path)
}

/// Shrinking the buffer inside a `Slice` through `get_mut` shrinks what an operation may
/// write: a read never reaches past the buffer's current capacity.
fn shrunk_slice_bounds_the_read(driver: Driver) {
    let (_dir, path) = data_file(1 << 16);
    block_on(driver, async move {
        let file = proactor::fs::File::open(&path).await.unwrap();
        let mut slice = Vec::<u8>::with_capacity(1 << 16).slice(0..1 << 16);
        slice.get_mut().shrink_to(16);
        let cap = slice.get_ref().capacity();
        assert!(cap < 1 << 16);
        assert_eq!(slice.bytes_total(), cap);
        let (res, slice) = file.read_at(slice, 0).await;
        let n = res.unwrap();
        assert!(n <= cap, "read {n} bytes into a buffer of capacity {cap}");
        assert_eq!(slice.get_ref().len(), n);
        assert!(slice.iter().all(|&b| b == 5));
    });
}

/// A user buffer whose pointer method panics.
struct Panicky;

// SAFETY: `stable_ptr` never returns (it panics), so no pointer is ever used.
unsafe impl IoBuf for Panicky {
    fn stable_ptr(&self) -> *const u8 {
        panic!("buffer refuses")
    }
    fn bytes_init(&self) -> usize {
        0
    }
    fn bytes_total(&self) -> usize {
        16
    }
}

// SAFETY: as above.
unsafe impl IoBufMut for Panicky {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        panic!("buffer refuses")
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}

/// A panic while an operation is being set up leaves nothing in flight: the task fails,
/// and the runtime keeps no slot waiting for a completion that will never come.
fn panic_building_an_op_leaves_nothing_in_flight(driver: Driver) {
    let (_dir, path) = data_file(64);
    block_on(driver, async move {
        let task = proactor::spawn(async move {
            let file = proactor::fs::File::open(&path).await.unwrap();
            let _ = file.read_at(Panicky, 0).await;
        });
        assert!(task.await.unwrap_err().is_panic());
        assert_eq!(proactor::runtime::stats().ops_in_flight, 0);
    });
}

on_each_driver!(
    shrunk_slice_bounds_the_read,
    panic_building_an_op_leaves_nothing_in_flight,
);
