//! The optional `tracing` feature: spans and events through the `tracing` crate, all under
//! the target `proactor`. Without the feature every macro here expands to nothing and
//! [`Span`] is an empty stand-in, so the code that uses them has no `#[cfg]` of its own.
//!
//! - A `runtime.spawn` span (level TRACE, tokio's name) per spawned task, entered while
//!   the task is polled, with a `task.id` counted per process; like tokio's it has no
//!   parent, so a long-lived task keeps no spawner's span open.
//! - A `driver.turn` span (TRACE) per driver turn, with whether it may `park`.
//! - Events: the driver chosen and why (INFO); the fallback to epoll when io_uring cannot
//!   be set up, and a registered file slot the kernel would not fill (WARN); the io_uring
//!   setup tiers, fast paths and file table the kernel refused, and ops that fall back to
//!   the blocking pool because the ring lacks their opcode (DEBUG); errors: io_uring
//!   requested but unavailable, completions the kernel dropped, failed slot updates, a
//!   failed `io_uring_enter`, a shutdown that had to leak (ERROR).
//!
//! With the feature but no subscriber, a span costs what `tracing` charges a disabled one:
//! a check of the call site's cached interest when made, nothing when entered.

/// An event: `event!(debug, field = value, "message")`, `tracing`'s syntax after the level
/// (`error`, `warn`, `info`, `debug`, `trace`).
#[cfg(feature = "tracing")]
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {
        ::tracing::$level!(target: "proactor", $($arg)+)
    };
}

#[cfg(not(feature = "tracing"))]
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {
        ()
    };
}

pub(crate) use event;

/// A span: `tracing`'s.
#[cfg(feature = "tracing")]
pub(crate) type Span = tracing::Span;

/// A span: without the feature, nothing.
#[cfg(not(feature = "tracing"))]
#[derive(Clone, Debug, Default)]
pub(crate) struct Span;

/// What entering a [`Span`] gives without the feature: nothing to exit.
#[cfg(not(feature = "tracing"))]
pub(crate) struct Entered;

#[cfg(not(feature = "tracing"))]
impl Span {
    /// Entering it does nothing.
    #[inline(always)]
    pub(crate) fn enter(&self) -> Entered {
        Entered
    }
}

/// The span of a task being spawned.
#[inline]
pub(crate) fn task_span() -> Span {
    #[cfg(feature = "tracing")]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        // The field is evaluated only when the span is enabled.
        tracing::trace_span!(
            target: "proactor",
            parent: None,
            "runtime.spawn",
            task.id = NEXT.fetch_add(1, Ordering::Relaxed)
        )
    }
    #[cfg(not(feature = "tracing"))]
    Span
}

/// The span of one driver turn; `park`: whether it may block.
#[inline]
pub(crate) fn turn_span(park: bool) -> Span {
    #[cfg(feature = "tracing")]
    {
        tracing::trace_span!(target: "proactor", "driver.turn", park)
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = park;
        Span
    }
}

/// A subscriber for the unit tests: keeps the events of the target `proactor`.
#[cfg(all(test, feature = "tracing"))]
pub(crate) mod testing {
    use std::fmt::Write as _;
    use std::sync::{Arc, Mutex};

    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    /// The events seen: their level and their fields as `name=value` text.
    #[derive(Clone, Default)]
    pub(crate) struct Recorder(Arc<Mutex<Vec<(Level, String)>>>);

    impl Recorder {
        /// Runs `f` with this recorder as the thread's subscriber.
        pub(crate) fn record<R>(&self, f: impl FnOnce() -> R) -> R {
            tracing::subscriber::with_default(self.clone(), f)
        }

        /// The events of `level` whose text contains `needle`.
        pub(crate) fn events(&self, level: Level, needle: &str) -> Vec<String> {
            let events = self.0.lock().unwrap();
            let found = events
                .iter()
                .filter(|(l, e)| *l == level && e.contains(needle));
            found.map(|(_, e)| e.clone()).collect()
        }
    }

    struct Fields(String);

    impl tracing::field::Visit for Fields {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, "{}={value:?} ", field.name());
        }
    }

    impl Subscriber for Recorder {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            metadata.target() == "proactor"
        }

        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }

        fn record(&self, _: &Id, _: &Record<'_>) {}

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            let level = *event.metadata().level();
            self.0.lock().unwrap().push((level, fields.0));
        }

        fn enter(&self, _: &Id) {}

        fn exit(&self, _: &Id) {}
    }
}
