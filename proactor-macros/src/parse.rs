//! The attributes' arguments and the outline of the `async fn` they are put on, read from
//! token trees; each mistake is an error at the token at fault.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

use super::Error;

/// Which runtime the function runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Driver {
    Auto,
    Uring,
    Epoll,
}

impl Driver {
    /// The path of the `proactor::Driver` variant.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Driver::Auto => "::proactor::Driver::Auto",
            Driver::Uring => "::proactor::Driver::Uring",
            Driver::Epoll => "::proactor::Driver::Epoll",
        }
    }
}

/// The attribute's arguments.
pub(crate) struct Args {
    pub(crate) driver: Driver,
    pub(crate) each_driver: bool,
}

/// `driver = "uring" | "epoll" | "auto"` and, for tests, `each_driver`, comma-separated.
pub(crate) fn parse_args(args: TokenStream, test: bool, attr: &str) -> Result<Args, Error> {
    let mut out = Args {
        driver: Driver::Auto,
        each_driver: false,
    };
    let mut driver_span = None;
    let mut tokens = args.into_iter().peekable();
    while let Some(token) = tokens.next() {
        let TokenTree::Ident(key) = &token else {
            return Err((
                token.span(),
                format!("{attr}: expected `driver = \"...\"`{}", each(test)),
            ));
        };
        match key.to_string().as_str() {
            "driver" => {
                match tokens.next() {
                    Some(TokenTree::Punct(p)) if p.as_char() == '=' => {}
                    other => {
                        let span = other.map_or(key.span(), |t| t.span());
                        return Err((span, format!("{attr}: expected `=` after `driver`")));
                    }
                }
                let Some(value) = tokens.next() else {
                    return Err((
                        key.span(),
                        format!("{attr}: expected a driver after `driver =`"),
                    ));
                };
                out.driver = driver(&value, attr)?;
                driver_span = Some(value.span());
            }
            "each_driver" if test => out.each_driver = true,
            other => {
                return Err((
                    key.span(),
                    format!(
                        "{attr}: unknown argument `{other}`: expected `driver = \"...\"`{}",
                        each(test)
                    ),
                ))
            }
        }
        match tokens.next() {
            None => break,
            Some(TokenTree::Punct(p)) if p.as_char() == ',' => {}
            Some(other) => {
                return Err((
                    other.span(),
                    format!("{attr}: expected `,` between arguments"),
                ))
            }
        }
    }
    if let (true, Some(span)) = (out.each_driver, driver_span) {
        return Err((
            span,
            format!("{attr}: `each_driver` runs the test on every driver: drop `driver = ...`"),
        ));
    }
    Ok(out)
}

fn each(test: bool) -> &'static str {
    if test {
        " or `each_driver`"
    } else {
        ""
    }
}

fn driver(value: &TokenTree, attr: &str) -> Result<Driver, Error> {
    let text = value.to_string();
    match text.as_str() {
        "\"uring\"" => Ok(Driver::Uring),
        "\"epoll\"" => Ok(Driver::Epoll),
        "\"auto\"" => Ok(Driver::Auto),
        _ => Err((
            value.span(),
            format!("{attr}: unknown driver {text}: expected \"uring\", \"epoll\" or \"auto\""),
        )),
    }
}

/// The outline of an `async fn` with no parameters.
#[derive(Clone)]
pub(crate) struct ItemFn {
    /// Its outer attributes (`#[...]`), doc comments included.
    pub(crate) attrs: TokenStream,
    /// Its `#[cfg(...)]` attributes alone.
    pub(crate) cfgs: TokenStream,
    pub(crate) vis: TokenStream,
    pub(crate) name: Ident,
    /// `-> Type`, or nothing.
    pub(crate) ret: TokenStream,
    /// Everything from `async` to the return type, as written.
    pub(crate) signature: TokenStream,
    pub(crate) body: Group,
}

