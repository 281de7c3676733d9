//! Listing (AIP-132): filters (AIP-160) and opaque page tokens (AIP-158).
//!
//! A filter is terms `field:value` (or `field=value`) joined by `AND` and
//! `OR`, with parentheses; as in AIP-160, `OR` binds tighter than `AND`
//! (`a AND b OR c` is `a AND (b OR c)`), and a bare space means `AND`.
//! Fields: `state`, `flag`, `displayName`, `name`, `creator`; values may be
//! double-quoted. Matching is exact (`flag:flags/x` also matches a flag
//! written without the `flags/` prefix).
//!
//! A page token is the creation position of the last instance returned,
//! encrypted and authenticated with a key drawn at start: 16 bytes of
//! HMAC-SHA-256 over (workflow, filter, position), then the position XORed
//! with a keystream derived from that tag, as 48 hex digits. It reveals
//! nothing, cannot be forged, and is refused with a different filter or
//! workflow. Tokens do not survive a restart (AIP-158 lets them expire).

use super::error::GoogleError;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// Instances per page when the request names no size.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page; larger requests are served this many (AIP-158).
pub(crate) const MAX_PAGE_SIZE: usize = 1000;
/// The longest filter accepted.
const MAX_FILTER_BYTES: usize = 4096;
/// The deepest nesting of parentheses accepted.
const MAX_FILTER_DEPTH: usize = 32;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Filter {
    All,
    Term { field: Field, value: String },
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

/// A field a filter may test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    State,
    Flag,
    DisplayName,
    Name,
    Creator,
}

/// What a filter looks at in one instance.
pub(crate) struct Facts<'a> {
    pub state: &'a str,
    pub flag: Option<&'a str>,
    pub display_name: &'a str,
    pub name: &'a str,
    pub creator: &'a str,
}

impl Filter {
    pub(crate) fn matches(&self, facts: &Facts<'_>) -> bool {
        match self {
            Filter::All => true,
            Filter::And(parts) => parts.iter().all(|p| p.matches(facts)),
            Filter::Or(parts) => parts.iter().any(|p| p.matches(facts)),
            Filter::Term { field, value } => match field {
                Field::State => facts.state.eq_ignore_ascii_case(value),
                Field::Flag => facts.flag.is_some_and(|flag| {
                    let short = |s: &str| s.strip_prefix("flags/").unwrap_or(s).to_owned();
                    short(flag) == short(value)
                }),
                Field::DisplayName => facts.display_name == value,
                Field::Name => {
                    facts.name == value || facts.name.rsplit('/').next() == Some(value.as_str())
                }
                Field::Creator => facts.creator == value,
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Term(String, String),
}

fn bad(message: impl Into<String>) -> GoogleError {
    GoogleError::field("filter", message)
}

fn lex(text: &str) -> Result<Vec<Token>, GoogleError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '(' || c == ')' {
            chars.next();
            out.push(if c == '(' { Token::Open } else { Token::Close });
            continue;
        }
        // A word: up to whitespace or a parenthesis, with quoted parts kept whole.
        let mut word = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        while let Some(&(_, c)) = chars.peek() {
            if !quoted && (c.is_whitespace() || c == '(' || c == ')') {
                break;
            }
            chars.next();
            if c == '"' {
                quoted = !quoted;
                was_quoted = true;
                continue;
            }
            word.push(c);
        }
        if quoted {
            return Err(bad(format!("unterminated quote at character {at}")));
        }
        match word.as_str() {
            "AND" if !was_quoted => out.push(Token::And),
            "OR" if !was_quoted => out.push(Token::Or),
            _ => {
                let Some((field, value)) = word.split_once([':', '=']) else {
                    return Err(bad(format!(
                        "{word:?} at character {at}: expected field:value, AND, OR or parentheses"
                    )));
                };
                out.push(Token::Term(field.to_owned(), value.to_owned()));
            }
        }
    }
    Ok(out)
}

fn field_of(name: &str) -> Result<Field, GoogleError> {
    Ok(match name {
        "state" => Field::State,
        "flag" | "rollout.flag" | "abtest.flag" => Field::Flag,
        "displayName" => Field::DisplayName,
        "name" => Field::Name,
        "creator" => Field::Creator,
        other => {
            return Err(bad(format!(
                "{other}: not a field to filter on; expected state, flag, displayName, name or creator"
            )));
        }
    })
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    /// and := or (('AND' | implicit) or)*
    fn and(&mut self) -> Result<Filter, GoogleError> {
        let mut parts = vec![self.or()?];
        loop {
            match self.peek() {
                None | Some(Token::Close) => break,
                Some(Token::And) => {
                    self.at += 1;
                    parts.push(self.or()?);
                }
                Some(_) => parts.push(self.or()?),
            }
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Filter::And(parts) })
    }

