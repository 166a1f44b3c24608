//! The download example's URL parsing, `Location` joining and file naming, fed arbitrary
//! text (the first line a URL, the rest a `Location` value): never a panic; a URL that
//! parses prints as one that parses back to it; its file name is a safe single name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proactor_fuzz::url::Url;

fn check(u: &Url) {
    assert!(!u.host.is_empty(), "{u:?}");
    assert!(u.path.starts_with('/'), "{u:?}");
    assert!(!u.path.bytes().any(|b| b <= b' ' || b == 0x7f), "{u:?}");
    let printed = u.to_string();
    let again = Url::parse(&printed).unwrap_or_else(|e| panic!("{u:?} prints as {printed:?}: {e}"));
    assert_eq!(&again, u, "{printed:?}");
    let name = u.file_name();
    assert!(!matches!(name.as_str(), "" | "." | ".."), "{u:?}: {name:?}");
    assert!(!name.contains('/'), "{u:?}: {name:?}");
    assert!(
        !name.chars().any(|c| c == '\0' || c.is_control()),
        "{u:?}: {name:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (url, location) = text.split_once('\n').unwrap_or((&text, ""));
    let Ok(u) = Url::parse(url) else { return };
    check(&u);
    let _ = u.authority();
    if let Ok(joined) = u.join(location) {
        check(&joined);
    }
});
