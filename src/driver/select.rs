//! Choosing and building a runtime's backend: [`Driver::Auto`] takes io_uring where the ring
//! can be set up and supports every opcode the runtime uses, else epoll, and says why
//! (`PROACTOR_DRIVER` overrides `Auto`; `PROACTOR_FAST_PATHS` turns the io_uring fast paths
//! off; `PROACTOR_LOG=debug` prints the choice).

use std::io;
use std::os::fd::OwnedFd;
use std::str::FromStr;
use std::time::Duration;

use super::epoll::Epoll;
use super::uring::Uring;
use super::{Engine, Handle};

/// Which I/O driver a runtime should use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Driver {
    /// io_uring where it can be set up and supports what the runtime needs, else epoll.
    #[default]
    Auto,
    /// io_uring, or an error when it is unavailable.
    Uring,
    /// The readiness-based epoll variant.
    Epoll,
}

/// How a runtime's backend is built ([`Builder`](crate::Builder) holds one).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Submission queue size of the ring.
    pub(crate) entries: u32,
    pub(crate) driver: Driver,
    /// The explicit choice; `None`: `PROACTOR_FAST_PATHS`, else on.
    pub(crate) fast_paths: Option<bool>,
    /// Registered file slots for sockets (io_uring, fast paths only).
    pub(crate) fixed_files: u32,
    /// Tests only: io_uring setup fails (`EPERM`, as under a seccomp filter).
    #[cfg(test)]
    pub(crate) refuse_uring: bool,
    /// How many file reads and writes ([`UringOp::FILE_IO`](super::UringOp)) the io_uring
    /// backend queues before it submits them without waiting for the end of the turn; 0:
    /// only at the end of the turn.
    pub(crate) file_batch: u32,
    /// How long a shutdown lets the sends `queue_write` left to the kernel finish before it
    /// cancels them (at most half the shutdown's time).
    pub(crate) queue_write_linger: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            entries: 1024,
            driver: Driver::Auto,
            fast_paths: None,
            fixed_files: 4096,
            #[cfg(test)]
            refuse_uring: false,
            file_batch: 4,
            queue_write_linger: Duration::from_secs(10),
        }
    }
}

/// Builds the backend `config` asks for (`Auto`: `PROACTOR_DRIVER`, else io_uring with epoll
/// as the fallback) on the runtime's eventfd `wake`, with the reason it was chosen.
pub(crate) fn build(config: &Config, wake: &OwnedFd) -> io::Result<(Handle, String)> {
    let (driver, origin) = match config.driver {
        Driver::Auto => match driver_from_env()? {
            Some(driver) => (driver, format!(" by {DRIVER_ENV}")),
            None => (Driver::Auto, String::new()),
        },
        driver => (driver, String::new()),
    };
    let fast = match config.fast_paths {
        Some(on) => on,
        None => fast_paths_from_env()?,
    };
    let uring = || -> io::Result<Engine> {
        #[cfg(test)]
        if config.refuse_uring {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        let wake = wake.try_clone()?;
        let mut uring = Uring::new(
            config.entries,
            wake,
            fast,
            config.fixed_files,
            config.file_batch,
        )?;
        uring.set_detached_linger(config.queue_write_linger);
        Ok(Engine::Uring(uring))
    };
    let epoll = || -> io::Result<Engine> { Ok(Engine::Epoll(Epoll::new(wake.try_clone()?)?)) };
    let (engine, reason) = match driver {
        Driver::Uring => uring()
            .map(|b| (b, format!("io_uring requested{origin}")))
            .map_err(|e| {
                crate::trace::event!(error, err = %e, "io_uring requested but unavailable");
                io::Error::new(
                    e.kind(),
                    format!("io_uring is unavailable ({e}); Driver::Auto would use epoll"),
                )
            })?,
        Driver::Epoll => (epoll()?, format!("epoll requested{origin}")),
        Driver::Auto => match uring() {
            Ok(b) => (b, "io_uring available".to_string()),
            Err(e) => {
                crate::trace::event!(warn, err = %e, "io_uring unavailable; falling back to epoll");
                (epoll()?, format!("io_uring unavailable ({e}); using epoll"))
            }
        },
    };
    let handle = Handle::new(engine);
    crate::trace::event!(info, driver = %handle.kind(), %reason, "driver chosen");
    if std::env::var_os(LOG_ENV).is_some_and(|v| v == "debug") {
        eprintln!("proactor: {} driver: {reason}", handle.kind());
    }
    Ok((handle, reason))
}

/// `off` turns the io_uring fast paths off (see
/// [`Builder::fast_paths`](crate::Builder::fast_paths)).
const FAST_PATHS_ENV: &str = "PROACTOR_FAST_PATHS";
/// Overrides [`Driver::Auto`]: `uring`, `epoll` or `auto`.
const DRIVER_ENV: &str = "PROACTOR_DRIVER";
/// `debug` prints the driver choice to stderr when a runtime is built.
const LOG_ENV: &str = "PROACTOR_LOG";

/// What `PROACTOR_FAST_PATHS` asks for: on when unset.
fn fast_paths_from_env() -> io::Result<bool> {
    let Some(value) = std::env::var_os(FAST_PATHS_ENV) else {
        return Ok(true);
    };
    match value
        .to_str()
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("on" | "1" | "true" | "") => Ok(true),
        Some("off" | "0" | "false") => Ok(false),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{FAST_PATHS_ENV}={value:?}: expected on or off"),
        )),
    }
}

/// The driver `PROACTOR_DRIVER` asks for; `None` when unset or `auto`.
fn driver_from_env() -> io::Result<Option<Driver>> {
    let Some(value) = std::env::var_os(DRIVER_ENV) else {
        return Ok(None);
    };
    let value = value.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{DRIVER_ENV} is not valid UTF-8: {value:?}"),
        )
    })?;
    match value.parse() {
        Ok(Driver::Auto) => Ok(None),
        Ok(driver) => Ok(Some(driver)),
        Err(e) => Err(io::Error::new(e.kind(), format!("{DRIVER_ENV}: {e}"))),
    }
}

impl FromStr for Driver {
    type Err = io::Error;

    /// Parses `auto`, `uring` (or `io_uring`) or `epoll`, ignoring case.
    ///
    /// ```
    /// use proactor::Driver;
    /// assert_eq!("epoll".parse::<Driver>().unwrap(), Driver::Epoll);
    /// assert!("kqueue".parse::<Driver>().is_err());
    /// ```
    fn from_str(s: &str) -> io::Result<Driver> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Driver::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(Driver::Uring),
            "epoll" => Ok(Driver::Epoll),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown driver {s:?}: expected uring, epoll or auto"),
            )),
        }
    }
}
