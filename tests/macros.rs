//! `#[proactor::main]` and `#[proactor::test]` (feature `macros`): the driver each runs on,
//! one test per driver with `each_driver`, return types, and other test attributes.

use std::time::Duration;

use proactor::DriverKind;

#[proactor::test]
async fn runs_on_a_runtime() {
    proactor::nop().await.unwrap();
    assert!(proactor::runtime::current_driver().is_some());
}

#[proactor::test(driver = "epoll")]
async fn runs_on_the_named_driver() {
    assert_eq!(proactor::runtime::current_driver(), Some(DriverKind::Epoll));
}

#[proactor::test(driver = "uring")]
async fn runs_on_uring() {
    assert_eq!(proactor::runtime::current_driver(), Some(DriverKind::Uring));
}

#[proactor::test(driver = "auto")]
async fn returns_a_result() -> std::io::Result<()> {
    proactor::nop().await?;
    Ok(())
}

#[proactor::test(each_driver)]
async fn once_per_driver() {
    proactor::time::sleep(Duration::from_millis(1)).await;
    let task = proactor::spawn(async { 7 });
    assert_eq!(task.await.unwrap(), 7);
}

#[proactor::test(each_driver)]
async fn once_per_driver_with_a_result() -> Result<(), String> {
    proactor::nop().await.map_err(|e| e.to_string())
}

#[proactor::test(each_driver)]
#[should_panic(expected = "inside the test")]
async fn a_panic_fails_each_driver_test() {
    proactor::nop().await.unwrap();
    panic!("inside the test");
}

#[proactor::test]
#[should_panic(expected = "inside")]
async fn should_panic_is_kept() {
    panic!("inside");
}

/// The module of an `each_driver` test holds one test per driver, named after it.
#[test]
fn each_driver_names_its_tests() {
    let tests: [fn(); 2] = [once_per_driver::uring, once_per_driver::epoll];
    assert_eq!(tests.len(), 2);
}

mod main_attribute {
    // A `#[proactor::main]` on a function other than the crate's `main`: callable as a
    // plain function that builds its runtime.
    #[proactor::main(driver = "epoll")]
    async fn entry() -> u32 {
        assert_eq!(
            proactor::runtime::current_driver(),
            Some(proactor::DriverKind::Epoll)
        );
        proactor::nop().await.unwrap();
        41 + 1
    }

    #[test]
    fn main_builds_its_runtime_and_returns_the_output() {
        assert_eq!(entry(), 42);
        assert_eq!(
            proactor::runtime::current_driver(),
            None,
            "the runtime is gone"
        );
    }
}
