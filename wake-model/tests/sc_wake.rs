//! The wake-up protocol explored under sequential consistency (`src/sc.rs`), with the
//! real stores: no interleaving loses a wake-up; and each deliberate breakage is caught.

use wake_model::sc::{explore, Action, Code};
use Action::{Push, Wake};

const SCENARIOS: &[&[&[Action]]] = &[
    &[&[Push]],
    &[&[Wake]],
    &[&[Push, Push]],
    &[&[Wake, Wake]],
    &[&[Push], &[Push]],
    &[&[Push], &[Wake]],
    &[&[Wake], &[Wake]],
    &[&[Push, Wake], &[Wake, Push]],
    &[&[Push, Push], &[Wake, Wake]],
    &[&[Push], &[Push], &[Wake]],
];

#[test]
fn no_interleaving_loses_a_wake_up() {
    for scripts in SCENARIOS {
        match explore(scripts, Code::REAL) {
            Ok(states) => eprintln!("{scripts:?}: {states} states, none loses a wake-up"),
            Err(trace) => panic!("{scripts:?}: a lost wake-up:\n{}", trace.join("\n")),
        }
    }
}

fn caught(code: Code, scripts: &[&[Action]]) {
    let trace = explore(scripts, code).expect_err("the breakage went unseen");
    eprintln!("{code:?} {scripts:?}: lost after {} steps", trace.len());
}

#[test]
fn a_park_without_the_second_look_is_caught() {
    let code = Code {
        recheck: false,
        ..Code::REAL
    };
    caught(code, &[&[Push]]);
    caught(code, &[&[Wake]]);
}

#[test]
fn a_flag_cleared_after_taking_the_queue_is_caught() {
    let code = Code {
        clear_first: false,
        ..Code::REAL
    };
    caught(code, &[&[Push, Push]]);
}

#[test]
fn an_unpark_before_the_push_is_caught() {
    let code = Code {
        push_first: false,
        ..Code::REAL
    };
    caught(code, &[&[Push]]);
}