    /// or := primary ('OR' primary)*
    fn or(&mut self) -> Result<Filter, GoogleError> {
        let mut parts = vec![self.primary()?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            parts.push(self.primary()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Filter::Or(parts) })
    }

    fn primary(&mut self) -> Result<Filter, GoogleError> {
        let token = self.peek().cloned();
        self.at += 1;
        match token {
            Some(Token::Term(field, value)) => {
                let field = field_of(&field)?;
                if value.is_empty() {
                    return Err(bad(format!("{field:?}: expected a value after the colon")));
                }
                Ok(Filter::Term { field, value })
            }
            Some(Token::Open) => {
                self.depth += 1;
                if self.depth > MAX_FILTER_DEPTH {
                    return Err(bad(format!("parentheses nested deeper than {MAX_FILTER_DEPTH}")));
                }
                let inner = self.and()?;
                if self.peek() != Some(&Token::Close) {
                    return Err(bad("expected a closing parenthesis"));
                }
                self.at += 1;
                self.depth -= 1;
                Ok(inner)
            }
            Some(Token::And | Token::Or) => Err(bad("AND and OR need a term on each side")),
            Some(Token::Close) => Err(bad("unbalanced closing parenthesis")),
            None => Err(bad("the filter ends where a term was expected")),
        }
    }
}

/// Parses a filter; empty is everything.
pub(crate) fn parse_filter(text: &str) -> Result<Filter, GoogleError> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(bad(format!("longer than {MAX_FILTER_BYTES} bytes")));
    }
    let tokens = lex(text)?;
    if tokens.is_empty() {
        return Ok(Filter::All);
    }
    let mut parser = Parser { tokens, at: 0, depth: 0 };
    let filter = parser.and()?;
    if parser.at < parser.tokens.len() {
        return Err(bad("unbalanced closing parenthesis"));
    }
    Ok(filter)
}

/// The page size of a request: default 50, at most 1000, never negative.
pub(crate) fn page_size(given: Option<&str>) -> Result<usize, GoogleError> {
    let Some(text) = given.filter(|t| !t.is_empty()) else { return Ok(DEFAULT_PAGE_SIZE) };
    let size: i64 = text
        .parse()
        .map_err(|_| GoogleError::field("pageSize", format!("{text:?}: expected an integer")))?;
    match usize::try_from(size) {
        Err(_) => Err(GoogleError::field("pageSize", "must not be negative")),
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(size) => Ok(size.min(MAX_PAGE_SIZE)),
    }
}

fn key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        key
    })
}

