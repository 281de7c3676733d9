//! The three engines, each configured in its own native format and asked the
//! way its users ask it.
//!
//! Every evaluation returns an [`Outcome`] code, so the engines can be checked
//! against each other: `0` no match (the flag's default), `1` on, `2` off
//! (only a split can give it).

use crate::contexts::{Ctx, NORDIC};
use flagstone_core::{EvaluationContext, FlagId};
use launchdarkly_server_sdk_evaluation as ld;
use serde_json::{Value, json};
use std::collections::HashMap;
use unleash_yggdrasil as ygg;

/// What an evaluation decided: 0 no match, 1 on, 2 off.
pub type Outcome = u8;

/// The four scenarios, in output order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// A boolean flag: country in a set and plan equal.
    Bool,
    /// A 50/50 split behind the same two criteria.
    Split,
    /// `app_version` semver-greater than 3.0.1.
    Semver,
    /// A regex on `email`.
    Regex,
}

impl Scenario {
    pub const ALL: [Scenario; 4] =
        [Scenario::Bool, Scenario::Split, Scenario::Semver, Scenario::Regex];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Bool => "bool_2_criteria",
            Scenario::Split => "split_50_50_2_criteria",
            Scenario::Semver => "semver_gt",
            Scenario::Regex => "regex_email",
        }
    }

    /// The flag's key in every engine.
    fn key(self) -> &'static str {
        match self {
            Scenario::Bool => "bool",
            Scenario::Split => "split",
            Scenario::Semver => "semver",
            Scenario::Regex => "regex",
        }
    }
}

/// The email pattern of scenario (d), written once for all three engines.
pub const EMAIL_PATTERN: &str = r"^[a-z.]+@(acme|example)\.(com|example)$";
/// The version scenario (c) compares with.
pub const VERSION: &str = "3.0.1";
/// The plan the criterion asks for.
pub const PLAN: &str = "pro";

/// Flagstone: one JSON config, compiled once; flags looked up once by id.
pub struct Flagstone {
    engine: flagstone_core::Engine,
    ids: [FlagId; 4],
    on: [&'static str; 4],
}

impl Flagstone {
    pub fn new() -> Result<Self, String> {
        let two_criteria = json!({
            "country": {"attribute": {"attributeName": "country", "setRule": {"values":
                NORDIC.iter().map(|c| json!({"stringValue": c})).collect::<Vec<_>>()}}},
            "plan": {"attribute": {"attributeName": "plan", "eqRule": {"value": {"stringValue": PLAN}}}}
        });
        let all_on = json!([{"assignmentId": "on", "variant": {"variant": "on"},
            "bucketRanges": [{"lower": 0, "upper": 1}]}]);
        let split = json!([
            {"assignmentId": "on", "variant": {"variant": "on"}, "bucketRanges": [{"lower": 0, "upper": 5000}]},
            {"assignmentId": "off", "variant": {"variant": "off"}, "bucketRanges": [{"lower": 5000, "upper": 10000}]}
        ]);
        let flag = |id: &str, buckets: u32, assignments: &Value| {
            json!({
                "name": format!("flags/{id}"),
                "variants": [
                    {"name": format!("flags/{id}/variants/on"), "value": {"enabled": true}},
                    {"name": format!("flags/{id}/variants/off"), "value": {"enabled": false}}
                ],
                "rules": [{
                    "name": format!("flags/{id}/rules/r"),
                    "segment": format!("segments/{id}"),
                    "assignmentSpec": {"bucketCount": buckets, "assignments": assignments}
                }]
            })
        };
        let config = json!({
            "flags": [
                flag("bool", 1, &all_on),
                flag("split", 10_000, &split),
                flag("semver", 1, &all_on),
                flag("regex", 1, &all_on),
            ],
            "segments": [
                {"name": "segments/bool", "targeting": {"criteria": two_criteria}},
                {"name": "segments/split", "targeting": {"criteria": two_criteria}},
                {"name": "segments/semver", "targeting": {"criteria": {"v": {"version":
                    {"attributeName": "app_version", "operator": "semver-gt", "semver": VERSION}}}}},
                {"name": "segments/regex", "targeting": {"criteria": {"staff": {"attribute":
                    {"attributeName": "email", "regexRule": {"pattern": EMAIL_PATTERN}}}}}}
            ]
        });
        let config =
            flagstone_model::parse_config(&config.to_string()).map_err(|e| e.to_string())?;
        let engine = flagstone_core::Engine::compile(&config).map_err(|e| format!("{e:?}"))?;
        let id = |s: Scenario| engine.flag_id(s.key()).ok_or(format!("no flag {}", s.key()));
        let ids = [
            id(Scenario::Bool)?,
            id(Scenario::Split)?,
            id(Scenario::Semver)?,
            id(Scenario::Regex)?,
        ];
        let on = [
            "flags/bool/variants/on",
            "flags/split/variants/on",
            "flags/semver/variants/on",
            "flags/regex/variants/on",
        ];
        Ok(Flagstone { engine, ids, on })
    }

