//! Uses of the attributes that must not compile, each with the error it must give (listed
//! in `expected.txt`, one line each); `ci/macros-errors.sh` builds this file and checks.

#[proactor::test(each_driver, driver = "epoll")]
async fn both() {}
#[proactor::test(drivers = "epoll")]
async fn typo() {}
#[proactor::test]
async fn takes(x: u32) {}
#[proactor::test(driver = "kqueue")]
async fn kq() {}
#[proactor::test]
fn not_async() {}
#[proactor::test]
async fn generic<T>() {}
#[proactor::main(each_driver)]
async fn m() {}
#[proactor::test(driver)]
async fn noeq() {}
