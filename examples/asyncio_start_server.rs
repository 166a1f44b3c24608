//! asyncio's `start_server` and `open_connection`: the echo server of PEP 492, on a port
//! the kernel picks, and a client that talks to it, then both stop (the asyncio tour,
//! `docs/asyncio-tour.md`).
//!
//! ```text
//! cargo run --example asyncio_start_server
//! ```

use std::io;
use std::net::Shutdown;

use proactor::net::{TcpListener, TcpStream};

/// `async def handle_connection(reader, writer)`: echoes until the client closes.
async fn handle_connection(stream: TcpStream) -> io::Result<()> {
    println!("New connection...");
    let mut buf = Vec::with_capacity(8192);
    loop {
        buf.clear();
        let (res, data) = stream.read(buf).await;
        if res? == 0 {
            return Ok(()); // if not data: break
        }
        println!("Sending {:?} back", String::from_utf8_lossy(&data));
        let (res, data) = stream.write_all(data).await; // writer.write(data)
        res?;
        buf = data;
    }
}

/// The accept loop `start_server` runs for you: one task per connection.
async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        let (stream, _peer) = listener.accept().await?;
        proactor::spawn(async move {
            if let Err(e) = handle_connection(stream).await {
                eprintln!("connection failed: {e}");
            }
        });
    }
}

fn main() -> io::Result<()> {
    proactor::block_on(async {
        // server = await asyncio.start_server(handle_connection, '127.0.0.1', 0)
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        println!("listening on {addr}");
        let server = proactor::spawn(serve(listener));

        // reader, writer = await asyncio.open_connection('127.0.0.1', port)
        let stream = TcpStream::connect(("127.0.0.1", addr.port())).await?;
        for msg in ["Hello", "World!"] {
            let (res, _) = stream.write_all(msg.as_bytes()).await; // writer.write(...)
            res?;
            let (res, echo) = stream.read_exact(vec![0u8; msg.len()]).await; // readexactly
            res?;
            println!("Received {:?}", String::from_utf8_lossy(&echo));
            assert_eq!(echo, msg.as_bytes());
        }
        stream.shutdown(Shutdown::Write).await?; // writer.close()
        let (res, _) = stream.read(Vec::with_capacity(1)).await;
        assert_eq!(res?, 0, "the server closes its side in turn");

        // server.close(): stop accepting.
        server.abort();
        assert!(server.await.unwrap_err().is_cancelled());
        println!("server closed");
        Ok(())
    })
}
