//! A line-based chat server: tokio-util's `Framed<TcpStream, LinesCodec>` on proactor's
//! `TcpStream` (feature `tokio-io`). Every line a client sends goes to every connected
//! client, itself included, so a lone client gets an echo.
//!
//! ```text
//! cargo run --release --features tokio-io --example lines -- [--addr 127.0.0.1:7100] [--driver auto|uring|epoll]
//! ```
//!
//! Prints `listening on <addr>`. Lines longer than 8 KiB close their connection; a client
//! that does not keep up with the room misses the lines that overflow its 256-line queue.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::rc::Rc;

use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use proactor::net::{TcpListener, TcpStream};
use proactor::{Driver, Runtime};
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, LinesCodec};

const MAX_LINE: usize = 8 * 1024;
const QUEUE: usize = 256;

/// A tokio-util LinesCodec chat server on proactor.
#[derive(Parser, Debug)]
#[command(name = "lines")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7100")]
    addr: SocketAddr,
    /// I/O driver.
    #[arg(long, value_enum, default_value_t = DriverArg::Auto)]
    driver: DriverArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DriverArg {
    Auto,
    Uring,
    Epoll,
}

/// The connected clients: the queue of lines to send to each.
#[derive(Default)]
struct Room {
    next_id: u64,
    members: HashMap<u64, mpsc::Sender<String>>,
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let driver = match args.driver {
        DriverArg::Auto => Driver::Auto,
        DriverArg::Uring => Driver::Uring,
        DriverArg::Epoll => Driver::Epoll,
    };
    let rt = Runtime::builder().driver(driver).build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(args.addr)?;
        println!("listening on {}", listener.local_addr()?);
        io::stdout().flush()?;
        let room = Rc::new(RefCell::new(Room::default()));
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    proactor::spawn(client(stream, peer, room.clone()));
                }
                Err(e) => {
                    eprintln!("lines: accept: {e}");
                    proactor::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    })
}

/// One client: its lines go to the room; the room's lines come back to it.
async fn client(stream: TcpStream, peer: SocketAddr, room: Rc<RefCell<Room>>) {
    let (mut sink, mut lines) =
        Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE)).split();
    let (tx, mut rx) = mpsc::channel::<String>(QUEUE);
    let id = {
        let mut room = room.borrow_mut();
        room.next_id += 1;
        let id = room.next_id;
        room.members.insert(id, tx);
        id
    };
    let writer = proactor::spawn(async move {
        while let Some(line) = rx.recv().await {
            if sink.send(line).await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(line)) = lines.next().await {
        let line = format!("{peer}: {line}");
        for member in room.borrow().members.values() {
            // A full queue: that client misses this line rather than stall the room.
            let _ = member.try_send(line.clone());
        }
    }
    room.borrow_mut().members.remove(&id);
    writer.abort();
}
