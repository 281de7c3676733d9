//! Tokens: who may do what, in which namespace.
//!
//! The token file holds SHA-256 digests, never tokens:
//! `{"tokens": [{"id", "sha256", "namespace", "scopes"}]}`. A request's
//! token is hashed and compared with every digest in constant time.

use crate::names::NamespaceName;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The header that picks the namespace for paths that name none.
pub const NAMESPACE_HEADER: &str = "x-flagstone-namespace";

/// What a token may do. `admin` implies the other three.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// OFREP evaluation and metric events.
    Evaluate,
    /// Reading resources, configs, history and snapshots.
    Read,
    /// Writing resources and configs.
    Write,
    /// Everything, and `/metrics`.
    Admin,
}

impl Scope {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Evaluate => "evaluate",
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

/// The token file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    /// Every token.
    pub tokens: Vec<TokenEntry>,
}

/// One token in the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// A name for logs and the history; never the token.
    pub id: String,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// `project/environment`, or `*` for every namespace.
    pub namespace: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

/// Why the token file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFileError {
    /// It cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// It is not a token file.
    #[error("{path}: {message}")]
    Invalid {
        /// The file, with the JSON path when there is one.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Which namespaces a token acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Every namespace (`*`).
    Any,
    /// One.
    One(NamespaceName),
}

/// The caller of one request, once authenticated.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The token id (`anonymous` without a token file).
    pub id: Arc<str>,
    /// Its namespaces.
    pub reach: Reach,
    scopes: Vec<Scope>,
}

/// Why a caller may not do something.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No valid token: 401.
    #[error(
        "a valid token is required (Authorization: Bearer T, Authorization: T or X-API-Key: T)"
    )]
    Unauthenticated,
    /// The token lacks the scope: 403.
    #[error("token {token:?} lacks the {scope:?} scope")]
    Scope {
        /// The token id.
        token: String,
        /// The scope needed.
        scope: &'static str,
    },
    /// The token does not reach the namespace: 403.
    #[error("token {token:?} may not act on namespace {namespace}")]
    Namespace {
        /// The token id.
        token: String,
        /// The namespace asked for.
        namespace: String,
    },
    /// The namespace header is malformed: 400.
    #[error("{NAMESPACE_HEADER}: {0}")]
    BadHeader(String),
}

impl Principal {
    /// The caller when no token file is configured: every scope, every namespace.
    pub fn anonymous() -> Self {
        Principal { id: Arc::from("anonymous"), reach: Reach::Any, scopes: vec![Scope::Admin] }
    }

    /// Whether it has a scope (admin has all).
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|&s| s == scope || s == Scope::Admin)
    }

    /// Checks a scope on a namespace.
    ///
    /// # Errors
    /// [`Denied`] without the scope or the namespace.
    pub fn require(&self, scope: Scope, namespace: &NamespaceName) -> Result<(), Denied> {
        if !self.has(scope) {
            return Err(Denied::Scope { token: self.id.to_string(), scope: scope.as_str() });
        }
        match &self.reach {
            Reach::One(own) if own != namespace => Err(Denied::Namespace {
                token: self.id.to_string(),
                namespace: namespace.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// The namespace of a path that names none: the header's, else the
    /// token's own, else `default/production`.
    ///
    /// # Errors
    /// [`Denied::BadHeader`] for a malformed header.
    pub fn implied_namespace(&self, headers: &HeaderMap) -> Result<NamespaceName, Denied> {
        if let Some(value) = headers.get(NAMESPACE_HEADER) {
            let text = value.to_str().map_err(|_| Denied::BadHeader("not ASCII".into()))?;
            return NamespaceName::parse(text.trim()).map_err(|e| Denied::BadHeader(e.to_string()));
        }
        Ok(match &self.reach {
            Reach::One(own) => own.clone(),
            Reach::Any => NamespaceName::default_namespace(),
        })
    }
}

#[derive(Debug)]
struct Known {
    digest: [u8; 32],
    principal: Principal,
}

/// How requests are authenticated.
#[derive(Debug)]
pub enum Auth {
    /// No token file: everything is allowed (loopback only).
    Open,
    /// The token file's tokens.
    Tokens(Vec<KnownToken>),
}

/// A token from the file, ready to compare.
#[derive(Debug)]
pub struct KnownToken(Known);

impl Auth {
    /// Reads a token file.
    ///
    /// # Errors
    /// [`TokenFileError`] when it cannot be read or has the wrong shape.
    pub fn from_file(path: &Path) -> Result<Auth, TokenFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| TokenFileError::Read { path: shown.clone(), source })?;
        Auth::from_json(&text).map_err(|(at, message)| TokenFileError::Invalid {
            path: if at.is_empty() { shown.clone() } else { format!("{shown}: {at}") },
            message,
        })
    }

    /// Parses a token file's text; errors are (JSON path, message).
    ///
    /// # Errors
    /// The first problem, with its JSON path.
    pub fn from_json(text: &str) -> Result<Auth, (String, String)> {
        let mut de = serde_json::Deserializer::from_str(text);
        let file: TokenFile = serde_path_to_error_free(&mut de)?;
        let mut known = Vec::new();
        for (i, entry) in file.tokens.into_iter().enumerate() {
            let at = |field: &str| format!("tokens[{i}].{field}");
            let digest = parse_digest(&entry.sha256)
                .ok_or_else(|| (at("sha256"), "expected 64 hex digits".to_owned()))?;
            let reach = if entry.namespace == "*" {
                Reach::Any
            } else {
                Reach::One(
                    NamespaceName::parse(&entry.namespace)
                        .map_err(|e| (at("namespace"), e.to_string()))?,
                )
            };
            if entry.id.is_empty() {
                return Err((at("id"), "expected a non-empty id".into()));
            }
            let principal = Principal { id: Arc::from(entry.id), reach, scopes: entry.scopes };
            known.push(KnownToken(Known { digest, principal }));
        }
        Ok(Auth::Tokens(known))
    }

    /// Whether a token file is in force.
    pub fn is_open(&self) -> bool {
        matches!(self, Auth::Open)
    }

    /// The caller of a request.
    ///
    /// # Errors
    /// [`Denied::Unauthenticated`] without a known token.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Denied> {
        let known = match self {
            Auth::Open => return Ok(Principal::anonymous()),
            Auth::Tokens(known) => known,
        };
        let token = token_of(headers).ok_or(Denied::Unauthenticated)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Compare with every entry so the time taken does not say which one matched.
        let mut found = None;
        for KnownToken(entry) in known {
            if bool::from(entry.digest.ct_eq(&digest)) && found.is_none() {
                found = Some(&entry.principal);
            }
        }
        found.cloned().ok_or(Denied::Unauthenticated)
    }
}

