//! Thread-per-core: N threads, each with its own runtime (optionally pinned to a CPU), each
//! running the same async entry point.

use std::future::Future;
use std::io;
use std::sync::Mutex;

use super::Builder;
use crate::sys::syscall;

/// Starts N threads, each with its own [`Runtime`](super::Runtime), each running the same
/// async entry point; joins them and propagates the first error.
///
/// Nothing is shared between the runtimes: share a listening port with one
/// `SO_REUSEPORT` listener per thread
/// ([`TcpSocket::set_reuseport`](crate::net::TcpSocket::set_reuseport)).
///
/// ```
/// use proactor::runtime::ThreadPerCore;
/// let ids = ThreadPerCore::new(2).run(|i| async move {
///     proactor::nop().await?;
///     Ok(i * 10)
/// })?;
/// assert_eq!(ids, vec![0, 10]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ThreadPerCore {
    threads: usize,
    pin: bool,
    builder: Builder,
}

impl ThreadPerCore {
    /// `threads` runtimes (0: one per CPU this process may run on), not pinned, each built
    /// with the default [`Builder`].
    pub fn new(threads: usize) -> Self {
        let threads = if threads == 0 {
            available_cpus()
        } else {
            threads
        };
        ThreadPerCore {
            threads,
            pin: false,
            builder: Builder::new(),
        }
    }

    /// Pins thread `i` to the `i`-th CPU this process may run on (wrapping around when
    /// there are more threads than CPUs).
    pub fn pin(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// The builder each thread's runtime is built with (driver, ring size, ...).
    pub fn builder(mut self, builder: Builder) -> Self {
        self.builder = builder;
        self
    }

    /// How many threads [`run`](ThreadPerCore::run) starts.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `entry(i)` on thread `i` for each thread, each on its own runtime, and waits for
    /// all of them. Returns every thread's output in thread order, or the first error to
    /// happen (building a runtime, pinning, the entry point's own error, or a panic).
    pub fn run<F, Fut, T>(&self, entry: F) -> io::Result<Vec<T>>
    where
        F: Fn(usize) -> Fut + Sync,
        Fut: Future<Output = io::Result<T>>,
        T: Send,
    {
        let cpus = if self.pin {
            allowed_cpus()?
        } else {
            Vec::new()
        };
        let first_error = Mutex::new(None);
        let record = |e: io::Error| {
            let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert(e);
        };
        let outputs: Vec<Option<T>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..self.threads)
                .map(|i| {
                    let cpu = (!cpus.is_empty()).then(|| cpus[i % cpus.len()]);
                    let (entry, builder) = (&entry, &self.builder);
                    std::thread::Builder::new()
                        .name(format!("proactor-{i}"))
                        .spawn_scoped(scope, move || run_one(i, cpu, builder, entry))
                })
                .collect();
            handles
                .into_iter()
                .enumerate()
                .map(|(i, handle)| match handle.map(|h| h.join()) {
                    Ok(Ok(Ok(out))) => Some(out),
                    Ok(Ok(Err(e))) | Err(e) => {
                        record(e);
                        None
                    }
                    Ok(Err(panic)) => {
                        record(io::Error::other(format!(
                            "runtime thread {i} panicked: {}",
                            panic_message(&*panic)
                        )));
                        None
                    }
                })
                .collect()
        });
        match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(outputs.into_iter().flatten().collect()),
        }
    }
}

/// Runs `entry(i)` on `threads` runtimes, one per thread, unpinned, with the default
/// builder: shorthand for `ThreadPerCore::new(threads).run(entry)`.
pub fn run_per_core<F, Fut, T>(threads: usize, entry: F) -> io::Result<Vec<T>>
where
    F: Fn(usize) -> Fut + Sync,
    Fut: Future<Output = io::Result<T>>,
    T: Send,
{
    ThreadPerCore::new(threads).run(entry)
}

fn run_one<F, Fut, T>(i: usize, cpu: Option<usize>, builder: &Builder, entry: &F) -> io::Result<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    if let Some(cpu) = cpu {
        pin_to(cpu).map_err(|e| io::Error::new(e.kind(), format!("pinning to CPU {cpu}: {e}")))?;
    }
    let rt = builder.build().map_err(|e| {
        io::Error::new(e.kind(), format!("building the runtime of thread {i}: {e}"))
    })?;
    rt.block_on(entry(i))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

/// How many CPUs this process may run on.
fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPUs this process may run on (its affinity mask), in order.
fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a live, writable cpu_set_t of `size` bytes.
    syscall!(sched_getaffinity(0, size, &mut set))?;
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, inside the set's bit array.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if cpus.is_empty() {
        return Err(io::Error::other("the process may run on no CPU"));
    }
    Ok(cpus)
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("CPU {cpu} is out of range"),
        ));
    }
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above), inside the set's bit array.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a live cpu_set_t of `size` bytes; 0 names the calling thread.
    syscall!(sched_setaffinity(0, size, &set)).map(drop)
}
