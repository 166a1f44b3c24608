//! How echo-server classifies accept errors.

use super::{classify, AcceptError};
use std::io;

#[test]
fn only_errors_of_the_listener_stop_the_server() {
    let of = |errno| classify(&io::Error::from_raw_os_error(errno));
    for errno in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
        assert_eq!(of(errno), AcceptError::Resources, "errno {errno}");
    }
    for errno in [
        libc::ECONNABORTED,
        libc::ENOTCONN,
        libc::EPROTO,
        libc::EPERM,
        libc::ENETDOWN,
        libc::ENOPROTOOPT,
        libc::EHOSTDOWN,
        libc::ENONET,
        libc::EHOSTUNREACH,
        libc::EOPNOTSUPP,
        libc::ENETUNREACH,
        libc::ECONNRESET,
        libc::ETIMEDOUT,
        libc::EINTR,
        libc::EAGAIN,
    ] {
        assert_eq!(of(errno), AcceptError::Connection, "errno {errno}");
    }
    for errno in [libc::EBADF, libc::EINVAL, libc::ENOTSOCK, libc::EFAULT] {
        assert_eq!(of(errno), AcceptError::Listener, "errno {errno}");
    }
}
