//! Flagstone as an OpenFeature provider: the `open-feature` crate's
//! [`FeatureProvider`] over a Flagstone [`EngineHandle`], evaluating in
//! process, fed from a config file or from a `flagstone serve` snapshot.
//!
//! ```
//! use flagstone_openfeature::FlagstoneProvider;
//! use open_feature::provider::FeatureProvider;
//! use open_feature::EvaluationContext;
//!
//! let provider = FlagstoneProvider::from_json(r#"{
//!   "segments": [{"name": "segments/everyone"}],
//!   "flags": [{"name": "flags/dark-mode",
//!     "variants": [{"name": "flags/dark-mode/variants/on", "value": {"enabled": true}}],
//!     "rules": [{"name": "flags/dark-mode/rules/all", "segment": "segments/everyone",
//!       "assignmentSpec": {"bucketCount": 1, "assignments": [
//!         {"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}}]}]
//! }"#)?;
//! let context = EvaluationContext::default().with_targeting_key("user-1");
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! let details = runtime.block_on(provider.resolve_bool_value("dark-mode.enabled", &context))
//!     .map_err(|e| format!("{e:?}"))?;
//! assert!(details.value);
//! assert_eq!(details.variant.as_deref(), Some("on"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Mapping
//! - A key `flag.path` reads a field of the variant value (`dark-mode.enabled`);
//!   the longest prefix that names a flag wins, so ids with dots still work.
//! - Reasons and error codes are core's OpenFeature mapping
//!   ([`flagstone_core::Resolution::openfeature`]); typed reads use core's
//!   accessors, so a field of another type is `TYPE_MISMATCH`.
//! - A resolution without a value (no rule matched, an archived flag, a
//!   client-default assignment) cannot be expressed as a value in this SDK,
//!   so it is a `GENERAL` error whose message says the code default applies;
//!   the SDK then returns the caller's default.
//! - The context's targeting key is the `targeting_key` attribute; custom
//!   fields keep their names; dates become RFC 3339 strings; structure
//!   fields holding a `serde_json::Value` are passed through, others are
//!   skipped.
//! - [`FlagstoneProvider::reload_json`] and
//!   [`FlagstoneProvider::refresh_from_snapshot`] swap in a new engine only
//!   when it compiles; otherwise the previous one keeps serving.
//!
//! # Input safety
//! Configs pass through the model's bounded parser and the engine's
//! compiler; evaluation never panics.
#![deny(missing_docs)]

use async_trait::async_trait;
use flagstone_core::{AccessError, Engine, EngineHandle, FlagId, Reason, Resolution};
use open_feature::provider::{FeatureProvider, ProviderMetadata, ResolutionDetails};
use open_feature::{
    EvaluationContext, EvaluationContextFieldValue, EvaluationError, EvaluationErrorCode,
    EvaluationReason, EvaluationResult, FlagMetadata, StructValue, Value,
};
use serde_json::{Map, Value as Json};
use std::path::Path;
use std::sync::Arc;

