//! `futures_core::Stream` (feature `stream`) for `Incoming`, `RecvStream` and `Interval`,
//! driven by futures-util's `StreamExt`.

#![cfg(feature = "stream")]

mod util;

use std::time::Duration;

use futures_util::StreamExt;
use proactor::buf::BufRing;
use proactor::net::{TcpListener, TcpStream};
use proactor::{spawn, Driver};
use util::block_on;

fn incoming_and_recv_streams(driver: Driver) {
    block_on(driver, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let clients = spawn(async move {
            for i in 0..3u8 {
                let stream = TcpStream::connect(addr).await?;
                let (res, _) = stream.write_all(vec![i; 100]).await;
                res?;
            }
            Ok::<_, std::io::Error>(())
        });
        let pool = BufRing::builder().count(8).size(64).build().unwrap();
        let accepted: Vec<_> = StreamExt::take(listener.incoming(), 3).collect().await;
        clients.await.unwrap().unwrap();
        for (i, conn) in accepted.into_iter().enumerate() {
            let (stream, _) = conn.unwrap();
            let bufs: Vec<_> = stream.recv_multi(&pool).collect().await;
            let bytes: Vec<u8> = bufs.into_iter().flat_map(|b| b.unwrap().to_vec()).collect();
            assert_eq!(bytes, vec![i as u8; 100]);
        }
    });
}

fn interval_stream(driver: Driver) {
    block_on(driver, async {
        let ticks: Vec<_> = proactor::time::interval(Duration::from_millis(2))
            .take(3)
            .collect()
            .await;
        assert_eq!(ticks.len(), 3);
        assert!(ticks.windows(2).all(|w| w[1] > w[0]));
    });
}

on_each_driver!(incoming_and_recv_streams, interval_stream);
