//! The listener of each thread of a thread-per-core server: `SO_REUSEPORT` on one shared
//! address, so the kernel spreads connections among the threads. The first thread to bind
//! writes the address it got back (port 0 becomes the kernel's choice), so every other
//! thread joins the same port.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use proactor::net::{TcpListener, TcpSocket};

/// Binds a listener with `SO_REUSEADDR` and `SO_REUSEPORT` at `*addr`, then stores its
/// local address in `addr` for the threads that bind after it.
pub fn bind(addr: &Mutex<SocketAddr>) -> io::Result<TcpListener> {
    let mut addr = addr.lock().unwrap_or_else(|p| p.into_inner());
    let socket = match *addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(*addr)?;
    let listener = socket.listen(4096)?;
    *addr = listener.local_addr()?;
    Ok(listener)
}
