//! Driver choice, tested in child processes: the fallback to epoll under a seccomp filter
//! that blocks `io_uring_setup`, and the `PROACTOR_DRIVER` / `PROACTOR_LOG` variables.
//!
//! Each test re-runs this test binary with [`ROLE`] set, so that the child runs only the
//! ignored [`child`] test in the role given; a filter or a variable set there cannot
//! affect the other tests of the parent.

use std::io;
use std::process::{Command, Output};
use std::time::Duration;

use proactor::net::{TcpListener, TcpStream};
use proactor::{Driver, DriverKind, Runtime};

/// Names the role of a child process.
const ROLE: &str = "PROACTOR_TEST_CHILD_ROLE";

/// Runs this binary's `child` test in `role`, with `envs`; returns what it printed.
fn run_child(role: &str, envs: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args([
        "child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ROLE, role)
    .env_remove("PROACTOR_DRIVER")
    .env_remove("PROACTOR_LOG");
    cmd.envs(envs.iter().copied());
    let out = cmd.output().expect("cannot run the child test process");
    println!(
        "--- child {role} stdout ---\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    println!(
        "--- child {role} stderr ---\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "child {role} failed: {:?}",
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 passed"),
        "the child test did not run: {stdout}"
    );
    out
}

#[test]
fn auto_falls_back_to_epoll_when_io_uring_setup_is_blocked() {
    let out = run_child("seccomp", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains("child: skipped") {
        println!("skipped: this kernel cannot install seccomp filters");
        return;
    }
    assert!(stdout.contains("child: epoll echo ok"), "{stdout}");
}

#[test]
fn proactor_driver_selects_the_driver() {
    run_child("env-epoll", &[("PROACTOR_DRIVER", "epoll")]);
}

#[test]
fn invalid_proactor_driver_is_a_clear_error() {
    run_child("env-invalid", &[("PROACTOR_DRIVER", "kqueue")]);
}

#[test]
fn proactor_log_debug_prints_the_choice() {
    let envs = [("PROACTOR_DRIVER", "epoll"), ("PROACTOR_LOG", "debug")];
    let out = run_child("log", &envs);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("proactor: epoll driver: epoll requested by PROACTOR_DRIVER"),
        "no debug line: {stderr}"
    );
}

/// The child process: does what [`ROLE`] says. Ignored in a normal run.
#[test]
#[ignore = "child role of the fallback tests, run by them in a separate process"]
fn child() {
    let role = std::env::var(ROLE).expect("run by the fallback tests with a role");
    match role.as_str() {
        "seccomp" => seccomp_child(),
        "env-epoll" => env_epoll_child(),
        "env-invalid" => env_invalid_child(),
        "log" => drop(Runtime::new().expect("epoll runtime")),
        other => panic!("unknown child role {other:?}"),
    }
}

fn seccomp_child() {
    if let Err(e) = deny_io_uring_setup() {
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "seccomp filter: {e}");
        println!("child: skipped: seccomp filters are not supported: {e}");
        return;
    }
    let rt = Runtime::new().expect("Auto must fall back to epoll");
    println!("child: driver {} ({})", rt.driver(), rt.driver_reason());
    assert_eq!(rt.driver(), DriverKind::Epoll);
    let reason = rt.driver_reason();
    assert!(
        reason.contains("io_uring_setup: Operation not permitted"),
        "{reason}"
    );
    assert!(reason.contains("using epoll"), "{reason}");
    echo_round_trip(&rt);
    let slept = rt.block_on(async {
        let start = std::time::Instant::now();
        proactor::time::sleep(Duration::from_millis(3)).await;
        start.elapsed()
    });
    assert!(
        slept >= Duration::from_millis(3),
        "a timer fired early: {slept:?}"
    );
    println!("child: epoll echo ok, {:?}", rt.stats());

    let err = Runtime::builder()
        .driver(Driver::Uring)
        .build()
        .expect_err("forcing io_uring where it is blocked must fail");
    println!("child: forced io_uring: {err}");
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("io_uring is unavailable"), "{err}");
}

fn env_epoll_child() {
    let rt = Runtime::new().expect("epoll runtime");
    assert_eq!(rt.driver(), DriverKind::Epoll);
    assert_eq!(rt.driver_reason(), "epoll requested by PROACTOR_DRIVER");
    echo_round_trip(&rt);
    // The variable overrides only Auto: an explicit choice in the code wins.
    let explicit = Runtime::builder().driver(Driver::Epoll).build().unwrap();
    assert_eq!(explicit.driver_reason(), "epoll requested");
}

fn env_invalid_child() {
    let err = Runtime::new().expect_err("an invalid PROACTOR_DRIVER must be an error");
    println!("child: {err}");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let msg = err.to_string();
    assert!(
        msg.contains("PROACTOR_DRIVER") && msg.contains("kqueue"),
        "{msg}"
    );
    let explicit = Runtime::builder().driver(Driver::Epoll).build();
    assert!(
        explicit.is_ok(),
        "an explicit driver does not read the variable"
    );
}

/// An echo round trip over TCP on 127.0.0.1: a spawned server task echoes one message.
fn echo_round_trip(rt: &Runtime) {
    let echoed = rt.block_on(proactor::time::timeout(Duration::from_secs(10), async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = proactor::spawn(async move {
            let (stream, _) = listener.accept().await?;
            let (res, buf) = stream.read(Vec::with_capacity(64)).await;
            res?;
            stream.write_all(buf).await.0
        });
        let client = TcpStream::connect(addr).await?;
        client.write_all(b"hello epoll".to_vec()).await.0?;
        let mut back = Vec::new();
        while back.len() < b"hello epoll".len() {
            let (res, buf) = client.read(Vec::with_capacity(64)).await;
            if res? == 0 {
                break;
            }
            back.extend_from_slice(&buf);
        }
        server.await.expect("the echo task failed")?;
        io::Result::Ok(back)
    }));
    let echoed = echoed.expect("the echo timed out").expect("echo failed");
    assert_eq!(echoed, b"hello epoll");
}

/// The audit architecture of this build, as the seccomp data reports it.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

/// Installs a seccomp filter on this thread making `io_uring_setup` fail with `EPERM`, as
/// Docker's default profile does, and `epoll_pwait2` with `ENOSYS`, as older profiles and
/// kernels do (the epoll driver must fall back to `epoll_wait`); every other system call
/// is allowed. `EINVAL`: the kernel
/// has no seccomp filters.
fn deny_io_uring_setup() -> io::Result<()> {
    const fn stmt(code: u32, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        }
    }
    const fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt,
            jf,
            k,
        }
    }
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    // Offsets in struct seccomp_data: nr at 0, arch at 4.
    let mut program = [
        stmt(load, 4),
        jeq(AUDIT_ARCH, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW), // another ABI: not filtered
        stmt(load, 0),
        jeq(libc::SYS_io_uring_setup as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        jeq(libc::SYS_epoll_pwait2 as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "PR_SET_NO_NEW_PRIVS: {}", io::Error::last_os_error());
    // SAFETY: `prog` points to `program`, a valid BPF program that outlives the call (the
    // kernel copies it).
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
