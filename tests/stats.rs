//! `Stats::ops` (submissions and completions per kind of operation) and
//! `Stats::completions_per_enter` (a histogram of completions per kernel entry), on each
//! driver.

mod util;

use std::time::Duration;

use proactor::fs::File;
use proactor::runtime::{stats, OpCounts, OpKind};
use proactor::{Driver, Stats};
use util::{block_on, tcp_pair};

/// `n` nops are `n` submissions and `n` completions of `Nop`, and nothing else.
fn nops_are_counted_exactly(driver: Driver) {
    block_on(driver, async {
        for _ in 0..10 {
            proactor::nop().await.unwrap();
        }
        let s = stats();
        let nop = s.ops.get(OpKind::Nop);
        assert_eq!((nop.submitted, nop.completed), (10, 10));
        let kinds: Vec<_> = s.ops.iter().map(|(kind, _)| kind).collect();
        assert_eq!(kinds, [OpKind::Nop], "{:?}", s.ops);
        assert_eq!(s.ops.get(OpKind::Recv), OpCounts::default());
    });
}

/// A stream read that waits for its data is one `Recv` completion; on epoll two attempts
/// (`EAGAIN`, then the retry on readiness), on io_uring one submission. The write that
/// feeds it is a `Send`, the pair's setup an `Accept` and a `Connect`.
fn a_recv_is_counted_under_recv(driver: Driver) {
    block_on(driver, async {
        let (client, server) = tcp_pair().await;
        let reader = proactor::spawn(async move { server.read(Vec::with_capacity(4)).await });
        util::until(|| stats().ops.get(OpKind::Recv).submitted >= 1).await;
        let (res, _) = client.write(b"ping".as_slice()).await;
        res.unwrap();
        assert_eq!(reader.await.unwrap().0.unwrap(), 4);
        let s = stats();
        let recv = s.ops.get(OpKind::Recv);
        assert_eq!(recv.completed, 1, "{recv:?}");
        match driver {
            Driver::Epoll => assert_eq!(recv.submitted, 2, "{recv:?}"),
            _ => assert_eq!(recv.submitted, 1, "{recv:?}"),
        }
        assert_eq!(s.ops.get(OpKind::Send).completed, 1);
        assert_eq!(s.ops.get(OpKind::Accept).completed, 1);
        assert_eq!(s.ops.get(OpKind::Connect).completed, 1);
        assert_eq!(s.ops.get(OpKind::Nop), OpCounts::default());
    });
}

/// Vectored stream I/O counts under `SendMsg` and `RecvMsg`; every kind listed by `iter`
/// has counts, and none completed more than it was submitted.
fn vectored_socket_ops_are_counted(driver: Driver) {
    block_on(driver, async {
        let (client, server) = tcp_pair().await;
        let (res, _) = client.write_vectored(vec![b"ab".as_slice()]).await;
        res.unwrap();
        let (res, _) = server.read_vectored(vec![Vec::with_capacity(2)]).await;
        res.unwrap();
        let s = stats();
        for kind in [OpKind::SendMsg, OpKind::RecvMsg] {
            let c = s.ops.get(kind);
            assert!(c.completed >= 1, "{kind:?}: {c:?}");
        }
        for (kind, c) in s.ops.iter() {
            assert!(c.submitted > 0 || c.completed > 0, "{kind:?}");
            assert!(c.submitted >= c.completed, "{kind:?}: {c:?}");
        }
    });
}

