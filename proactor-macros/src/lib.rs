//! `#[proactor::main]` and `#[proactor::test]`: an `async fn` run to completion on a fresh
//! proactor runtime. Re-exported by `proactor` behind its `macros` feature; see the docs
//! there (`proactor::main`, `proactor::test`).
//!
//! The attributes are parsed from `proc_macro` token trees directly, without `syn`: they
//! only need an `async fn`'s outline (attributes, visibility, name, empty parameters, return
//! type, body), and a mistake gets a `compile_error!` pointing at the token at fault.

mod parse;

use proc_macro::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};

use parse::{compile_error, parse_args, parse_fn, Args, Driver, ItemFn};

/// Runs an `async fn main` on a proactor runtime (see `proactor::main`).
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, Kind::Main).unwrap_or_else(|(span, msg)| compile_error(span, &msg))
}

/// Runs an `async fn` test on a proactor runtime, or once per driver (see `proactor::test`).
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, Kind::Test).unwrap_or_else(|(span, msg)| compile_error(span, &msg))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Main => "proactor::main",
            Kind::Test => "proactor::test",
        }
    }
}

type Error = (Span, String);

fn expand(args: TokenStream, item: TokenStream, kind: Kind) -> Result<TokenStream, Error> {
    let args = parse_args(args, kind == Kind::Test, kind.name())?;
    let item = parse_fn(item, kind.name())?;
    Ok(match (kind, args) {
        (Kind::Main, Args { driver, .. }) => {
            let body = run(driver, async_block(&item), kind);
            item_fn(&item.attrs, &item, None, body)
        }
        (
            Kind::Test,
            Args {
                each_driver: false,
                driver,
            },
        ) => {
            let body = run(driver, async_block(&item), kind);
            item_fn(&item.attrs, &item, Some(test_attr()), body)
        }
        (
            Kind::Test,
            Args {
                each_driver: true, ..
            },
        ) => each_driver(item),
    })
}

/// `#[::core::prelude::v1::test]`: the built-in attribute, whatever `test` names in scope.
fn test_attr() -> TokenStream {
    "#[::core::prelude::v1::test]"
        .parse()
        .expect("valid tokens")
}

/// `async move { body }`.
fn async_block(item: &ItemFn) -> TokenStream {
    let mut out: TokenStream = "async move".parse().expect("valid tokens");
    out.extend([TokenTree::Group(item.body.clone())]);
    out
}

/// The expression that builds a runtime on `driver` and runs `fut` on it.
fn run(driver: Driver, fut: TokenStream, kind: Kind) -> TokenStream {
    let driver = driver.path();
    let mut out: TokenStream = format!(
        "::proactor::Runtime::builder().driver({driver}).build().unwrap_or_else(|e| \
         ::core::panic!(\"{}: cannot build a {{:?}} runtime: {{}}\", {driver}, e)).block_on",
        kind.name()
    )
    .parse()
    .expect("valid tokens");
    out.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, fut))]);
    out
}

/// `attrs [extra] vis fn name() ret { body }`, with the item's name and return type.
fn item_fn(
    attrs: &TokenStream,
    item: &ItemFn,
    extra: Option<TokenStream>,
    body: TokenStream,
) -> TokenStream {
    let mut out = TokenStream::new();
    out.extend(extra);
    out.extend(attrs.clone());
    out.extend(item.vis.clone());
    out.extend([TokenTree::Ident(Ident::new("fn", Span::call_site()))]);
    out.extend([TokenTree::Ident(item.name.clone())]);
    out.extend([TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        TokenStream::new(),
    ))]);
    out.extend(item.ret.clone());
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, body))]);
    out
}

/// `each_driver`: the `async fn` stays as written, and a module of its name holds one
/// `#[test]` per driver (`name::uring`, `name::epoll`, visible to the enclosing module),
/// each running it on a fresh runtime.
fn each_driver(item: ItemFn) -> TokenStream {
    let mut out = TokenStream::new();
    // The async fn itself, with its `cfg`s only (test attributes belong to the tests).
    out.extend(item.cfgs.clone());
    out.extend(item.vis.clone());
    out.extend(item.signature.clone());
    out.extend([TokenTree::Group(item.body.clone())]);
    let mut tests = TokenStream::new();
    for (name, driver) in [("uring", Driver::Uring), ("epoll", Driver::Epoll)] {
        let call: TokenStream = format!("super::{}()", item.name)
            .parse()
            .expect("valid tokens");
        let body = run(driver, call, Kind::Test);
        let ret: TokenStream = if item.ret.is_empty() {
            TokenStream::new()
        } else {
            "-> impl ::std::process::Termination"
                .parse()
                .expect("valid tokens")
        };
        let test = ItemFn {
            name: Ident::new(name, item.name.span()),
            ret,
            vis: "pub(super)".parse().expect("valid tokens"),
            ..item.clone()
        };
        tests.extend(item_fn(&item.attrs, &test, Some(test_attr()), body));
    }
    out.extend(item.cfgs.clone());
    out.extend([TokenTree::Ident(Ident::new("mod", Span::call_site()))]);
    out.extend([TokenTree::Ident(item.name.clone())]);
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, tests))]);
    out
}