fn serde_path_to_error_free(
    de: &mut serde_json::Deserializer<serde_json::de::StrRead<'_>>,
) -> Result<TokenFile, (String, String)> {
    let file = <TokenFile as Deserialize>::deserialize(&mut *de)
        .map_err(|e| (String::new(), e.to_string()))?;
    de.end().map_err(|e| (String::new(), e.to_string()))?;
    Ok(file)
}

/// The token of a request: `Authorization: Bearer T`, `Authorization: T` or `X-API-Key: T`.
pub fn token_of(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let text = value.to_str().ok()?.trim();
        let token = match text.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => text.get(7..)?.trim(),
            _ => text,
        };
        return (!token.is_empty()).then_some(token);
    }
    let text = headers.get("x-api-key")?.to_str().ok()?.trim();
    (!text.is_empty()).then_some(text)
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Lowercase hex SHA-256 of a token, as the token file holds it.
pub fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh token (`fs_` and 43 base64url characters of 256 random bits) and its file entry.
pub fn new_token(id: &str, namespace: &str, scopes: Vec<Scope>) -> (String, TokenEntry) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let token = format!("fs_{}", base64url(&bytes));
    let entry = TokenEntry {
        id: id.to_owned(),
        sha256: sha256_hex(&token),
        namespace: namespace.to_owned(),
        scopes,
    };
    (token, entry)
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let n_chars = chunk.len() + 1;
        for k in 0..n_chars {
            let index = (n >> (18 - 6 * k)) & 63;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn three_header_forms() {
        assert_eq!(token_of(&headers("authorization", "Bearer abc")), Some("abc"));
        assert_eq!(token_of(&headers("authorization", "bearer abc")), Some("abc"));
        assert_eq!(token_of(&headers("authorization", "abc")), Some("abc"));
        assert_eq!(token_of(&headers("x-api-key", "abc")), Some("abc"));
        assert_eq!(token_of(&HeaderMap::new()), None);
    }

    #[test]
    fn tokens_round_trip_through_the_file() {
        let (token, entry) = new_token("ci", "default/production", vec![Scope::Read]);
        assert_eq!(token.len(), 3 + 43);
        let file = serde_json::to_string(&TokenFile { tokens: vec![entry] }).unwrap();
        let auth = Auth::from_json(&file).unwrap();
        let who = auth.authenticate(&headers("authorization", &format!("Bearer {token}"))).unwrap();
        assert_eq!(&*who.id, "ci");
        let ns = NamespaceName::default_namespace();
        assert!(who.require(Scope::Read, &ns).is_ok());
        assert!(matches!(who.require(Scope::Write, &ns), Err(Denied::Scope { .. })));
        let other = NamespaceName::parse("a/b").unwrap();
        assert!(matches!(who.require(Scope::Read, &other), Err(Denied::Namespace { .. })));
        assert_eq!(
            auth.authenticate(&headers("x-api-key", "nope")).unwrap_err(),
            Denied::Unauthenticated
        );
    }

    #[test]
    fn bad_files_name_the_field() {
        let err = Auth::from_json(
            r#"{"tokens": [{"id": "a", "sha256": "xx", "namespace": "*", "scopes": []}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.0, "tokens[0].sha256");
    }
}
