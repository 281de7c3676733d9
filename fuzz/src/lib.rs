//! Fuzz harnesses for Flagstone, shared by the libFuzzer targets in `fuzz_targets/` and by the
//! replay test `tests/it/fuzz_replay.rs`, which includes this file as a module so that every
//! committed corpus file and minimised crash under `tests/data/fuzz/<target>/` runs through
//! exactly the same code on the stable toolchain.
//!
//! Each harness takes raw bytes, never panics on its own, and asserts the invariants that a
//! library linked into app servers must keep whatever it is fed:
//! - [`parse_config`]: parsing and validating any bytes returns, and a config that validates
//!   serialises, parses back to itself and compiles or reports errors.
//! - [`compile_evaluate`]: configs built by `arbitrary` from name pools (so that most of them
//!   validate) compile or report errors; every flag of an accepted config evaluates and
//!   explains for every generated context, and the two agree.
//! - [`analyze_request`]: any analysis request (JSON bytes, or a request built directly with
//!   NaN, infinities, zeros and 1e308) returns a result or a typed error, and the result keeps
//!   the invariants of `flagstone_stats::invariants::check_result` (no number NaN or infinite,
//!   probabilities in `[0, 1]`, intervals ordered).
//! - [`context_json`]: any bytes as a context against the engine of `examples/config.json`.
#![deny(missing_docs)]

use arbitrary::{Arbitrary, Unstructured};
use flagstone_core::{Engine, EvaluationContext};
use flagstone_model::targeting::PropertyOperator;
use flagstone_stats::analysis::{AnalysisRequest, analyze};
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

// -------------------------------------------------------------------------------------------------
// parse_config

/// Any bytes: parse and validate never panic; a valid config round-trips and compiles.
pub fn parse_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = flagstone_model::parse_config(text) else { return };
    let report = flagstone_model::validate(&config);
    let _ = report.to_string();
    if !report.is_ok() {
        return;
    }
    // A config that validates survives a serde round trip unchanged (STYLE §8).
    if let Ok(again) = serde_json::to_string(&config) {
        let back = flagstone_model::parse_config(&again);
        assert!(
            back.as_ref().is_ok_and(|back| *back == config),
            "a valid config does not round-trip:\n{text}\n{again}\n{back:?}"
        );
    }
    match Engine::compile(&config) {
        Ok(engine) => evaluate_all_flags(&engine, &[json!({}), json!({"targeting_key": "u"})]),
        Err(errors) => assert!(!errors.is_empty(), "compile failed without an error"),
    }
}

// -------------------------------------------------------------------------------------------------
// shared evaluation checks

/// Fixed instants, so that runs are repeatable: before, inside and after the example schedules.
const NOWS: [i64; 3] = [0, 1_780_000_000, 4_102_444_800];

fn at(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Evaluates and explains every flag for every context at every instant of [`NOWS`].
fn evaluate_all_flags(engine: &Engine, contexts: &[Value]) {
    for now in NOWS {
        for context in contexts {
            evaluate_context(engine, context, at(now));
        }
    }
}

/// Evaluate and explain agree (one walk, two recorders) and never panic.
fn evaluate_context(engine: &Engine, context: &Value, now: jiff::Timestamp) {
    let ctx = EvaluationContext::from_json(context).at(now);
    for flag in engine.flag_ids() {
        let resolution = engine.evaluate(flag, &ctx);
        let explanation = engine.explain(flag, &ctx);
        assert!(
            resolution.reason == explanation.reason,
            "evaluate gave {:?}, explain {:?} for {:?} with {context}",
            resolution.reason,
            explanation.reason,
            engine.flag_name(flag),
        );
        assert!(
            resolution.variant == explanation.variant.as_deref(),
            "evaluate gave {:?}, explain {:?} for {:?} with {context}",
            resolution.variant,
            explanation.variant,
            engine.flag_name(flag),
        );
        let _ = resolution.openfeature();
        let _ = resolution.value_at("enabled");
        let _ = serde_json::to_string(&explanation);
    }
    let n = engine.evaluate_all(&ctx).count();
    assert!(n == engine.n_flags(), "evaluate_all gave {n} of {} flags", engine.n_flags());
    let _ = engine.evaluate_name("flags/no-such-flag", &ctx);
}

// -------------------------------------------------------------------------------------------------
// context_json

static EXAMPLE_ENGINE: LazyLock<Option<Engine>> = LazyLock::new(|| {
    let config = flagstone_model::parse_config(include_str!("../../examples/config.json")).ok()?;
    Engine::compile(&config).ok()
});

/// The engine of `examples/config.json`, which uses every resource kind.
pub fn example_engine() -> Option<&'static Engine> {
    EXAMPLE_ENGINE.as_ref()
}

/// Any bytes as a context: JSON as it is, anything else as a targeting key and user id.
pub fn context_json(data: &[u8]) {
    let Some(engine) = example_engine() else { return };
    let context = match serde_json::from_slice::<Value>(data) {
        Ok(value) => value,
        Err(_) => {
            let text = String::from_utf8_lossy(data);
            json!({"targeting_key": text, "user": {"id": text}, "rox.distinct_id": text})
        }
    };
    evaluate_all_flags(engine, std::slice::from_ref(&context));
}

// -------------------------------------------------------------------------------------------------
// analyze_request

