//! The task cell of `src/runtime/cell.rs`, the very file, with its tests
//! (`src/runtime/cell/tests.rs`): it uses only `std`, so it builds here alone, which lets
//! Miri check its unsafe code (provenance, data races, use after free) quickly. The
//! library's own `cargo test` runs the same tests natively.

// The library uses only part of the cell's API from here; the rest is its runtime's.
#[allow(dead_code, unreachable_pub)]
#[path = "../../src/runtime/cell.rs"]
pub mod cell;
