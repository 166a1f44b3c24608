//! Setting up the io_uring backend's ring: the setup flags tried in turn, the opcodes the
//! runtime needs, the fast paths the kernel offers, the registered ring fd, and the kernel
//! ABI structs the `libc` crate lacks.

use std::io;

use io_uring::{opcode, IoUring};

use crate::driver::stats::{FastPaths, RingFeatures};
use crate::sys::syscall;

/// The opcodes every runtime on this backend uses; a kernel lacking one is not used (the
/// runtime then falls back to epoll under `Driver::Auto`). `FTRUNCATE` (6.9) is left out
/// (Linux 6.9); the others are in 5.15.
const REQUIRED_OPCODES: &[(u8, &str)] = &[
    (opcode::Nop::CODE, "NOP"),
    (opcode::Read::CODE, "READ"),
    (opcode::Write::CODE, "WRITE"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Recv::CODE, "RECV"),
    (opcode::Send::CODE, "SEND"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::RecvMsg::CODE, "RECVMSG"),
    (opcode::Shutdown::CODE, "SHUTDOWN"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::OpenAt::CODE, "OPENAT"),
    (opcode::Fsync::CODE, "FSYNC"),
    (opcode::Statx::CODE, "STATX"),
    (opcode::UnlinkAt::CODE, "UNLINKAT"),
    (opcode::RenameAt::CODE, "RENAMEAT"),
    (opcode::MkDirAt::CODE, "MKDIRAT"),
    (opcode::Readv::CODE, "READV"),
    (opcode::Writev::CODE, "WRITEV"),
    (opcode::LinkTimeout::CODE, "LINK_TIMEOUT"),
    (opcode::Splice::CODE, "SPLICE"),
    (opcode::PollAdd::CODE, "POLL_ADD"),
    // Not FTRUNCATE (Linux 6.9): `set_len` falls back to ftruncate(2) where it is missing,
    // so older kernels keep io_uring for everything else.
];

/// Builds the ring, asking for the cheapest completion mode the kernel supports: with `fast`,
/// `SINGLE_ISSUER` + `DEFER_TASKRUN` first; then `COOP_TASKRUN`; then the plain ring. A
/// kernel that refuses a flag answers EINVAL, and the next tier is tried.
pub(super) fn build_ring(entries: u32, fast: bool) -> io::Result<(IoUring, RingFeatures)> {
    // At least 4: a timed op takes up to three entries in one submission (a slot install,
    // the op, its link timeout), and they must fit the queue together.
    let entries = entries.clamp(4, 32768);
    let base = || {
        let mut b = IoUring::builder();
        b.setup_clamp().setup_cqsize(entries * 4);
        b
    };
    let attempt = |defer: bool, coop: bool| {
        let mut b = base();
        if coop {
            b.setup_submit_all()
                .setup_coop_taskrun()
                .setup_taskrun_flag();
        }
        if defer {
            b.setup_single_issuer().setup_defer_taskrun();
        }
        b.build(entries).map(|ring| {
            let features = RingFeatures {
                single_issuer: defer,
                defer_taskrun: defer,
                coop_taskrun: coop,
                ..RingFeatures::default()
            };
            (ring, features)
        })
    };
    let tiers: &[(bool, bool)] = if fast {
        &[(true, true), (false, true), (false, false)]
    } else {
        &[(false, true), (false, false)]
    };
    let mut last = None;
    for &(defer, coop) in tiers {
        match attempt(defer, coop) {
            Ok(built) => {
                last = Some(Ok(built));
                break;
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                crate::trace::event!(
                    debug,
                    single_issuer_defer_taskrun = defer,
                    coop_taskrun = coop,
                    "io_uring setup flags refused (EINVAL); trying the next tier"
                );
                last = Some(Err(e));
            }
            Err(e) => return Err(e),
        }
    }
    let (ring, features) = last.expect("at least one tier")?;
    if !ring.params().is_feature_ext_arg() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring lacks IORING_FEAT_EXT_ARG (Linux 5.11+)",
        ));
    }
    Ok((ring, features))
}

