//! The model (`src/lib.rs`, `src/sc.rs`) stands for the code in `src/runtime/context.rs`
//! only while that code is what it mirrors: here, each function of the protocol must
//! hold exactly these atomic accesses (every line that names an `Ordering`), in this
//! order, and the other steps listed around them. A change there fails this test, naming
//! the function and line: then change the models, and this list, with it.

const CONTEXT: &str = include_str!("../../src/runtime/context.rs");

/// The body of `fn name` in `CONTEXT`: its lines, trimmed, up to the closing brace at the
/// indentation of the `fn`.
fn body(name: &str) -> Vec<&'static str> {
    let mut lines = CONTEXT.lines();
    let head = lines
        .by_ref()
        .find(|l| {
            [format!("fn {name}("), format!("fn {name}<")]
                .iter()
                .any(|f| l.contains(f))
        })
        .unwrap_or_else(|| panic!("context.rs has no fn {name}: the model is out of date"));
    let indent = head.len() - head.trim_start().len();
    let close = format!("{}}}", " ".repeat(indent));
    lines
        .take_while(|l| *l != close)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .collect()
}

/// Checks `fn name`: its atomic accesses are `atomics`, and `steps` (atomic or not)
/// appear in this order.
fn mirrors(name: &str, atomics: &[&str], steps: &[&str]) {
    let body = body(name);
    let found: Vec<&str> = body
        .iter()
        .copied()
        .filter(|l| l.contains("Ordering::"))
        .collect();
    assert_eq!(
        found, atomics,
        "fn {name} in src/runtime/context.rs changed its atomics: update wake-model"
    );
    let mut at = 0;
    for step in steps {
        match body[at..].iter().position(|l| l == step) {
            Some(i) => at += i + 1,
            None => panic!(
                "fn {name} in src/runtime/context.rs: `{step}` is gone or moved: update \
                 wake-model"
            ),
        }
    }
}

#[test]
fn the_model_mirrors_the_remote_side() {
    mirrors(
        "schedule_remote",
        &[
            // `closed` is left out of the model (shutdown, not waking).
            "if self.closed.load(Ordering::Acquire) {",
            "self.has_remote.store(true, Ordering::SeqCst);",
        ],
        &[
            "let mut queue = self.remote.lock().unwrap_or_else(|e| e.into_inner());",
            "queue.push(task);",
            "self.has_remote.store(true, Ordering::SeqCst);",
            "drop(queue);",
            "self.unpark();",
        ],
    );
    mirrors(
        "unpark",
        &[
            "if self.parked.swap(false, Ordering::SeqCst) {",
            // Statistics, left out of the model.
            "self.remote_wakeups.fetch_add(1, Ordering::Relaxed);",
        ],
        &[
            "if self.parked.swap(false, Ordering::SeqCst) {",
            "sys::eventfd_signal(self.eventfd.as_raw_fd());",
        ],
    );
    mirrors(
        "wake_by_ref",
        &["self.woken.swap(true, Ordering::SeqCst);"],
        &[
            "self.woken.swap(true, Ordering::SeqCst);",
            "if !self.shared.is_current() {",
            "self.shared.unpark();",
        ],
    );
}

#[test]
fn the_model_mirrors_the_loop() {
    mirrors(
        "take_remote",
        &["self.has_remote.store(false, Ordering::SeqCst);"],
        &[
            "self.has_remote.store(false, Ordering::SeqCst);",
            "std::mem::take(&mut *self.remote.lock().unwrap_or_else(|e| e.into_inner()))",
        ],
    );
    mirrors(
        "block_on",
        &["if main.woken.swap(false, Ordering::SeqCst) {"],
        &[
            "woken: AtomicBool::new(true),",
            "if main.woken.swap(false, Ordering::SeqCst) {",
            "self.tick(&main.woken);",
        ],
    );
    // The rest of the loop's iteration, out of `block_on` (not generic), `main_woken` being
    // `&main.woken`.
    mirrors(
        "tick",
        &["let idle = self.run_queue.borrow().is_empty() && !main_woken.load(Ordering::SeqCst);"],
        &[
            "self.run_tasks();",
            "let idle = self.run_queue.borrow().is_empty() && !main_woken.load(Ordering::SeqCst);",
            "self.turn(idle, main_woken);",
        ],
    );
    mirrors(
        "run_tasks",
        &["if self.shared.has_remote.load(Ordering::Relaxed) {"],
        &["let remote = self.shared.take_remote();", "task.run();"],
    );
    mirrors(
        "turn",
        &["self.shared.parked.store(false, Ordering::SeqCst);"],
        &[
            "self.park_timeout(main_woken)",
            "let res = self.driver.turn(park);",
            "self.shared.parked.store(false, Ordering::SeqCst);",
        ],
    );
    mirrors(
        "park_timeout",
        &[
            "self.shared.parked.store(true, Ordering::SeqCst);",
            "if self.shared.has_remote.load(Ordering::SeqCst) || main_woken.load(Ordering::SeqCst) {",
            "self.shared.parked.store(false, Ordering::SeqCst);",
        ],
        &[
            "self.shared.parked.store(true, Ordering::SeqCst);",
            "if self.shared.has_remote.load(Ordering::SeqCst) || main_woken.load(Ordering::SeqCst) {",
            "self.shared.parked.store(false, Ordering::SeqCst);",
            "return Park::No;",
            "Park::Until(timeout)",
        ],
    );
}