pub(crate) fn parse_fn(item: TokenStream, attr: &str) -> Result<ItemFn, Error> {
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let mut i = 0;
    let (mut attrs, mut cfgs) = (TokenStream::new(), TokenStream::new());
    while let (Some(TokenTree::Punct(p)), Some(TokenTree::Group(g))) =
        (tokens.get(i), tokens.get(i + 1))
    {
        if p.as_char() != '#' || g.delimiter() != Delimiter::Bracket {
            break;
        }
        let pair = [tokens[i].clone(), tokens[i + 1].clone()];
        if g.stream()
            .into_iter()
            .next()
            .is_some_and(|t| t.to_string() == "cfg")
        {
            cfgs.extend(pair.clone());
        }
        attrs.extend(pair);
        i += 2;
    }
    let mut vis = TokenStream::new();
    if matches!(tokens.get(i), Some(TokenTree::Ident(id)) if id.to_string() == "pub") {
        vis.extend([tokens[i].clone()]);
        i += 1;
        if let Some(TokenTree::Group(g)) = tokens.get(i) {
            if g.delimiter() == Delimiter::Parenthesis {
                vis.extend([tokens[i].clone()]);
                i += 1;
            }
        }
    }
    let start = i;
    let span = |i: usize| {
        tokens
            .get(i)
            .or(tokens.last())
            .map_or(Span::call_site(), |t| t.span())
    };
    let word = |i: usize| match tokens.get(i) {
        Some(TokenTree::Ident(id)) => id.to_string(),
        _ => String::new(),
    };
    let mut async_at = None;
    while i < tokens.len() && word(i) != "fn" {
        match word(i).as_str() {
            "async" => async_at = Some(i),
            "const" | "unsafe" | "extern" => {
                return Err((
                    span(i),
                    format!("{attr}: the function cannot be `{}`", word(i)),
                ))
            }
            _ => {}
        }
        i += 1;
    }
    if i == tokens.len() {
        return Err((span(start), format!("{attr} goes on an `async fn`")));
    }
    let fn_at = i;
    if async_at.is_none() {
        return Err((
            span(fn_at),
            format!("{attr}: the function must be `async fn`"),
        ));
    }
    let Some(TokenTree::Ident(name)) = tokens.get(fn_at + 1).cloned() else {
        return Err((
            span(fn_at + 1),
            format!("{attr}: expected the function's name"),
        ));
    };
    i = fn_at + 2;
    match tokens.get(i) {
        Some(TokenTree::Punct(p)) if p.as_char() == '<' => {
            return Err((
                p.span(),
                format!("{attr}: the function cannot have generic parameters"),
            ))
        }
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
            if let Some(first) = g.stream().into_iter().next() {
                return Err((
                    first.span(),
                    format!("{attr}: the function cannot take arguments"),
                ));
            }
        }
        _ => return Err((span(i), format!("{attr}: expected the function's `()`"))),
    }
    i += 1;
    let Some(TokenTree::Group(body)) = tokens.last().cloned() else {
        return Err((
            span(tokens.len()),
            format!("{attr}: expected the function's body"),
        ));
    };
    if body.delimiter() != Delimiter::Brace || tokens.len() - 1 < i {
        return Err((body.span(), format!("{attr}: expected the function's body")));
    }
    let ret: TokenStream = tokens[i..tokens.len() - 1].iter().cloned().collect();
    if let Some(w) = ret.clone().into_iter().find(|t| t.to_string() == "where") {
        return Err((
            w.span(),
            format!("{attr}: the function cannot have a `where` clause"),
        ));
    }
    if let Some(first) = ret.clone().into_iter().next() {
        if first.to_string() != "-" {
            return Err((
                first.span(),
                format!("{attr}: expected `-> Type` or the body"),
            ));
        }
    }
    let signature = tokens[start..tokens.len() - 1].iter().cloned().collect();
    Ok(ItemFn {
        attrs,
        cfgs,
        vis,
        name,
        ret,
        signature,
        body,
    })
}

/// `::core::compile_error!("msg")` at `span`.
pub(crate) fn compile_error(span: Span, msg: &str) -> TokenStream {
    let colons = || {
        let mut a = Punct::new(':', Spacing::Joint);
        a.set_span(span);
        let mut b = Punct::new(':', Spacing::Alone);
        b.set_span(span);
        [TokenTree::Punct(a), TokenTree::Punct(b)]
    };
    let mut out = TokenStream::new();
    out.extend(colons());
    out.extend([TokenTree::Ident(Ident::new("core", span))]);
    out.extend(colons());
    out.extend([TokenTree::Ident(Ident::new("compile_error", span))]);
    let mut bang = Punct::new('!', Spacing::Alone);
    bang.set_span(span);
    out.extend([TokenTree::Punct(bang)]);
    let mut lit = Literal::string(msg);
    lit.set_span(span);
    let mut group = Group::new(
        Delimiter::Parenthesis,
        TokenStream::from(TokenTree::Literal(lit)),
    );
    group.set_span(span);
    out.extend([TokenTree::Group(group)]);
    let mut semi = Punct::new(';', Spacing::Alone);
    semi.set_span(span);
    out.extend([TokenTree::Punct(semi)]);
    out
}