/// Any bytes as an analysis request: JSON when the first byte is even, otherwise a request
/// built by `arbitrary` with any `f64` (NaN, infinities, 0, 1e308) in every numeric field.
pub fn analyze_request(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let request = if mode % 2 == 0 {
        match serde_json::from_slice::<AnalysisRequest>(rest) {
            Ok(request) => request,
            Err(_) => return,
        }
    } else {
        match RequestIn::arbitrary_take_rest(Unstructured::new(rest)).ok().and_then(|r| r.build()) {
            Some(request) => request,
            None => return,
        }
    };
    if let Ok(result) = analyze(&request) {
        // The invariants live with the statistics crate, whose property tests check them too.
        let bad = flagstone_stats::invariants::check_result(&result);
        assert!(bad.is_empty(), "analyze returned non-numbers: {bad:?}\n{result:#?}");
    }
}

/// A number that is often one of the values that break naive statistics.
#[derive(Debug, Arbitrary)]
enum F64In {
    Special(u8),
    Small(i16),
    Raw(f64),
}

const SPECIAL_F64: [f64; 14] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    1e308,
    -1e308,
    f64::MIN_POSITIVE,
    5e-324,
    1e-300,
    9_007_199_254_740_993.0,
];

impl F64In {
    fn get(&self) -> f64 {
        match self {
            F64In::Special(i) => pick(&SPECIAL_F64, *i),
            F64In::Small(v) => f64::from(*v),
            F64In::Raw(v) => *v,
        }
    }
}

/// A count: small, at a boundary, or any `u64`.
#[derive(Debug, Arbitrary)]
enum CountIn {
    Small(u8),
    Boundary(u8),
    Raw(u64),
}

impl CountIn {
    fn get(&self) -> u64 {
        const BOUNDARY: [u64; 6] = [0, 1, 2, 1 << 53, (1 << 53) + 1, u64::MAX];
        match self {
            CountIn::Small(v) => u64::from(*v),
            CountIn::Boundary(i) => pick(&BOUNDARY, *i),
            CountIn::Raw(v) => *v,
        }
    }
}

#[derive(Debug, Arbitrary)]
struct ArmIn {
    n: CountIn,
    successes: CountIn,
    sum: F64In,
    sum_squares: F64In,
    numerator: (F64In, F64In),
    denominator: (F64In, F64In),
    cross_products: F64In,
    covariate: Option<(F64In, F64In, F64In)>,
}

#[derive(Debug, Arbitrary)]
struct MetricIn {
    metric_type: u8,
    guardrail: bool,
    decrease: bool,
    sides: Option<u8>,
    mde: Option<F64In>,
    margin: Option<F64In>,
    arms: Vec<ArmIn>,
}

#[derive(Debug, Arbitrary)]
struct RequestIn {
    alpha: Option<F64In>,
    power: Option<F64In>,
    method: u8,
    correction: u8,
    scaled: bool,
    prior: Option<(bool, F64In, F64In)>,
    variants: Vec<(F64In, Option<CountIn>)>,
    metrics: Vec<MetricIn>,
}

impl RequestIn {
    /// The request: its shape from JSON (so that fields added later take their defaults),
    /// then the numbers set directly, since JSON cannot carry NaN or infinities.
    fn build(&self) -> Option<AnalysisRequest> {
        use flagstone_stats::analysis::{
            Count, CovariateSpec, MetricType, MomentsSpec, PriorSpec, StatsSpec,
        };
        let n_variants = self.variants.len().clamp(1, 5);
        let names: Vec<String> = (0..n_variants).map(|i| format!("v{i}")).collect();
        let metrics: Vec<&MetricIn> = self.metrics.iter().take(3).collect();
        let base = json!({
            "control": "v0",
            "method": pick(&["z-test", "t-test", "chi-squared", "bayesian"], self.method),
            "correction": pick(&["bonferroni", "holm", "benjamini-hochberg", "none"], self.correction),
            "relativeCi": if self.scaled { "scaled" } else { "delta" },
            "variants": names.iter().map(|n| json!({"name": n, "expectedShare": 1})).collect::<Vec<_>>(),
            "metrics": metrics.iter().enumerate().map(|(mi, m)| {
                let mut metric = json!({
                    "id": format!("m{mi}"),
                    "type": pick(&["binary", "mean", "ratio"], m.metric_type),
                    "kind": if m.guardrail { "GUARDRAIL" } else { "SUCCESS" },
                    "preferredDirection": if m.decrease { "DECREASE" } else { "INCREASE" },
                    "data": {},
                });
                if let (Some(s), Some(map)) = (m.sides, metric.as_object_mut()) {
                    map.insert("sides".to_owned(), json!(pick(&["two-sided", "greater", "less"], s)));
                }
                metric
            }).collect::<Vec<_>>(),
        });
        let mut request: AnalysisRequest = serde_json::from_value(base).ok()?;
        request.alpha = self.alpha.as_ref().map_or(0.05, F64In::get);
        request.power = self.power.as_ref().map_or(0.8, F64In::get);
        request.prior = self.prior.as_ref().map(|(beta, a, b)| {
            if *beta {
                PriorSpec::Beta { alpha: a.get(), beta: b.get() }
            } else {
                PriorSpec::Normal { mean: a.get(), stddev: b.get() }
            }
        });
        for (v, (share, units)) in request.variants.iter_mut().zip(&self.variants) {
            v.expected_share = share.get();
            v.units = units.as_ref().map(|u| Count(u.get()));
        }
        for (spec, m) in request.metrics.iter_mut().zip(&metrics) {
            spec.minimum_detectable_effect = m.mde.as_ref().map(F64In::get);
            spec.non_inferiority_margin = m.margin.as_ref().map(F64In::get);
            // A variant without an arm is left out, to exercise the missing-data error.
            for (name, arm) in names.iter().zip(&m.arms) {
                let mut data = StatsSpec { n: Count(arm.n.get()), ..StatsSpec::default() };
                match spec.metric_type {
                    MetricType::Binary => data.successes = Some(Count(arm.successes.get())),
                    MetricType::Mean => {
                        data.sum = Some(arm.sum.get());
                        data.sum_squares = Some(arm.sum_squares.get());
                    }
                    MetricType::Ratio => {
                        data.numerator = Some(MomentsSpec {
                            sum: arm.numerator.0.get(),
                            sum_squares: arm.numerator.1.get(),
                        });
                        data.denominator = Some(MomentsSpec {
                            sum: arm.denominator.0.get(),
                            sum_squares: arm.denominator.1.get(),
                        });
                        data.cross_products = Some(arm.cross_products.get());
                    }
                }
                if spec.metric_type != MetricType::Ratio {
                    data.covariate = arm.covariate.as_ref().map(|(s, q, c)| CovariateSpec {
                        sum: s.get(),
                        sum_squares: q.get(),
                        cross_products: c.get(),
                    });
                }
                spec.data.insert(name.clone(), data);
            }
        }
        Some(request)
    }
}