/// File ops count under their own kinds on both drivers (on epoll each is one attempt, on
/// the loop or on the pool).
fn file_ops_are_counted(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    block_on(driver, async {
        let mut options = File::options();
        options.read(true).write(true).create(true);
        let file = options.open(&path).await.unwrap();
        let (res, _) = file.write_at(b"hello".as_slice(), 0).await;
        res.unwrap();
        let (res, _) = file.write_vectored_at(vec![b"ab".as_slice()], 5).await;
        res.unwrap();
        file.sync_all().await.unwrap();
        let (res, _) = file.read_at(Vec::with_capacity(5), 0).await;
        assert_eq!(res.unwrap(), 5);
        let (res, _) = file.read_vectored_at(vec![Vec::with_capacity(2)], 5).await;
        assert_eq!(res.unwrap(), 2);
        let s = stats();
        for kind in [
            OpKind::Open,
            OpKind::Write,
            OpKind::Writev,
            OpKind::Fsync,
            OpKind::Read,
            OpKind::Readv,
        ] {
            assert_eq!(s.ops.get(kind).completed, 1, "{kind:?}: {:?}", s.ops);
        }
    });
}

/// On io_uring a timed-out op counts its link timeout, submitted and fired; on epoll there
/// is none.
fn link_timeouts_are_counted(driver: Driver) {
    block_on(driver, async {
        let (_client, server) = tcp_pair().await;
        let (res, _) = server
            .read(Vec::with_capacity(8))
            .timeout(Duration::from_millis(5))
            .await;
        assert!(res.is_err());
        let (res, _) = server
            .read(Vec::with_capacity(8))
            .timeout(Duration::from_secs(30))
            .timeout(Duration::from_millis(5))
            .await;
        assert!(res.is_err(), "the last deadline given counts");
        let link = stats().ops.get(OpKind::LinkTimeout);
        match driver {
            Driver::Epoll => assert_eq!((link.submitted, link.completed), (0, 0)),
            _ => assert_eq!((link.submitted, link.completed), (2, 2)),
        }
    });
}

/// The histogram moves with the turns that enter: its sum is at most the enters (a turn
/// that retried counts once), and the completions it accounts for (the lower bound of each
/// bucket) are at most those reaped. 64 nops at once make a turn that reaps 8 or more on
/// io_uring.
fn completions_per_enter(driver: Driver) {
    block_on(driver, async {
        let before: u64 = stats().completions_per_enter.iter().sum();
        let mut set = proactor::JoinSet::new();
        for _ in 0..64 {
            set.spawn(proactor::nop());
        }
        while let Some(res) = set.join_next().await {
            res.unwrap().unwrap();
        }
        let (client, server) = tcp_pair().await;
        let reader = proactor::spawn(async move { server.read(Vec::with_capacity(4)).await });
        util::until(|| stats().ops.get(OpKind::Recv).submitted >= 1).await;
        let (res, _) = client.write(b"ping".as_slice()).await;
        res.unwrap();
        assert_eq!(reader.await.unwrap().0.unwrap(), 4);
        let s = stats();
        let hist = s.completions_per_enter;
        let sum: u64 = hist.iter().sum();
        assert!(sum > before, "the read's wait entered: {hist:?}");
        assert!(sum <= s.enters, "{hist:?}, {} enters", s.enters);
        let lower = [0, 1, 2, 4, 8, 16, 32];
        let accounted: u64 = hist.iter().zip(lower).map(|(n, low)| n * low).sum();
        assert!(
            accounted <= s.completions,
            "{hist:?}, {} completions",
            s.completions
        );
        if driver == Driver::Uring {
            let many: u64 = hist[4..].iter().sum();
            assert!(many > 0, "a turn reaped 8 or more completions: {hist:?}");
        }
    });
}

#[test]
fn completion_buckets() {
    assert_eq!(Stats::COMPLETION_BUCKETS.len(), 7);
    let buckets: Vec<usize> = [0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 1000]
        .into_iter()
        .map(Stats::completion_bucket)
        .collect();
    assert_eq!(buckets, [0, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]);
}

on_each_driver!(
    nops_are_counted_exactly,
    a_recv_is_counted_under_recv,
    vectored_socket_ops_are_counted,
    file_ops_are_counted,
    link_timeouts_are_counted,
    completions_per_enter
);