/// HMAC-SHA-256 (RFC 2104) over `parts`, each preceded by its length so that no two
/// different lists of parts give the same message.
fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    // RFC 2104 pads a key shorter than the block with zeros: the same MAC, and infallible.
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
    for part in parts {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn keystream(key: &[u8; 32], tag: &[u8]) -> [u8; 32] {
    hmac(key, &[b"flagstone page token keystream", tag])
}

fn tag(key: &[u8; 32], scope: &str, filter: &str, position: i64) -> [u8; 16] {
    let full = hmac(
        key,
        &[b"flagstone page token", scope.as_bytes(), filter.as_bytes(), &position.to_le_bytes()],
    );
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// The token for the page after `position`, bound to the workflow (`scope`) and filter text.
pub(crate) fn encode_token(scope: &str, filter: &str, position: i64) -> String {
    let key = key();
    let tag = tag(key, scope, filter, position);
    let stream = keystream(key, &tag);
    let mut bytes = tag.to_vec();
    bytes.extend(position.to_le_bytes().iter().zip(stream).map(|(p, s)| p ^ s));
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The position a token continues after; 400 when it is not one of ours
/// for this workflow and filter.
pub(crate) fn decode_token(scope: &str, filter: &str, token: &str) -> Result<i64, GoogleError> {
    let refused = || {
        GoogleError::field(
            "pageToken",
            "not a page token of this list: it is malformed, expired (the server restarted) \
             or was issued for another filter",
        )
    };
    if token.len() != 48 {
        return Err(refused());
    }
    let mut bytes = [0u8; 24];
    for (i, byte) in bytes.iter_mut().enumerate() {
        let pair = token.get(2 * i..2 * i + 2).ok_or_else(refused)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| refused())?;
    }
    let key = key();
    let (given_tag, cipher) = bytes.split_at(16);
    let stream = keystream(key, given_tag);
    let mut plain = [0u8; 8];
    for (i, (c, s)) in cipher.iter().zip(stream).enumerate() {
        plain[i] = c ^ s;
    }
    let position = i64::from_le_bytes(plain);
    let expected = tag(key, scope, filter, position);
    if bool::from(expected.ct_eq(given_tag)) { Ok(position) } else { Err(refused()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(state: &'a str, flag: &'a str) -> Facts<'a> {
        Facts {
            state,
            flag: Some(flag),
            display_name: "",
            name: "workflows/rollout/instances/x",
            creator: "t",
        }
    }

    #[test]
    fn filters_parse_with_or_binding_tighter() {
        let f = parse_filter("state:live AND flag:flags/a OR flag:b").unwrap();
        assert!(f.matches(&facts("live", "flags/b")));
        assert!(!f.matches(&facts("draft", "flags/a")));
        let f = parse_filter("(state:live AND flag:a) OR state:ended").unwrap();
        assert!(f.matches(&facts("ended", "flags/z")));
        assert!(parse_filter("state=\"live\"").unwrap().matches(&facts("live", "x")));
        assert!(parse_filter("name:x").unwrap().matches(&facts("live", "x")));
        assert_eq!(parse_filter("  ").unwrap(), Filter::All);
        for bad in [
            "state",
            "colour:red",
            "state:live AND",
            "(state:live",
            "state:live)",
            "OR x:y",
            "state:",
            "\"a",
            &"(".repeat(40),
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_round_trip_and_bind_to_their_filter() {
        let token = encode_token("rollout", "state:live", 41);
        assert_eq!(token.len(), 48);
        assert_eq!(decode_token("rollout", "state:live", &token).unwrap(), 41);
        assert!(decode_token("rollout", "state:draft", &token).is_err());
        assert!(decode_token("abtest", "state:live", &token).is_err());
        let mut forged = token.clone().into_bytes();
        forged[47] = if forged[47] == b'0' { b'1' } else { b'0' };
        assert!(
            decode_token("rollout", "state:live", &String::from_utf8(forged).unwrap()).is_err()
        );
        assert!(decode_token("rollout", "state:live", "NDE=").is_err());
        assert_ne!(encode_token("rollout", "", 1)[32..], encode_token("rollout", "", 2)[32..]);
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(None).unwrap(), 50);
        assert_eq!(page_size(Some("0")).unwrap(), 50);
        assert_eq!(page_size(Some("7")).unwrap(), 7);
        assert_eq!(page_size(Some("5000")).unwrap(), 1000);
        assert!(page_size(Some("-1")).is_err());
        assert!(page_size(Some("x")).is_err());
    }
}
