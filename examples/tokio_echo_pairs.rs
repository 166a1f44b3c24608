//! The tokio counterpart of `echo_pairs` (same connections, rounds and lockstep, on tokio's
//! current_thread runtime), so the two runtimes' instructions per echo can be compared under
//! `valgrind --tool=callgrind`.

use std::io;
use std::rc::Rc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() -> io::Result<()> {
    let (mut conns, mut rounds, mut size) = (64usize, 2000usize, 64usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a flag needs a value");
        match arg.as_str() {
            "--conns" => conns = value().parse().expect("--conns N"),
            "--rounds" => rounds = value().parse().expect("--rounds N"),
            "--size" => size = value().parse().expect("--size BYTES"),
            other => panic!("unknown argument {other:?}"),
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let payload: Rc<Vec<u8>> = Rc::new((0..size).map(|i| i as u8).collect());
        let mut clients = Vec::new();
        let mut servers = Vec::new();
        for _ in 0..conns {
            let mut client = TcpStream::connect(addr).await?;
            let (mut server, _) = listener.accept().await?;
            client.set_nodelay(true)?;
            server.set_nodelay(true)?;
            servers.push(tokio::task::spawn_local(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    match server.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if server.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }));
            let payload = payload.clone();
            clients.push(tokio::task::spawn_local(async move {
                let mut back = vec![0u8; payload.len()];
                for _ in 0..rounds {
                    client.write_all(&payload.to_vec()).await?;
                    client.read_exact(&mut back).await?;
                    assert!(back[..] == payload[..], "an echo came back changed");
                }
                io::Result::Ok(())
            }));
        }
        for c in clients {
            c.await??;
        }
        servers.iter().for_each(|s| s.abort());
        println!("{} round trips", conns * rounds);
        io::Result::Ok(())
    })
}