    #[inline]
    pub fn evaluate(&self, s: Scenario, ctx: &EvaluationContext<'_>) -> Outcome {
        let i = s as usize;
        match self.engine.evaluate(self.ids[i], ctx).variant {
            None => 0,
            Some(v) if v == self.on[i] => 1,
            Some(_) => 2,
        }
    }

    #[inline]
    pub fn per_call(&self, s: Scenario, value: &Value) -> Outcome {
        self.evaluate(s, &EvaluationContext::from_json(value))
    }
}

/// Unleash yggdrasil: client features JSON (the `/api/client/features` shape)
/// given to an `EngineState`, asked by toggle name with an Unleash `Context`.
pub struct Yggdrasil {
    engine: ygg::EngineState,
}

impl Yggdrasil {
    pub fn new() -> Result<Self, String> {
        let two_criteria = json!([
            {"contextName": "country", "operator": "IN", "values": NORDIC, "inverted": false, "caseInsensitive": false},
            {"contextName": "plan", "operator": "IN", "values": [PLAN], "inverted": false, "caseInsensitive": false}
        ]);
        let features = json!({
            "version": 2,
            "features": [
                {"name": "bool", "enabled": true, "strategies": [
                    {"name": "default", "constraints": two_criteria, "parameters": {}}]},
                {"name": "split", "enabled": true, "strategies": [
                    {"name": "flexibleRollout", "constraints": two_criteria,
                     "parameters": {"rollout": "100", "stickiness": "default", "groupId": "split"},
                     "variants": [
                        {"name": "on", "weight": 500, "stickiness": "default"},
                        {"name": "off", "weight": 500, "stickiness": "default"}]}]},
                {"name": "semver", "enabled": true, "strategies": [
                    {"name": "default", "parameters": {}, "constraints": [
                        {"contextName": "app_version", "operator": "SEMVER_GT", "value": VERSION,
                         "inverted": false, "caseInsensitive": false}]}]},
                {"name": "regex", "enabled": true, "strategies": [
                    {"name": "default", "parameters": {}, "constraints": [
                        {"contextName": "email", "operator": "REGEX", "value": EMAIL_PATTERN,
                         "inverted": false, "caseInsensitive": false}]}]}
            ]
        });
        let message: ygg::UpdateMessage =
            serde_json::from_value(features).map_err(|e| e.to_string())?;
        let engine = ygg::EngineState::default();
        if let Some(warnings) = engine.take_state(message) {
            return Err(format!("yggdrasil warnings: {warnings:?}"));
        }
        Ok(Yggdrasil { engine })
    }

    /// The context an Unleash SDK builds: the user id and string properties.
    pub fn context(ctx: &Ctx) -> ygg::Context {
        let properties = HashMap::from([
            ("country".to_owned(), ctx.country.clone()),
            ("plan".to_owned(), ctx.plan.clone()),
            ("email".to_owned(), ctx.email.clone()),
            ("app_version".to_owned(), ctx.app_version.clone()),
        ]);
        ygg::Context {
            user_id: Some(ctx.key.clone()),
            properties: Some(properties),
            ..Default::default()
        }
    }

    /// The same context built from the JSON an app holds, per call.
    #[inline]
    pub fn context_from_json(value: &Value) -> ygg::Context {
        let s = |k: &str| value.get(k).and_then(Value::as_str);
        let mut properties = HashMap::with_capacity(4);
        for k in ["country", "plan", "email", "app_version"] {
            if let Some(v) = s(k) {
                properties.insert(k.to_owned(), v.to_owned());
            }
        }
        ygg::Context {
            user_id: s("targeting_key").map(str::to_owned),
            properties: Some(properties),
            ..Default::default()
        }
    }