// `<linux/io_uring.h>` constants the `libc` crate does not carry.
pub(super) const ENTER_GETEVENTS: u32 = 1 << 0;
pub(super) const ENTER_EXT_ARG: u32 = 1 << 3;
pub(super) const ENTER_REGISTERED_RING: u32 = 1 << 4;
const REGISTER_RING_FDS: libc::c_long = 20;
const UNREGISTER_RING_FDS: libc::c_long = 21;

/// `struct io_uring_getevents_arg` of `<linux/io_uring.h>`.
#[repr(C)]
pub(super) struct GeteventsArg {
    pub(super) sigmask: u64,
    pub(super) sigmask_sz: u32,
    pub(super) min_wait_usec: u32,
    pub(super) ts: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
pub(super) struct KernelTimespec {
    pub(super) tv_sec: i64,
    pub(super) tv_nsec: i64,
}

/// `struct io_uring_rsrc_update`, the argument of `IORING_(UN)REGISTER_RING_FDS`.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// Registers the ring's fd with this thread's io_uring context (Linux 5.18+), so that
/// `io_uring_enter` skips the fd table lookup; the index, or `None` where refused.
pub(super) fn register_ring_fd(ring_fd: i32) -> Option<i32> {
    let mut up = RsrcUpdate {
        offset: u32::MAX,
        resv: 0,
        data: ring_fd as u64,
    };
    let up_ptr: *mut RsrcUpdate = &mut up;
    // SAFETY: `up` is a live, writable `io_uring_rsrc_update` for the duration of the call,
    // and the count (1) matches it.
    let res = syscall!(syscall(
        libc::SYS_io_uring_register,
        ring_fd,
        REGISTER_RING_FDS,
        up_ptr,
        1 as libc::c_long
    ));
    match res {
        Ok(1) => Some(up.offset as i32),
        _ => None,
    }
}

/// Drops the registration of [`register_ring_fd`]; the registration holds a reference to
/// the ring's file, so without this the ring would live as long as the thread.
pub(super) fn unregister_ring_fd(ring_fd: i32, index: i32) {
    let up = RsrcUpdate {
        offset: index as u32,
        resv: 0,
        data: 0,
    };
    let up_ptr: *const RsrcUpdate = &up;
    // SAFETY: `up` is a live `io_uring_rsrc_update` for the duration of the call, and the
    // count (1) matches it.
    let _ = syscall!(syscall(
        libc::SYS_io_uring_register,
        ring_fd,
        UNREGISTER_RING_FDS,
        up_ptr,
        1 as libc::c_long
    ));
}

/// An error's message without the "(os error N)" suffix, for a readable reason line.
pub(super) fn os_msg(e: &io::Error) -> String {
    let msg = e.to_string();
    match msg.find(" (os error") {
        Some(end) => msg[..end].to_string(),
        None => msg,
    }
}

/// Checks that the ring supports every opcode the runtime needs; the probe, for the fast
/// paths.
pub(super) fn check_support(ring: &IoUring) -> io::Result<io_uring::Probe> {
    let mut probe = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| io::Error::new(e.kind(), format!("io_uring probe: {}", os_msg(&e))))?;
    for &(code, name) in REQUIRED_OPCODES {
        if !probe.is_supported(code) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring does not support IORING_OP_{name}"),
            ));
        }
    }
    Ok(probe)
}

/// Which multishot paths the kernel has. Multishot accept came with Linux 5.19, multishot
/// recv with 6.0; the probe lists opcodes, not flags, so opcodes of the same releases stand
/// in: `SOCKET` (5.19) and `SEND_ZC` (6.0). A failing buffer-ring registration turns recv
/// multishot off as well.
pub(super) fn probe_fast_paths(probe: &io_uring::Probe) -> FastPaths {
    FastPaths {
        accept_multi: probe.is_supported(opcode::Socket::CODE),
        recv_multi: probe.is_supported(opcode::SendZc::CODE),
    }
}
