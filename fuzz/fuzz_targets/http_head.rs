//! The download example's response head parsing (and whatever body framing it picks), fed
//! arbitrary bytes: never a panic, and the same result whether the bytes arrive at once or
//! in pieces (the first byte says how many read sizes follow; the rest is the response).
#![no_main]

use libfuzzer_sys::fuzz_target;
use proactor_fuzz::check_split_invariance;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16).min(rest.len());
    let (steps, response) = rest.split_at(n);
    check_split_invariance(response, steps);
});