    #[inline]
    pub fn evaluate(&self, s: Scenario, ctx: &ygg::Context) -> Outcome {
        if s == Scenario::Split {
            let v = self.engine.get_variant(s.key(), ctx, &None);
            match (v.feature_enabled, v.name.as_str()) {
                (false, _) => 0,
                (true, "on") => 1,
                (true, _) => 2,
            }
        } else {
            u8::from(self.engine.is_enabled(s.key(), ctx, &None))
        }
    }

    #[inline]
    pub fn per_call(&self, s: Scenario, value: &Value) -> Outcome {
        self.evaluate(s, &Self::context_from_json(value))
    }
}

/// LaunchDarkly: flag JSON as the LaunchDarkly streaming API sends it,
/// evaluated with `evaluate(store, flag, context)`.
pub struct LaunchDarkly {
    flags: [ld::Flag; 4],
}

/// No segments and no prerequisites: the store is never asked.
struct EmptyStore;

impl ld::Store for EmptyStore {
    fn flag(&self, _flag_key: &str) -> Option<ld::Flag> {
        None
    }

    fn segment(&self, _segment_key: &str) -> Option<ld::Segment> {
        None
    }
}

impl LaunchDarkly {
    pub fn new() -> Result<Self, String> {
        let clause = |attribute: &str, op: &str, values: Value| json!({"attribute": attribute, "op": op, "values": values, "negate": false});
        let two_criteria =
            json!([clause("country", "in", json!(NORDIC)), clause("plan", "in", json!([PLAN]))]);
        let flag = |key: &str, clauses: Value, serve: Value| {
            let mut rule = json!({"id": "r", "clauses": clauses, "trackEvents": false});
            if let (Some(rule), Some(serve)) = (rule.as_object_mut(), serve.as_object()) {
                rule.extend(serve.clone());
            }
            json!({
                "key": key, "version": 1, "on": true, "salt": key,
                "targets": [], "contextTargets": [], "prerequisites": [],
                "rules": [rule],
                "fallthrough": {"variation": 2}, "offVariation": 2,
                "variations": ["on", "off", "default"],
                "clientSide": false
            })
        };
        let on = json!({"variation": 0});
        let split = json!({"rollout": {"variations": [
            {"variation": 0, "weight": 50_000}, {"variation": 1, "weight": 50_000}]}});
        let flags = [
            flag("bool", two_criteria.clone(), on.clone()),
            flag("split", two_criteria, split),
            flag(
                "semver",
                json!([clause("app_version", "semVerGreaterThan", json!([VERSION]))]),
                on.clone(),
            ),
            flag("regex", json!([clause("email", "matches", json!([EMAIL_PATTERN]))]), on),
        ];
        let parse =
            |v: &Value| serde_json::from_value::<ld::Flag>(v.clone()).map_err(|e| e.to_string());
        Ok(LaunchDarkly {
            flags: [parse(&flags[0])?, parse(&flags[1])?, parse(&flags[2])?, parse(&flags[3])?],
        })
    }

    /// The context the LaunchDarkly SDK builds with its `ContextBuilder`.
    pub fn context(ctx: &Ctx) -> Result<ld::Context, String> {
        ld::ContextBuilder::new(ctx.key.as_str())
            .set_string("country", ctx.country.as_str())
            .set_string("plan", ctx.plan.as_str())
            .set_string("email", ctx.email.as_str())
            .set_string("app_version", ctx.app_version.as_str())
            .build()
    }

    /// The same context built from the JSON an app holds, per call.
    #[inline]
    pub fn context_from_json(value: &Value) -> Option<ld::Context> {
        let s = |k: &str| value.get(k).and_then(Value::as_str);
        let mut builder = ld::ContextBuilder::new(s("targeting_key")?);
        for k in ["country", "plan", "email", "app_version"] {
            if let Some(v) = s(k) {
                builder.set_string(k, v);
            }
        }
        builder.build().ok()
    }

    #[inline]
    pub fn evaluate(&self, s: Scenario, ctx: &ld::Context) -> Outcome {
        let detail = ld::evaluate(&EmptyStore, &self.flags[s as usize], ctx, None);
        match detail.variation_index {
            Some(0) => 1,
            Some(1) => 2,
            _ => 0,
        }
    }

    #[inline]
    pub fn per_call(&self, s: Scenario, value: &Value) -> Outcome {
        match Self::context_from_json(value) {
            Some(ctx) => self.evaluate(s, &ctx),
            None => 0,
        }
    }
}
