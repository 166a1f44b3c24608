//! The `tracing` feature, on each driver: the driver's choice as an event, a
//! `runtime.spawn` span per task (entered each time it is polled, without a parent) and a
//! `driver.turn` span per driver turn, all under the target `proactor`.

mod util;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proactor::Driver;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// A span made: its name, its fields as `name=value` text, whether it has no parent.
#[derive(Clone, Debug)]
struct SpanMade {
    name: &'static str,
    fields: String,
    root: bool,
}

/// What the subscriber saw of the target `proactor`.
#[derive(Default)]
struct Log {
    /// Span `i + 1` is `spans[i]`.
    spans: Mutex<Vec<SpanMade>>,
    /// The names of the spans entered, in order.
    entered: Mutex<Vec<&'static str>>,
    /// Events: level, target and fields.
    events: Mutex<Vec<(Level, String, String)>>,
    /// Spans entered and not exited.
    depth: AtomicU64,
}

/// The subscriber, sharing its log with the test.
#[derive(Clone, Default)]
struct Recorder(Arc<Log>);

impl Recorder {
    fn spans(&self, name: &str) -> Vec<SpanMade> {
        let spans = self.0.spans.lock().unwrap();
        spans.iter().filter(|s| s.name == name).cloned().collect()
    }

    fn entered(&self, name: &str) -> usize {
        let entered = self.0.entered.lock().unwrap();
        entered.iter().filter(|n| **n == name).count()
    }

    fn events(&self, level: Level, needle: &str) -> Vec<String> {
        let events = self.0.events.lock().unwrap();
        let found = events
            .iter()
            .filter(|(l, _, e)| *l == level && e.contains(needle));
        found.map(|(_, _, e)| e.clone()).collect()
    }
}

/// Collects fields as `name=value` text.
struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("proactor")
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(String::new());
        span.record(&mut fields);
        let mut spans = self.0.spans.lock().unwrap();
        spans.push(SpanMade {
            name: span.metadata().name(),
            fields: fields.0,
            root: span.is_root(),
        });
        Id::from_u64(spans.len() as u64)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let meta = event.metadata();
        let entry = (*meta.level(), meta.target().to_string(), fields.0);
        self.0.events.lock().unwrap().push(entry);
    }

    fn enter(&self, span: &Id) {
        let name = self.0.spans.lock().unwrap()[span.into_u64() as usize - 1].name;
        self.0.entered.lock().unwrap().push(name);
        self.0.depth.fetch_add(1, Ordering::Relaxed);
    }

    fn exit(&self, _: &Id) {
        self.0.depth.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs `f` with a fresh recorder as the thread's subscriber, one test at a time
/// (`tracing` caches each call site's interest process-wide).
fn recorded(f: impl FnOnce()) -> Recorder {
    let _serial = util::serial();
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), f);
    recorder
}

fn the_driver_choice_is_an_event(driver: Driver) {
    let recorder = recorded(|| util::block_on(driver, async {}));
    let chosen = recorder.events(Level::INFO, "driver chosen");
    assert_eq!(chosen.len(), 1, "{chosen:?}");
    let name = match driver {
        Driver::Epoll => "epoll",
        _ => "io_uring",
    };
    assert!(chosen[0].contains(&format!("driver={name}")), "{chosen:?}");
    assert!(
        chosen[0].contains("reason=") && chosen[0].contains("requested"),
        "{chosen:?}"
    );
    let events = recorder.0.events.lock().unwrap();
    assert!(
        events.iter().all(|(_, target, _)| target == "proactor"),
        "{events:?}"
    );
}

/// Each spawned task has one `runtime.spawn` span with its `task.id`, entered at each of its
/// polls, with no parent even when spawned inside another span; it is exited between polls.
fn a_span_per_task(driver: Driver) {
    let recorder = recorded(|| {
        util::block_on(driver, async {
            let outer = tracing::info_span!(target: "proactor_test", "outer");
            let tasks: Vec<_> = {
                let _in_outer = outer.enter();
                (0..3u64)
                    .map(|i| {
                        proactor::spawn(async move {
                            proactor::task::yield_now().await;
                            i
                        })
                    })
                    .collect()
            };
            for (i, task) in tasks.into_iter().enumerate() {
                assert_eq!(task.await.unwrap(), i as u64);
            }
        });
    });
    let tasks = recorder.spans("runtime.spawn");
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    assert!(tasks.iter().all(|s| s.root), "no parent: {tasks:?}");
    assert!(
        tasks.iter().all(|s| s.fields.contains("task.id=")),
        "{tasks:?}"
    );
    let ids: std::collections::HashSet<_> = tasks.iter().map(|s| &s.fields).collect();
    assert_eq!(ids.len(), 3, "distinct ids: {tasks:?}");
    // Each task is polled twice: once to its yield, once to its end.
    assert_eq!(
        recorder.entered("runtime.spawn"),
        6,
        "{:?}",
        recorder.0.entered
    );
    assert_eq!(
        recorder.0.depth.load(Ordering::Relaxed),
        0,
        "every span exited"
    );
}

/// One `driver.turn` span per driver turn, entered: as many with `park=true` as the runtime
/// parked ([`Stats::parks`](proactor::Stats::parks)).
fn a_span_per_turn(driver: Driver) {
    let parks = Arc::new(AtomicU64::new(0));
    let seen = parks.clone();
    let recorder = recorded(move || {
        util::block_on(driver, async move {
            util::until(|| proactor::runtime::stats().parks >= 3).await;
            proactor::nop().await.unwrap();
            // The last turn: the future is ready at its next poll, no turn follows.
            seen.store(proactor::runtime::stats().parks, Ordering::Relaxed);
        });
    });
    let turns = recorder.spans("driver.turn");
    let parked = turns
        .iter()
        .filter(|s| s.fields.contains("park=true"))
        .count() as u64;
    assert_eq!(parked, parks.load(Ordering::Relaxed), "{turns:?}");
    assert_eq!(
        recorder.entered("driver.turn"),
        turns.len(),
        "each entered once"
    );
}

/// Without a subscriber that wants them, nothing is recorded and nothing breaks.
fn no_subscriber(driver: Driver) {
    let _serial = util::serial();
    util::block_on(driver, async {
        proactor::spawn(async { proactor::nop().await })
            .await
            .unwrap()
            .unwrap();
    });
}

on_each_driver!(
    the_driver_choice_is_an_event,
    a_span_per_task,
    a_span_per_turn,
    no_subscriber
);