/// Why a provider could not be built or refreshed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The config file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The config does not parse, validate or compile: every problem.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// The snapshot could not be fetched.
    #[error("{url}: {message}")]
    Fetch {
        /// The snapshot URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// An OpenFeature provider evaluating with a Flagstone engine in process.
#[derive(Debug)]
pub struct FlagstoneProvider {
    handle: Arc<EngineHandle>,
    metadata: ProviderMetadata,
    snapshot: Option<Snapshot>,
}

#[derive(Debug, Clone)]
struct Snapshot {
    url: String,
    token: Option<String>,
}

fn compile(json: &str) -> Result<Engine, ProviderError> {
    let config = flagstone_model::parse_config(json)
        .map_err(|e| ProviderError::Invalid(vec![e.to_string()]))?;
    Engine::compile(&config)
        .map_err(|errors| ProviderError::Invalid(errors.iter().map(ToString::to_string).collect()))
}

impl FlagstoneProvider {
    fn new(engine: Engine, snapshot: Option<Snapshot>) -> Self {
        FlagstoneProvider {
            handle: Arc::new(EngineHandle::new(engine)),
            metadata: ProviderMetadata::new("flagstone"),
            snapshot,
        }
    }

    /// A provider serving a config document.
    ///
    /// # Errors
    /// [`ProviderError::Invalid`] with every problem.
    pub fn from_json(json: &str) -> Result<Self, ProviderError> {
        Ok(FlagstoneProvider::new(compile(json)?, None))
    }

    /// A provider serving a config file.
    ///
    /// # Errors
    /// [`ProviderError`] when the file cannot be read or the config is invalid.
    pub fn from_file(path: &Path) -> Result<Self, ProviderError> {
        let json = std::fs::read_to_string(path)
            .map_err(|source| ProviderError::Read { path: path.display().to_string(), source })?;
        FlagstoneProvider::from_json(&json)
    }

    /// A provider serving a `flagstone serve` namespace's snapshot
    /// (`base_url` such as `http://127.0.0.1:8180`, `namespace` such as
    /// `default/production`; the token needs the `read` scope).
    ///
    /// # Errors
    /// [`ProviderError`] when the snapshot cannot be fetched or does not compile.
    pub async fn from_snapshot(
        base_url: &str,
        namespace: &str,
        token: Option<&str>,
    ) -> Result<Self, ProviderError> {
        let snapshot = Snapshot {
            url: format!("{}/v1/namespaces/{namespace}/snapshot", base_url.trim_end_matches('/')),
            token: token.map(str::to_owned),
        };
        let json = fetch(&snapshot).await?;
        Ok(FlagstoneProvider::new(compile(&json)?, Some(snapshot)))
    }

    /// Fetches the snapshot again and swaps it in when it compiles.
    ///
    /// # Errors
    /// [`ProviderError`]; the previous engine keeps serving.
    pub async fn refresh_from_snapshot(&self) -> Result<(), ProviderError> {
        let Some(snapshot) = &self.snapshot else {
            return Err(ProviderError::Fetch {
                url: String::new(),
                message: "this provider was not made from a snapshot".into(),
            });
        };
        let json = fetch(snapshot).await?;
        self.handle.store(Arc::new(compile(&json)?));
        Ok(())
    }

    /// Swaps in a new config when it compiles.
    ///
    /// # Errors
    /// [`ProviderError::Invalid`]; the previous engine keeps serving.
    pub fn reload_json(&self, json: &str) -> Result<(), ProviderError> {
        self.handle.store(Arc::new(compile(json)?));
        Ok(())
    }

    /// The engine handle, to share with code that evaluates directly.
    pub fn handle(&self) -> Arc<EngineHandle> {
        self.handle.clone()
    }

    fn resolve<T>(
        &self,
        key: &str,
        context: &EvaluationContext,
        read: impl FnOnce(&Resolution<'_>, &str) -> Result<T, AccessError>,
    ) -> EvaluationResult<ResolutionDetails<T>> {
        let engine = self.handle.load();
        let Some((id, path)) = split_key(&engine, key) else {
            return Err(error(
                EvaluationErrorCode::FlagNotFound,
                format!("flag {key:?} was not found"),
            ));
        };
        let attributes = context_json(context);
        let resolution = engine.evaluate(id, &flagstone_core::EvaluationContext::new(&attributes));
        let of = resolution.openfeature();
        match of.error_code {
            Some("TARGETING_KEY_MISSING") => {
                return Err(error(
                    EvaluationErrorCode::TargetingKeyMissing,
                    "the targeting key must be a string or an integer of at most 100 characters",
                ));
            }
            Some(code) => return Err(error(EvaluationErrorCode::General(code.to_owned()), code)),
            None => {}
        }
        let value = read(&resolution, path).map_err(|e| match e {
            AccessError::TypeMismatch => {
                error(EvaluationErrorCode::TypeMismatch, format!("{key}: {e}"))
            }
            AccessError::NoVariant => error(
                EvaluationErrorCode::General(format!(
                    "no value ({}): the code default applies",
                    of.reason
                )),
                format!("{key}: {e}"),
            ),
            other => error(
                EvaluationErrorCode::General(other.error_code().to_owned()),
                format!("{key}: {other}"),
            ),
        })?;
        let mut metadata = FlagMetadata::default();
        metadata.add_value("flagstoneReason", resolution.reason.as_str());
        if let Some(rule) = resolution.rule {
            metadata.add_value("rule", rule);
        }
        let variant = resolution
            .variant
            .map(|name| flagstone_model::names::variant_id(resolution.flag, name).unwrap_or(name));
        Ok(ResolutionDetails {
            value,
            variant: variant.map(str::to_owned),
            reason: Some(reason_of(of.reason, resolution.reason)),
            flag_metadata: Some(metadata),
        })
    }
}

fn reason_of(openfeature: &str, reason: Reason) -> EvaluationReason {
    match openfeature {
        "TARGETING_MATCH" => EvaluationReason::TargetingMatch,
        "SPLIT" => EvaluationReason::Split,
        "DEFAULT" => EvaluationReason::Default,
        "DISABLED" => EvaluationReason::Disabled,
        _ => EvaluationReason::Other(reason.as_str().to_owned()),
    }
}

fn error(code: EvaluationErrorCode, message: impl Into<String>) -> EvaluationError {
    EvaluationError { code, message: Some(message.into()) }
}

async fn fetch(snapshot: &Snapshot) -> Result<String, ProviderError> {
    let failed = |message: String| ProviderError::Fetch { url: snapshot.url.clone(), message };
    let mut request = reqwest::Client::new().get(&snapshot.url);
    if let Some(token) = &snapshot.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("status {}", response.status())));
    }
    response.text().await.map_err(|e| failed(e.to_string()))
}

