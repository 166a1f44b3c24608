//! Helpers shared by the integration tests.
//!
//! Every test that exercises the runtime is written as `fn name(driver: Driver)` and
//! instantiated once per driver by [`on_each_driver!`], so the suite reports each test per
//! driver (`uring::name`, `epoll::name`).

#![allow(dead_code)]

use std::future::Future;

use proactor::{Driver, Runtime};

/// A runtime on `driver`; panics with the reason when it cannot be built.
pub fn runtime(driver: Driver) -> Runtime {
    Runtime::builder()
        .driver(driver)
        .build()
        .unwrap_or_else(|e| panic!("cannot build a {driver:?} runtime: {e}"))
}

/// Runs `fut` on a fresh runtime on `driver`.
pub fn block_on<F: Future>(driver: Driver, fut: F) -> F::Output {
    runtime(driver).block_on(fut)
}

/// Instantiates each named `fn(Driver)` as a `#[test]` once per driver.
#[macro_export]
macro_rules! on_each_driver {
    ($($name:ident),* $(,)?) => {
        mod uring {
            $(
                #[test]
                fn $name() {
                    super::$name(proactor::Driver::Uring)
                }
            )*
        }
        mod epoll {
            $(
                #[test]
                fn $name() {
                    super::$name(proactor::Driver::Epoll)
                }
            )*
        }
    };
}
