//! Socket addresses: [`ToSocketAddrs`], what the connecting, binding and sending calls take,
//! and [`lookup_host`], a name lookup on the blocking pool.
//!
//! A literal address (a [`SocketAddr`], an IP and a port, `"127.0.0.1:80"`) is parsed on the
//! spot; only a host name goes to `getaddrinfo`, which blocks, so it runs on the blocking
//! pool and the loop's thread never waits on a name server.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::pin::Pin;

/// What [`TcpStream::connect`](super::TcpStream::connect),
/// [`UdpSocket::send_to`](super::UdpSocket::send_to), [`lookup_host`] and the binds take:
/// one or more socket addresses, or a host name and a port (tokio's
/// `tokio::net::ToSocketAddrs`, std's [`std::net::ToSocketAddrs`]).
///
/// Implemented for [`SocketAddr`], [`SocketAddrV4`], [`SocketAddrV6`], `(IpAddr, u16)`,
/// `(Ipv4Addr, u16)`, `(Ipv6Addr, u16)`, `[SocketAddr; N]`, `&[SocketAddr]`,
/// `Vec<SocketAddr>`, `&str` and `String` (`"host:port"`, `"[::1]:80"`), `(&str, u16)` and
/// `(String, u16)`, and references to any of these. The trait is sealed: its method is the
/// crate's own.
///
/// The literal forms resolve at once, with no lookup. A host name is looked up with
/// `getaddrinfo` on the blocking pool by the async calls (`connect`, `send_to`,
/// `lookup_host`); the synchronous binds ([`TcpListener::bind`](super::TcpListener::bind),
/// [`UdpSocket::bind`](super::UdpSocket::bind)), which never block, take literal addresses
/// only and refuse a host name with [`InvalidInput`](io::ErrorKind::InvalidInput) (resolve
/// it with [`lookup_host`] first).
///
/// ```
/// # proactor::block_on(async {
/// use proactor::net::{TcpListener, TcpStream};
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// // A string, a tuple or a SocketAddr: all connect the same way.
/// let a = TcpStream::connect(format!("127.0.0.1:{port}")).await?;
/// let b = TcpStream::connect(("127.0.0.1", port)).await?;
/// let c = TcpStream::connect(listener.local_addr()?).await?;
/// # drop((a, b, c));
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub trait ToSocketAddrs: sealed::ToSocketAddrsPriv {}

pub(crate) mod sealed {
    use std::io;

    use super::Target;

    /// The crate's side of [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait ToSocketAddrsPriv {
        /// The literal addresses, or the name and port to look up; an error for a malformed
        /// `"host:port"` string (found without a lookup).
        fn target(&self) -> io::Result<Target>;
    }
}

/// Where an address argument leads: its addresses, or a lookup.
pub enum Target {
    /// Literal addresses: nothing to look up.
    Ready(Addrs),
    /// A host name and a port, for `getaddrinfo` on the blocking pool.
    Lookup(String, u16),
}

/// The addresses an argument resolved to, in order.
#[derive(Clone, Debug)]
pub enum Addrs {
    /// One address (or none left).
    One(Option<SocketAddr>),
    /// Several, from a list or a lookup.
    Many(std::vec::IntoIter<SocketAddr>),
}

impl Iterator for Addrs {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        match self {
            Addrs::One(addr) => addr.take(),
            Addrs::Many(addrs) => addrs.next(),
        }
    }
}

/// Looks up `host` (`"example.com:80"`, `("example.com", 80)`, or any [`ToSocketAddrs`]) and
/// gives its socket addresses: tokio's `lookup_host`, asyncio's `getaddrinfo`. A host name
/// is resolved with `getaddrinfo` on the blocking pool, so the runtime keeps running
/// meanwhile; a literal address is returned at once, with no lookup.
///
/// ```
/// # proactor::block_on(async {
/// let addrs: Vec<_> = proactor::net::lookup_host("127.0.0.1:8080").await?.collect();
/// assert_eq!(addrs, ["127.0.0.1:8080".parse().unwrap()]);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// # Panics
/// When a host name is to be looked up outside a runtime.
pub async fn lookup_host(host: impl ToSocketAddrs) -> io::Result<impl Iterator<Item = SocketAddr>> {
    resolve(&host).await
}

/// The addresses of `addr`: at once for literal ones, else through `getaddrinfo` on the
/// blocking pool.
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Addrs> {
    match addr.target()? {
        Target::Ready(addrs) => Ok(addrs),
        Target::Lookup(host, port) => lookup(host, port).await,
    }
}