// -------------------------------------------------------------------------------------------------
// compile_evaluate

/// `items[i % len]`, for picking from a pool with a fuzzed byte; every pool is a non-empty
/// constant.
fn pick<T: Copy>(items: &[T], i: u8) -> T {
    items[usize::from(i) % items.len()]
}

/// Any bytes as an `arbitrary` [`ConfigInput`]: compile, then evaluate and explain every flag
/// of an accepted config for every generated context.
pub fn compile_evaluate(data: &[u8]) {
    let Ok(input) = ConfigInput::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let text = input.config_json().to_string();
    let config = match flagstone_model::parse_config(&text) {
        Ok(config) => config,
        Err(_) => return,
    };
    let report = flagstone_model::validate(&config);
    match Engine::compile(&config) {
        Ok(engine) => {
            assert!(report.is_ok(), "compiled a config with validation errors: {report}");
            let contexts: Vec<Value> = input.contexts.iter().take(4).map(ContextIn::json).collect();
            let now = input.now.map_or(at(NOWS[1]), at);
            for context in &contexts {
                evaluate_context(&engine, context, now);
            }
            evaluate_context(&engine, &json!({}), now);
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "compile failed without an error");
            for e in &errors {
                let _ = e.to_string();
            }
        }
    }
}

const FLAG_IDS: [&str; 6] = ["f0", "f1", "f2", "f3", "x0", "x1"];
const ATTRIBUTES: [&str; 14] = [
    "country",
    "age",
    "plan",
    "user.tier",
    "user.id",
    "app_version",
    "targeting_key",
    "rox.distinct_id",
    "tags",
    "platform",
    "signup",
    "user",
    "a.b.c",
    "",
];
const STRINGS: [&str; 16] = [
    "SE",
    "NO",
    "se",
    "pro",
    "free",
    "",
    "a",
    "ÅÄÖ",
    "user-1",
    "42",
    "1.2.3",
    "v2.0.0",
    "ios",
    "android",
    "2026-01-01T00:00:00Z",
    "ǅ",
];
const TIMESTAMPS: [&str; 6] = [
    "2026-01-01T00:00:00Z",
    "2026-06-01T12:00:00+02:00",
    "1970-01-01T00:00:00Z",
    "2099-12-31T23:59:59Z",
    "2026-13-01T00:00:00Z",
    "yesterday",
];
const VERSIONS: [&str; 9] =
    ["1.2.3", "v2", "1.0.0-alpha.1", "1.0.0+build.5", "01.2.3", "1.2.3.4", "3", "1.2", ""];
const PATTERNS: [&str; 10] = [
    "^a",
    "(a*)*b",
    "(a|a)*b",
    "[",
    r"\d{1,3}",
    "(?i)se",
    "x{1000}{1000}",
    "^$",
    r"\p{Greek}+",
    "(?-u:\\xff)",
];
const FRACTIONS: [f64; 8] = [0.0, 0.1, 0.25, 0.5, 0.75, 0.999_999, 1.0, 1.5];
/// Every property operator's wire name (the model's one list), then one it does not know.
static PROPERTY_OPERATORS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut names: Vec<&str> = PropertyOperator::ALL.iter().map(|op| op.as_str()).collect();
    names.push("bogus");
    names
});
const STATES: [&str; 4] = ["DRAFT", "LIVE", "PAUSED", "ENDED"];

/// A string from a pool, or any string (rarely, so that most configs validate).
#[derive(Debug, Arbitrary)]
enum StrIn {
    Pool(u8),
    Raw(String),
}

impl StrIn {
    fn get(&self, pool: &[&str]) -> String {
        match self {
            StrIn::Pool(i) => pick(pool, *i).to_owned(),
            StrIn::Raw(s) => s.clone(),
        }
    }
}

/// A name: an index into the pool of its collection, or any text (rarely).
#[derive(Debug, Arbitrary)]
struct NameIn(u8);

impl NameIn {
    fn id(&self, n: u8) -> u8 {
        self.0 % n.max(1)
    }
}

#[derive(Debug, Arbitrary)]
enum FracIn {
    Pool(u8),
    Raw(f64),
    Text(u8),
}

impl FracIn {
    fn json(&self) -> Value {
        match self {
            FracIn::Pool(i) => json!(pick(&FRACTIONS, *i)),
            FracIn::Raw(v) => json!(v),
            FracIn::Text(i) => json!(pick(&["0.25", "1", "0", ".5", "1e-3", "abc"], *i)),
        }
    }

