//! Evaluates cases with the official OpenFeature OFREP provider for Rust.
//!
//! Reads `{"baseUrl", "token", "cases": [{"flag", "type", "default", "context"}]}` on stdin
//! and prints one JSON line per case: `{"value", "variant", "reason", "errorCode"}`, where an
//! evaluation error gives the caller's default, reason `ERROR` and the error's code, as an
//! OpenFeature client does.

use open_feature::provider::{FeatureProvider, ResolutionDetails};
use open_feature::{
    EvaluationContext, EvaluationContextFieldValue, EvaluationError, StructValue, Value,
};
use open_feature_ofrep::{OfrepOptions, OfrepProvider};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value as Json, json};
use std::io::Read;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let request: Json = serde_json::from_str(&input)?;
    let mut headers = HeaderMap::new();
    if let Some(token) = request["token"].as_str() {
        headers.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}"))?);
    }
    let base_url = request["baseUrl"].as_str().ok_or("no baseUrl")?.to_owned();
    let provider =
        OfrepProvider::new(OfrepOptions { base_url, headers, ..Default::default() }).await?;
    for case in request["cases"].as_array().ok_or("no cases")? {
        let flag = case["flag"].as_str().ok_or("no flag")?;
        let context = context(&case["context"]);
        let default = &case["default"];
        let answer = match case["type"].as_str() {
            Some("boolean") => {
                answer(provider.resolve_bool_value(flag, &context).await, default, Json::Bool)
            }
            Some("string") => {
                answer(provider.resolve_string_value(flag, &context).await, default, Json::String)
            }
            Some("number") => {
                answer(provider.resolve_float_value(flag, &context).await, default, |f| json!(f))
            }
            _ => answer(provider.resolve_struct_value(flag, &context).await, default, |s| {
                struct_json(&s)
            }),
        };
        println!("{answer}");
    }
    Ok(())
}

fn answer<T>(
    result: Result<ResolutionDetails<T>, EvaluationError>,
    default: &Json,
    to_json: impl Fn(T) -> Json,
) -> Json {
    match result {
        Ok(d) => json!({
            "value": to_json(d.value),
            "variant": d.variant,
            "reason": d.reason.map(|r| r.to_string()),
            "errorCode": Json::Null,
        }),
        Err(e) => json!({
            "value": default,
            "variant": Json::Null,
            "reason": "ERROR",
            "errorCode": e.code.to_string(),
        }),
    }
}

/// The case's context; `targeting_key` becomes the OpenFeature targeting key.
fn context(json: &Json) -> EvaluationContext {
    let mut context = EvaluationContext::default();
    if let Some(map) = json.as_object() {
        for (key, value) in map {
            match (key.as_str(), value) {
                ("targeting_key", Json::String(s)) => {
                    context = context.with_targeting_key(s.as_str())
                }
                (_, value) => {
                    if let Some(field) = field(value) {
                        context = context.with_custom_field(key.as_str(), field);
                    }
                }
            }
        }
    }
    context
}

fn field(value: &Json) -> Option<EvaluationContextFieldValue> {
    Some(match value {
        Json::Bool(b) => EvaluationContextFieldValue::Bool(*b),
        Json::Number(n) if n.is_i64() => EvaluationContextFieldValue::Int(n.as_i64()?),
        Json::Number(n) => EvaluationContextFieldValue::Float(n.as_f64()?),
        Json::String(s) => EvaluationContextFieldValue::String(s.clone()),
        // The provider would send a struct as its Debug text; agree.py sends this client
        // flat contexts, so lists and objects do not reach here.
        Json::Array(_) | Json::Object(_) | Json::Null => return None,
    })
}

fn struct_json(value: &StructValue) -> Json {
    Json::Object(value.fields.iter().map(|(k, v)| (k.clone(), value_json(v))).collect())
}

fn value_json(value: &Value) -> Json {
    match value {
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Float(f) => json!(f),
        Value::String(s) => json!(s),
        Value::Array(items) => Json::Array(items.iter().map(value_json).collect()),
        Value::Struct(s) => struct_json(s),
    }
}
