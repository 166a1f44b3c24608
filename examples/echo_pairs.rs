//! A deterministic measure of the runtime's own cost per echo: one thread runs both the
//! server side (the echo-server's loop: `recv_multi` from a shared pool, `write_all`) and
//! the client side (`write_all`, `read_exact`) of `--conns` TCP connections over loopback,
//! `--rounds` round trips each, all in lockstep. Nothing depends on timing, so under
//! `valgrind --tool=callgrind` the instruction count is the same run to run: divide it by
//! the round trips for instructions per echo (client and server sides together).
//!
//! `valgrind --tool=callgrind target/release/examples/echo_pairs --conns 64 --rounds 2000`
//!
//! `--compat` (built with `--features tokio-io`) runs the server side through the
//! poll-based bridge instead, as `examples/compat_echo_server.rs` does (`tokio::io`'s
//! `read` into a 64 KiB buffer, `write_all`): the difference per round trip is the bridge's
//! cost.

#[cfg(feature = "tokio-io")]
#[path = "common/compat_echo.rs"]
mod compat_echo;

use std::io;
use std::rc::Rc;

use proactor::buf::BufRing;
use proactor::net::{TcpListener, TcpStream};
use proactor::{Driver, JoinSet, Runtime};

fn main() -> io::Result<()> {
    let (mut conns, mut rounds, mut size, mut driver) =
        (64usize, 2000usize, 64usize, Driver::Uring);
    let mut compat = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a flag needs a value");
        match arg.as_str() {
            "--conns" => conns = value().parse().expect("--conns N"),
            "--rounds" => rounds = value().parse().expect("--rounds N"),
            "--size" => size = value().parse().expect("--size BYTES"),
            "--driver" => driver = value().parse()?,
            "--compat" => compat = true,
            other => panic!("unknown argument {other:?}"),
        }
    }
    if compat && cfg!(not(feature = "tokio-io")) {
        panic!("--compat needs the bridge: build with --features tokio-io");
    }
    let rt = Runtime::builder().driver(driver).build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let pool = BufRing::builder().count(1024).size(4096).build()?;
        let mut servers = JoinSet::new();
        let mut clients = JoinSet::new();
        let payload: Rc<Vec<u8>> = Rc::new((0..size).map(|i| i as u8).collect());
        for _ in 0..conns {
            let client = TcpStream::connect(addr).await?;
            let (server, _) = listener.accept().await?;
            client.set_nodelay(true)?;
            server.set_nodelay(true)?;
            #[cfg(feature = "tokio-io")]
            let server = if compat {
                servers.spawn(compat_echo::echo(
                    server,
                    compat_echo::Style::ReadWrite {
                        buf_size: 64 * 1024,
                    },
                ));
                None
            } else {
                Some(server)
            };
            #[cfg(not(feature = "tokio-io"))]
            let server = Some(server);
            if let Some(server) = server {
                let pool = pool.clone();
                servers.spawn(async move {
                    let mut recv = server.recv_multi(&pool);
                    while let Some(Ok(buf)) = recv.next().await {
                        if server.write_all(buf).await.0.is_err() {
                            return;
                        }
                    }
                });
            }
            let payload = payload.clone();
            clients.spawn(async move {
                let mut back = Vec::with_capacity(payload.len());
                for _ in 0..rounds {
                    let (res, _) = client.write_all(payload.to_vec()).await;
                    res?;
                    back.clear();
                    let (res, b) = client.read_exact(back).await;
                    res?;
                    assert!(b[..] == payload[..], "an echo came back changed");
                    back = b;
                }
                io::Result::Ok(())
            });
        }
        while let Some(res) = clients.join_next().await {
            res.map_err(io::Error::from)??;
        }
        servers.abort_all();
        println!("{} round trips", conns * rounds);
        io::Result::Ok(())
    })
}