    /// The same share as a CloudBees percentage in `[0, 100]` (raw and text values as they are).
    fn percent_json(&self) -> Value {
        match self {
            FracIn::Pool(i) => json!(pick(&FRACTIONS, *i) * 100.0),
            other => other.json(),
        }
    }
}

/// A JSON scalar for variant values, operands and context attributes.
#[derive(Debug, Arbitrary)]
enum ScalarIn {
    Null,
    Bool(bool),
    Int(i64),
    Small(i8),
    Float(f64),
    Str(StrIn),
}

impl ScalarIn {
    fn json(&self) -> Value {
        match self {
            ScalarIn::Null => Value::Null,
            ScalarIn::Bool(b) => json!(b),
            ScalarIn::Int(v) => json!(v),
            ScalarIn::Small(v) => json!(v),
            // NaN and infinities become null, as serde_json writes them.
            ScalarIn::Float(v) => json!(v),
            ScalarIn::Str(s) => json!(s.get(&STRINGS)),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum JsonIn {
    Scalar(ScalarIn),
    Array(Vec<ScalarIn>),
    Object(Vec<(StrIn, ScalarIn)>),
}

impl JsonIn {
    fn json(&self) -> Value {
        match self {
            JsonIn::Scalar(s) => s.json(),
            JsonIn::Array(items) => {
                Value::Array(items.iter().take(6).map(ScalarIn::json).collect())
            }
            JsonIn::Object(entries) => Value::Object(
                entries.iter().take(6).map(|(k, v)| (k.get(&ATTRIBUTES), v.json())).collect(),
            ),
        }
    }
}

/// A typed rule value (`{"stringValue": …}` and friends).
#[derive(Debug, Arbitrary)]
enum ValueIn {
    Bool(bool),
    Number(f64),
    Small(i16),
    Str(StrIn),
    Timestamp(StrIn),
    Version(StrIn),
    List(Vec<ScalarValueIn>),
}

#[derive(Debug, Arbitrary)]
enum ScalarValueIn {
    Bool(bool),
    Small(i16),
    Str(StrIn),
    Version(StrIn),
}

impl ScalarValueIn {
    fn json(&self) -> Value {
        match self {
            ScalarValueIn::Bool(b) => json!({"boolValue": b}),
            ScalarValueIn::Small(v) => json!({"numberValue": v}),
            ScalarValueIn::Str(s) => json!({"stringValue": s.get(&STRINGS)}),
            ScalarValueIn::Version(s) => json!({"versionValue": {"version": s.get(&VERSIONS)}}),
        }
    }
}

impl ValueIn {
    fn json(&self) -> Value {
        match self {
            ValueIn::Bool(b) => json!({"boolValue": b}),
            ValueIn::Number(v) => json!({"numberValue": v}),
            ValueIn::Small(v) => json!({"numberValue": v}),
            ValueIn::Str(s) => json!({"stringValue": s.get(&STRINGS)}),
            ValueIn::Timestamp(s) => json!({"timestampValue": s.get(&TIMESTAMPS)}),
            ValueIn::Version(s) => json!({"versionValue": {"version": s.get(&VERSIONS)}}),
            ValueIn::List(items) => json!({"listValue": {
                "values": items.iter().take(5).map(ScalarValueIn::json).collect::<Vec<_>>()}}),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum StringRuleIn {
    Eq(ValueIn),
    Set(Vec<ValueIn>),
    Range(Option<(ValueIn, bool)>, Option<(ValueIn, bool)>),
    StartsWith(StrIn),
    EndsWith(StrIn),
    Contains(StrIn),
    Regex(StrIn),
}

impl StringRuleIn {
    fn json(&self, case_insensitive: bool) -> Map<String, Value> {
        let ci = |mut v: Value| {
            if case_insensitive && let Some(map) = v.as_object_mut() {
                map.insert("caseInsensitive".to_owned(), json!(true));
            }
            v
        };
        let (key, value) = match self {
            StringRuleIn::Eq(v) => ("eqRule", ci(json!({"value": v.json()}))),
            StringRuleIn::Set(vs) => (
                "setRule",
                ci(json!({"values": vs.iter().take(5).map(ValueIn::json).collect::<Vec<_>>()})),
            ),
            StringRuleIn::Range(start, end) => {
                let mut range = Map::new();
                if let Some((v, inclusive)) = start {
                    let key = if *inclusive { "startInclusive" } else { "startExclusive" };
                    range.insert(key.to_owned(), v.json());
                }
                if let Some((v, inclusive)) = end {
                    let key = if *inclusive { "endInclusive" } else { "endExclusive" };
                    range.insert(key.to_owned(), v.json());
                }
                ("rangeRule", Value::Object(range))
            }
            StringRuleIn::StartsWith(s) => {
                ("startsWithRule", ci(json!({"value": s.get(&STRINGS)})))
            }
            StringRuleIn::EndsWith(s) => ("endsWithRule", ci(json!({"value": s.get(&STRINGS)}))),
            StringRuleIn::Contains(s) => ("containsRule", ci(json!({"value": s.get(&STRINGS)}))),
            StringRuleIn::Regex(s) => ("regexRule", ci(json!({"pattern": s.get(&PATTERNS)}))),
        };
        let mut map = Map::new();
        map.insert(key.to_owned(), value);
        map
    }
}

#[derive(Debug, Arbitrary)]
enum AttributeRuleIn {
    Plain(StringRuleIn, bool),
    Any(StringRuleIn, bool),
    All(StringRuleIn, bool),
}

impl AttributeRuleIn {
    fn json(&self) -> Map<String, Value> {
        match self {
            AttributeRuleIn::Plain(r, ci) => r.json(*ci),
            AttributeRuleIn::Any(r, ci) => {
                let mut map = Map::new();
                map.insert("anyRule".to_owned(), json!({"rule": r.json(*ci)}));
                map
            }
            AttributeRuleIn::All(r, ci) => {
                let mut map = Map::new();
                map.insert("allRule".to_owned(), json!({"rule": r.json(*ci)}));
                map
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
enum CriterionIn {
    Attribute(StrIn, AttributeRuleIn),
    Segment(NameIn),
    Group(u8, Vec<NameIn>),
    Version(Option<StrIn>, u8, StrIn),
    Property(StrIn, u8, JsonIn),
    PropertyVersion(StrIn, u8, StrIn),
    Dependency(NameIn, Option<NameIn>, ScalarIn),
}

impl CriterionIn {
    fn json(&self) -> Value {
        match self {
            CriterionIn::Attribute(attr, rule) => {
                let mut map = rule.json();
                map.insert("attributeName".to_owned(), json!(attr.get(&ATTRIBUTES)));
                json!({"attribute": map})
            }
            CriterionIn::Segment(s) => json!({"segment": {"segment": segment_name(s)}}),
            CriterionIn::Group(op, names) => json!({"group": {
                "operator": pick(&["or", "and", "not"], *op),
                "names": names.iter().take(3).map(group_name).collect::<Vec<_>>()}}),
            CriterionIn::Version(attr, op, semver) => {
                let mut map = Map::new();
                if let Some(attr) = attr {
                    map.insert("attributeName".to_owned(), json!(attr.get(&ATTRIBUTES)));
                }
                map.insert("operator".to_owned(), json!(pick(&PROPERTY_OPERATORS[11..], *op)));
                map.insert("semver".to_owned(), json!(semver.get(&VERSIONS)));
                json!({"version": map})
            }
            CriterionIn::Property(name, op, operand) => json!({"property": {
                "name": name.get(&ATTRIBUTES), "operator": pick(&PROPERTY_OPERATORS, *op),
                "operand": operand.json()}}),
            CriterionIn::PropertyVersion(name, op, version) => json!({"property": {
                "name": name.get(&ATTRIBUTES), "operator": pick(&PROPERTY_OPERATORS[9..], *op),
                "operand": match op % 3 { 0 => json!(version.get(&PATTERNS)), _ => json!(version.get(&VERSIONS)) }}}),
            CriterionIn::Dependency(flag, variant, value) => {
                json!({"dependency": dependency_json(flag, variant.as_ref(), value)})
            }
        }
    }
}

/// One step of a stack machine that builds an expression without recursion in the generator.
#[derive(Debug, Arbitrary)]
enum ExprOp {
    Ref(u8),
    Not,
    And(u8),
    Or(u8),
}

fn expression(ops: &[ExprOp], n_criteria: usize) -> Option<Value> {
    let mut stack: Vec<Value> = Vec::new();
    for op in ops.iter().take(24) {
        match op {
            ExprOp::Ref(i) => {
                // Mostly defined ids; `c9` is never defined.
                let id = if n_criteria == 0 || *i == u8::MAX {
                    "c9".to_owned()
                } else {
                    format!("c{}", usize::from(*i) % n_criteria)
                };
                stack.push(json!({"ref": id}));
            }
            ExprOp::Not => {
                let inner = stack.pop()?;
                stack.push(json!({"not": inner}));
            }
            ExprOp::And(n) | ExprOp::Or(n) => {
                let take = usize::from(*n % 4).min(stack.len());
                let operands = stack.split_off(stack.len() - take);
                let key = if matches!(op, ExprOp::And(_)) { "and" } else { "or" };
                stack.push(json!({key: {"operands": operands}}));
            }
        }
    }
    stack.pop()
}

#[derive(Debug, Arbitrary)]
struct TargetingIn {
    criteria: Vec<CriterionIn>,
    expression: Vec<ExprOp>,
}

impl TargetingIn {
    fn json(&self) -> Value {
        let criteria: Map<String, Value> = self
            .criteria
            .iter()
            .take(4)
            .enumerate()
            .map(|(i, c)| (format!("c{i}"), c.json()))
            .collect();
        let mut map = Map::new();
        let n = criteria.len();
        map.insert("criteria".to_owned(), Value::Object(criteria));
        if let Some(expr) = expression(&self.expression, n) {
            map.insert("expression".to_owned(), expr);
        }
        Value::Object(map)
    }
}

fn dependency_json(flag: &NameIn, variant: Option<&NameIn>, value: &ScalarIn) -> Value {
    let flag_id = pick(&FLAG_IDS, flag.0);
    match variant {
        Some(v) => json!({"flag": flag_id, "variant": format!("v{}", v.id(4))}),
        None => json!({"flag": flag_id, "value": value.json()}),
    }
}

fn segment_name(s: &NameIn) -> String {
    // Segments s0..s3 are defined; rollout and A/B test segments r0, r1, t0, t1 too.
    let ids = ["s0", "s1", "s2", "s3", "r0", "t0", "s9"];
    format!("segments/{}", pick(&ids, s.0))
}

fn group_name(g: &NameIn) -> String {
    format!("targetGroups/g{}", g.id(3))
}

#[derive(Debug, Arbitrary)]
struct AllocationIn {
    proportion: Option<FracIn>,
    tags: Vec<u8>,
    exclusive_to: Vec<u8>,
}

impl AllocationIn {
    fn json(&self) -> Value {
        let mut map = Map::new();
        if let Some(p) = &self.proportion {
            map.insert("proportion".to_owned(), p.json());
        }
        let tags = |v: &[u8]| v.iter().take(2).map(|t| format!("tag{}", t % 3)).collect::<Vec<_>>();
        map.insert("exclusivityTags".to_owned(), json!(tags(&self.tags)));
        map.insert("exclusiveTo".to_owned(), json!(tags(&self.exclusive_to)));
        Value::Object(map)
    }
}

/// Bucket ranges as shares of the bucket count, laid end to end from `start`.
fn ranges(start: u64, shares: &[u8], count: u64) -> (Vec<Value>, u64) {
    let mut lower = start;
    let mut out = Vec::new();
    for share in shares.iter().take(3) {
        let upper = (lower + u64::from(*share) * count / 255).min(count);
        if upper > lower {
            out.push(json!({"lower": lower, "upper": upper}));
        }
        lower = upper;
    }
    (out, lower)
}

#[derive(Debug, Arbitrary)]
struct SegmentIn {
    targeting: Option<TargetingIn>,
    allocation: Option<AllocationIn>,
    allocated: Vec<u8>,
    state: u8,
}

#[derive(Debug, Arbitrary)]
enum OutcomeIn {
    Variant(NameIn),
    Fallthrough,
    ClientDefault,
}

#[derive(Debug, Arbitrary)]
struct AssignmentIn {
    outcome: OutcomeIn,
    shares: Vec<u8>,
    /// Raw `(lower, upper)` pairs, usually invalid, instead of shares.
    raw: Option<Vec<(u32, u32)>>,
}

#[derive(Debug, Arbitrary)]
struct RuleIn {
    segment: NameIn,
    enabled: bool,
    selector: Option<StrIn>,
    bucket_count: u8,
    raw_bucket_count: Option<u32>,
    assignments: Vec<AssignmentIn>,
}

#[derive(Debug, Arbitrary)]
struct FlagIn {
    archived: bool,
    variants: Vec<JsonIn>,
    rules: Vec<RuleIn>,
    /// An extra variant reference that the flag may not define.
    bogus_variant: bool,
}

#[derive(Debug, Arbitrary)]
struct GroupIn {
    operator: u8,
    conditions: Vec<(StrIn, u8, JsonIn)>,
}

#[derive(Debug, Arbitrary)]
struct RolloutIn {
    state: u8,
    flag: NameIn,
    variant: NameIn,
    reach: FracIn,
    targeting: Option<TargetingIn>,
    segment: Option<NameIn>,
    selector: Option<StrIn>,
    schedule: Vec<(StrIn, FracIn)>,
}

#[derive(Debug, Arbitrary)]
struct AbTestIn {
    state: u8,
    flag: NameIn,
    treatments: Vec<(NameIn, u8, bool)>,
    allocation: AllocationIn,
    targeting: Option<TargetingIn>,
    segment: Option<NameIn>,
}

#[derive(Debug, Arbitrary)]
enum ExpValueIn {
    Single(ScalarIn),
    Split(Vec<(ScalarIn, FracIn)>),
    Schedule(Vec<(StrIn, FracIn, Option<ScalarIn>)>),
}

impl ExpValueIn {
    fn json(&self) -> Value {
        match self {
            ExpValueIn::Single(v) => v.json(),
            ExpValueIn::Split(parts) => Value::Array(
                parts
                    .iter()
                    .take(3)
                    .map(|(o, p)| json!({"option": o.json(), "percentage": p.percent_json()}))
                    .collect(),
            ),
            ExpValueIn::Schedule(steps) => Value::Array(
                steps
                    .iter()
                    .take(3)
                    .map(|(from, p, o)| {
                        let mut step =
                            json!({"from": from.get(&TIMESTAMPS), "percentage": p.percent_json()});
                        if let (Some(o), Some(map)) = (o, step.as_object_mut()) {
                            map.insert("option".to_owned(), o.json());
                        }
                        step
                    })
                    .collect(),
            ),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct ExpConditionIn {
    dependency: Option<(NameIn, Option<NameIn>, ScalarIn)>,
    group: Option<(u8, Vec<NameIn>)>,
    version: Option<(u8, StrIn)>,
    property: Option<(StrIn, u8, JsonIn)>,
    value: ExpValueIn,
}

impl ExpConditionIn {
    fn json(&self) -> Value {
        let mut map = Map::new();
        if let Some((flag, variant, value)) = &self.dependency {
            map.insert("dependency".to_owned(), dependency_json(flag, variant.as_ref(), value));
        }
        if let Some((op, names)) = &self.group {
            map.insert(
                "group".to_owned(),
                json!({
                "operator": pick(&["or", "and", "not"], *op),
                "names": names.iter().take(3).map(group_name).collect::<Vec<_>>()}),
            );
        }
        if let Some((op, semver)) = &self.version {
            map.insert(
                "version".to_owned(),
                json!({
                "operator": pick(&PROPERTY_OPERATORS[11..], *op), "semver": semver.get(&VERSIONS)}),
            );
        }
        if let Some((name, op, operand)) = &self.property {
            map.insert(
                "property".to_owned(),
                json!({
                "name": name.get(&ATTRIBUTES), "operator": pick(&PROPERTY_OPERATORS, *op),
                "operand": operand.json()}),
            );
        }
        map.insert("value".to_owned(), self.value.json());
        Value::Object(map)
    }
}

#[derive(Debug, Arbitrary)]
struct ExperimentIn {
    available: Option<Vec<ScalarIn>>,
    enabled: bool,
    stickiness: Option<StrIn>,
    platforms: Vec<(StrIn, Vec<ExpConditionIn>, Option<ExpValueIn>)>,
    conditions: Vec<ExpConditionIn>,
    value: Option<ExpValueIn>,
}

/// A context: top-level attributes and a nested `user` object.
#[derive(Debug, Arbitrary)]
struct ContextIn {
    key: Option<ScalarIn>,
    attributes: Vec<(StrIn, JsonIn)>,
    user: Vec<(StrIn, ScalarIn)>,
}

impl ContextIn {
    fn json(&self) -> Value {
        let mut map = Map::new();
        if let Some(key) = &self.key {
            map.insert("targeting_key".to_owned(), key.json());
        }
        for (k, v) in self.attributes.iter().take(8) {
            map.insert(k.get(&ATTRIBUTES), v.json());
        }
        if !self.user.is_empty() {
            let user: Map<String, Value> = self
                .user
                .iter()
                .take(4)
                .map(|(k, v)| (k.get(&["id", "tier", "plan"]), v.json()))
                .collect();
            map.insert("user".to_owned(), Value::Object(user));
        }
        Value::Object(map)
    }
}

/// A whole config plus the contexts to evaluate it for.
#[derive(Debug, Arbitrary)]
pub struct ConfigInput {
    salt: Option<StrIn>,
    flags: Vec<FlagIn>,
    segments: Vec<SegmentIn>,
    groups: Vec<GroupIn>,
    rollouts: Vec<RolloutIn>,
    abtests: Vec<AbTestIn>,
    experiments: Vec<ExperimentIn>,
    contexts: Vec<ContextIn>,
    now: Option<i64>,
}

impl ConfigInput {
    /// The config document.
    pub fn config_json(&self) -> Value {
        let flags: Vec<Value> =
            self.flags.iter().take(4).enumerate().map(|(i, f)| flag_json(i, f)).collect();
        let segments: Vec<Value> = self
            .segments
            .iter()
            .take(4)
            .enumerate()
            .map(|(i, s)| {
                let mut map = Map::new();
                map.insert("name".to_owned(), json!(format!("segments/s{i}")));
                if let Some(t) = &s.targeting {
                    map.insert("targeting".to_owned(), t.json());
                }
                if let Some(a) = &s.allocation {
                    map.insert("allocation".to_owned(), a.json());
                }
                let (allocated, _) = ranges(0, &s.allocated, 1_000_000);
                if !allocated.is_empty() {
                    map.insert("allocatedRanges".to_owned(), json!(allocated));
                }
                map.insert(
                    "state".to_owned(),
                    json!(pick(&["OK", "UNALLOCATED", "ALLOCATED", "ARCHIVED"], s.state)),
                );
                Value::Object(map)
            })
            .collect();
        let groups: Vec<Value> = self
            .groups
            .iter()
            .take(3)
            .enumerate()
            .map(|(i, g)| {
                json!({
                    "name": format!("targetGroups/g{i}"),
                    "operator": pick(&["and", "or", "not"], g.operator),
                    "conditions": g.conditions.iter().take(3).map(|(p, op, operand)| json!({
                        "property": p.get(&ATTRIBUTES),
                        "operator": pick(&PROPERTY_OPERATORS, *op),
                        "operand": operand.json(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let rollouts: Vec<Value> = self
            .rollouts
            .iter()
            .take(2)
            .enumerate()
            .map(|(i, r)| {
                let mut map = Map::new();
                map.insert("name".to_owned(), json!(format!("rollouts/r{i}")));
                map.insert("state".to_owned(), json!(pick(&STATES, r.state)));
                map.insert("flag".to_owned(), json!(format!("flags/{}", pick(&FLAG_IDS, r.flag.0))));
                map.insert("variant".to_owned(), json!(format!("v{}", r.variant.id(4))));
                map.insert("reach".to_owned(), r.reach.json());
                if let Some(t) = &r.targeting {
                    map.insert("targeting".to_owned(), t.json());
                }
                if let Some(s) = &r.segment {
                    map.insert("segment".to_owned(), json!(segment_name(s)));
                }
                if let Some(s) = &r.selector {
                    map.insert("targetingKeySelector".to_owned(), json!(s.get(&ATTRIBUTES)));
                }
                let schedule: Vec<Value> = r
                    .schedule
                    .iter()
                    .take(3)
                    .map(|(from, reach)| json!({"from": from.get(&TIMESTAMPS), "reach": reach.json()}))
                    .collect();
                if !schedule.is_empty() {
                    map.insert("schedule".to_owned(), json!(schedule));
                }
                Value::Object(map)
            })
            .collect();
        let abtests: Vec<Value> = self
            .abtests
            .iter()
            .take(2)
            .enumerate()
            .map(|(i, t)| {
                let mut map = Map::new();
                map.insert("name".to_owned(), json!(format!("abtests/t{i}")));
                map.insert("state".to_owned(), json!(pick(&STATES, t.state)));
                map.insert("flag".to_owned(), json!(format!("flags/{}", pick(&FLAG_IDS, t.flag.0))));
                let treatments: Vec<Value> = t
                    .treatments
                    .iter()
                    .take(4)
                    .map(|(v, w, b)| json!({"variant": format!("v{}", v.id(4)), "weight": w, "baseline": b}))
                    .collect();
                map.insert("treatments".to_owned(), json!(treatments));
                map.insert("allocation".to_owned(), t.allocation.json());
                if let Some(tg) = &t.targeting {
                    map.insert("targeting".to_owned(), tg.json());
                }
                if let Some(s) = &t.segment {
                    map.insert("segment".to_owned(), json!(segment_name(s)));
                }
                Value::Object(map)
            })
            .collect();
        let experiments: Vec<Value> = self
            .experiments
            .iter()
            .take(2)
            .enumerate()
            .map(|(i, e)| {
                let mut map = Map::new();
                map.insert("flag".to_owned(), json!(format!("x{i}")));
                if let Some(values) = &e.available {
                    map.insert(
                        "availableValues".to_owned(),
                        Value::Array(values.iter().take(4).map(ScalarIn::json).collect()),
                    );
                }
                map.insert("enabled".to_owned(), json!(e.enabled));
                if let Some(s) = &e.stickiness {
                    map.insert("stickinessProperty".to_owned(), json!(s.get(&ATTRIBUTES)));
                }
                let platforms: Vec<Value> = e
                    .platforms
                    .iter()
                    .take(2)
                    .map(|(name, conds, value)| {
                        let mut p = Map::new();
                        p.insert("name".to_owned(), json!(name.get(&STRINGS)));
                        p.insert(
                            "conditions".to_owned(),
                            Value::Array(conds.iter().take(2).map(ExpConditionIn::json).collect()),
                        );
                        if let Some(v) = value {
                            p.insert("value".to_owned(), v.json());
                        }
                        Value::Object(p)
                    })
                    .collect();
                if !platforms.is_empty() {
                    map.insert("platforms".to_owned(), json!(platforms));
                }
                map.insert(
                    "conditions".to_owned(),
                    Value::Array(e.conditions.iter().take(3).map(ExpConditionIn::json).collect()),
                );
                if let Some(v) = &e.value {
                    map.insert("value".to_owned(), v.json());
                }
                Value::Object(map)
            })
            .collect();
        let mut doc = Map::new();
        if let Some(salt) = &self.salt {
            doc.insert("allocationSalt".to_owned(), json!(salt.get(&STRINGS)));
        }
        doc.insert("flags".to_owned(), json!(flags));
        doc.insert("segments".to_owned(), json!(segments));
        doc.insert("targetGroups".to_owned(), json!(groups));
        doc.insert("rollouts".to_owned(), json!(rollouts));
        doc.insert("abtests".to_owned(), json!(abtests));
        doc.insert("experiments".to_owned(), json!(experiments));
        Value::Object(doc)
    }
}

fn flag_json(i: usize, f: &FlagIn) -> Value {
    let name = format!("flags/f{i}");
    let n_variants = f.variants.len().min(4);
    let variants: Vec<Value> = f
        .variants
        .iter()
        .take(4)
        .enumerate()
        .map(|(j, v)| json!({"name": format!("{name}/variants/v{j}"), "value": v.json()}))
        .collect();
    let rules: Vec<Value> = f
        .rules
        .iter()
        .take(4)
        .enumerate()
        .map(|(j, r)| {
            let count = match r.raw_bucket_count {
                Some(raw) => raw,
                None => pick(&[1, 2, 100, 10_000, 1_000_000], r.bucket_count),
            };
            let mut start = 0;
            let assignments: Vec<Value> = r
                .assignments
                .iter()
                .take(4)
                .enumerate()
                .map(|(k, a)| {
                    let ranges = match &a.raw {
                        Some(raw) => raw
                            .iter()
                            .take(2)
                            .map(|(l, u)| json!({"lower": l, "upper": u}))
                            .collect(),
                        None => {
                            let (rs, end) = ranges(start, &a.shares, u64::from(count));
                            start = end;
                            rs
                        }
                    };
                    let mut map = Map::new();
                    map.insert("assignmentId".to_owned(), json!(format!("a{k}")));
                    match &a.outcome {
                        OutcomeIn::Variant(v) => {
                            let n = if f.bogus_variant { n_variants + 1 } else { n_variants };
                            let id = usize::from(v.0) % n.max(1);
                            map.insert("variant".to_owned(), json!({"variant": format!("v{id}")}));
                        }
                        OutcomeIn::Fallthrough => {
                            map.insert("fallthrough".to_owned(), json!({}));
                        }
                        OutcomeIn::ClientDefault => {
                            map.insert("clientDefault".to_owned(), json!({}));
                        }
                    }
                    map.insert("bucketRanges".to_owned(), json!(ranges));
                    Value::Object(map)
                })
                .collect();
            let mut map = Map::new();
            map.insert("name".to_owned(), json!(format!("{name}/rules/r{j}")));
            map.insert("segment".to_owned(), json!(segment_name(&r.segment)));
            map.insert("enabled".to_owned(), json!(r.enabled));
            if let Some(s) = &r.selector {
                map.insert("targetingKeySelector".to_owned(), json!(s.get(&ATTRIBUTES)));
            }
            map.insert(
                "assignmentSpec".to_owned(),
                json!({"bucketCount": count, "assignments": assignments}),
            );
            Value::Object(map)
        })
        .collect();
    json!({
        "name": name,
        "state": if f.archived { "ARCHIVED" } else { "ACTIVE" },
        "variants": variants,
        "rules": rules,
    })
}

// -------------------------------------------------------------------------------------------------
// triage

/// Prints the request that [`analyze_request`] builds from `data`.
pub fn debug_request(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        println!("{}", String::from_utf8_lossy(rest));
    } else if let Some(request) =
        RequestIn::arbitrary_take_rest(Unstructured::new(rest)).ok().and_then(|r| r.build())
    {
        // JSON for reading (NaN and infinities print as null), Debug for the exact numbers.
        println!("{}", serde_json::to_string_pretty(&request).unwrap_or_default());
        println!("{request:?}");
    }
}

/// Prints the config and contexts that [`compile_evaluate`] builds from `data`.
pub fn debug_config(data: &[u8]) {
    if let Ok(input) = ConfigInput::arbitrary_take_rest(Unstructured::new(data)) {
        println!("{}", input.config_json());
        for c in input.contexts.iter().take(4) {
            println!("context: {}", c.json());
        }
        println!("now: {:?}", input.now);
    }
}