/// `getaddrinfo` of `host` and `port`, on the blocking pool.
async fn lookup(host: String, port: u16) -> io::Result<Addrs> {
    let (lookup, job) = crate::blocking::job(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .map(|addrs| Addrs::Many(addrs.collect::<Vec<_>>().into_iter()))
    });
    crate::pool::submit(crate::pool::Kind::User, job);
    lookup.await
}

/// [`resolve`] for a future of its own (`net/future.rs`): the addresses at once, or their
/// lookup, boxed (only a host name needs one).
pub(crate) enum Resolve {
    Ready(Addrs),
    Lookup(Pin<Box<dyn Future<Output = io::Result<Addrs>>>>),
}

impl Resolve {
    /// Where `addr` leads; an error for a malformed `"host:port"` string.
    pub(crate) fn new<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Resolve> {
        Ok(match addr.target()? {
            Target::Ready(addrs) => Resolve::Ready(addrs),
            Target::Lookup(host, port) => Resolve::Lookup(Box::pin(lookup(host, port))),
        })
    }
}

/// The addresses of `addr` without a lookup, for the calls that never block: an
/// `InvalidInput` error naming `what` for a host name.
pub(crate) fn resolve_now<A: ToSocketAddrs + ?Sized>(addr: &A, what: &str) -> io::Result<Addrs> {
    match addr.target()? {
        Target::Ready(addrs) => Ok(addrs),
        Target::Lookup(host, _) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{what} takes an IP address, not the host name {host:?} (it never blocks on a \
                 lookup): resolve the name with `proactor::net::lookup_host` first"
            ),
        )),
    }
}

/// Runs `f` on each of `addrs` until one succeeds; the last error otherwise (std's rule).
pub(crate) fn each_addr<T>(
    addrs: Addrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addrs {
        match f(addr) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(no_addresses))
}

/// The error of an argument that named no address at all.
pub(crate) fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any address",
    )
}

fn ready(addr: SocketAddr) -> io::Result<Target> {
    Ok(Target::Ready(Addrs::One(Some(addr))))
}

fn list(addrs: &[SocketAddr]) -> io::Result<Target> {
    Ok(Target::Ready(match addrs {
        [one] => Addrs::One(Some(*one)),
        many => Addrs::Many(Vec::from(many).into_iter()),
    }))
}

/// A host and a port: an IP literal at once, else a name to look up.
fn host_port(host: &str, port: u16) -> io::Result<Target> {
    match host.parse::<IpAddr>() {
        Ok(ip) => ready(SocketAddr::new(ip, port)),
        Err(_) => Ok(Target::Lookup(host.to_owned(), port)),
    }
}

/// `"host:port"` or a literal (`"[::1]:80"`), split as std splits it: at the last colon.
fn host_colon_port(s: &str) -> io::Result<Target> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return ready(addr);
    }
    let invalid = |msg: &str| io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned());
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| invalid("invalid socket address: expected \"host:port\""))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| invalid("invalid port value"))?;
    host_port(host, port)
}

macro_rules! literal {
    ($($ty:ty => |$s:ident| $e:expr;)*) => {$(
        impl ToSocketAddrs for $ty {}
        impl sealed::ToSocketAddrsPriv for $ty {
            fn target(&self) -> io::Result<Target> {
                let $s = self;
                $e
            }
        }
    )*};
}

literal! {
    SocketAddr => |a| ready(*a);
    SocketAddrV4 => |a| ready(SocketAddr::V4(*a));
    SocketAddrV6 => |a| ready(SocketAddr::V6(*a));
    (IpAddr, u16) => |a| ready(SocketAddr::new(a.0, a.1));
    (Ipv4Addr, u16) => |a| ready(SocketAddr::new(IpAddr::V4(a.0), a.1));
    (Ipv6Addr, u16) => |a| ready(SocketAddr::new(IpAddr::V6(a.0), a.1));
    [SocketAddr] => |a| list(a);
    Vec<SocketAddr> => |a| list(a);
    str => |s| host_colon_port(s);
    String => |s| host_colon_port(s);
    (&str, u16) => |a| host_port(a.0, a.1);
    (String, u16) => |a| host_port(&a.0, a.1);
}

impl<const N: usize> ToSocketAddrs for [SocketAddr; N] {}
impl<const N: usize> sealed::ToSocketAddrsPriv for [SocketAddr; N] {
    fn target(&self) -> io::Result<Target> {
        list(self)
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrs + ?Sized> sealed::ToSocketAddrsPriv for &T {
    fn target(&self) -> io::Result<Target> {
        (**self).target()
    }
}