/// The flag a key names and the path into its value (longest flag prefix at a `.`).
fn split_key<'k>(engine: &Engine, key: &'k str) -> Option<(FlagId, &'k str)> {
    if let Some(id) = engine.flag_id(key) {
        return Some((id, ""));
    }
    key.rmatch_indices('.').find_map(|(at, _)| {
        let (flag, rest) = key.split_at(at);
        engine.flag_id(flag).map(|id| (id, rest.get(1..).unwrap_or("")))
    })
}

/// An OpenFeature context as the JSON attributes the engine reads.
fn context_json(context: &EvaluationContext) -> Map<String, Json> {
    let mut attributes = Map::new();
    for (name, value) in &context.custom_fields {
        let json = match value {
            EvaluationContextFieldValue::Bool(b) => Json::Bool(*b),
            EvaluationContextFieldValue::Int(i) => Json::from(*i),
            EvaluationContextFieldValue::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number)
            }
            EvaluationContextFieldValue::String(s) => Json::String(s.clone()),
            EvaluationContextFieldValue::DateTime(t) => {
                match jiff::Timestamp::from_nanosecond(t.unix_timestamp_nanos()) {
                    Ok(at) => Json::String(at.to_string()),
                    Err(_) => continue,
                }
            }
            EvaluationContextFieldValue::Struct(any) => match any.downcast_ref::<Json>() {
                Some(json) => json.clone(),
                None => continue,
            },
        };
        attributes.insert(name.clone(), json);
    }
    if let Some(key) = &context.targeting_key {
        attributes.insert("targeting_key".to_owned(), Json::String(key.clone()));
    }
    attributes
}

fn to_struct(value: &Json) -> Result<StructValue, AccessError> {
    match Value::try_from(value) {
        Ok(Value::Struct(s)) => Ok(s),
        _ => Err(AccessError::TypeMismatch),
    }
}

#[async_trait]
impl FeatureProvider for FlagstoneProvider {
    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    async fn resolve_bool_value(
        &self,
        flag_key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        self.resolve(flag_key, context, |r, path| r.bool_at(path))
    }

    async fn resolve_int_value(
        &self,
        flag_key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<i64>> {
        self.resolve(flag_key, context, |r, path| r.i64_at(path))
    }

    async fn resolve_float_value(
        &self,
        flag_key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        self.resolve(flag_key, context, |r, path| r.f64_at(path))
    }

    async fn resolve_string_value(
        &self,
        flag_key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        self.resolve(flag_key, context, |r, path| r.str_at(path).map(str::to_owned))
    }

    async fn resolve_struct_value(
        &self,
        flag_key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        self.resolve(flag_key, context, |r, path| {
            if r.value.is_none() {
                return Err(AccessError::NoVariant);
            }
            r.value_at(path).ok_or(AccessError::Missing).and_then(to_struct)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_become_attributes() {
        let at = open_feature::EvaluationContextFieldValue::DateTime(
            time::OffsetDateTime::from_unix_timestamp(1_764_931_200).unwrap(),
        );
        let context = EvaluationContext::default()
            .with_targeting_key("u")
            .with_custom_field("n", 3)
            .with_custom_field("when", at);
        let attributes = context_json(&context);
        assert_eq!(attributes["targeting_key"], "u");
        assert_eq!(attributes["n"], 3);
        assert_eq!(attributes["when"], "2025-12-05T10:40:00Z");
    }
}
