//! Wire forms: the "exactly one of" shapes of the JSON become enums with a clear error,
//! and back.

use super::*;

macro_rules! rule_wire {
    ($name:ident { $($(#[$attr:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        #[derive(Clone, Debug, Default, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub(super) struct $name {
            $($(#[$attr])* $field: $ty,)*
            #[serde(default, skip_serializing_if = "Option::is_none")]
            eq_rule: Option<EqRule>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            set_rule: Option<SetRule>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            range_rule: Option<RangeRule>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            starts_with_rule: Option<StringRule>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            ends_with_rule: Option<StringRule>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            contains_rule: Option<StringRule>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            regex_rule: Option<RegexRule>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            any_rule: Option<Box<InnerRule>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            all_rule: Option<Box<InnerRule>>,
        }
    };
}

rule_wire!(AttributeRuleWire {});
rule_wire!(AttributeCriterionWire {
    attribute_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    case_insensitive: Option<bool>,
});

const RULE_KINDS: &str = "eqRule, setRule, rangeRule, startsWithRule, endsWithRule, containsRule, regexRule, anyRule, allRule";

macro_rules! take_rule {
    ($wire:expr) => {{
        let w = $wire;
        let mut found: Vec<AttributeRule> = Vec::with_capacity(1);
        found.extend(w.eq_rule.map(AttributeRule::Eq));
        found.extend(w.set_rule.map(AttributeRule::Set));
        found.extend(w.range_rule.map(AttributeRule::Range));
        found.extend(w.starts_with_rule.map(AttributeRule::StartsWith));
        found.extend(w.ends_with_rule.map(AttributeRule::EndsWith));
        found.extend(w.contains_rule.map(AttributeRule::Contains));
        found.extend(w.regex_rule.map(AttributeRule::Regex));
        found.extend(w.any_rule.map(AttributeRule::Any));
        found.extend(w.all_rule.map(AttributeRule::All));
        match found.len() {
            1 => found.pop().ok_or_else(|| exactly_one_rule(0)),
            n => Err(exactly_one_rule(n)),
        }
    }};
}

fn exactly_one_rule(found: usize) -> String {
    format!("expected exactly one of {RULE_KINDS}, found {found}")
}

macro_rules! put_rule {
    ($rule:expr, $wire:expr) => {{
        let mut w = $wire;
        match $rule {
            AttributeRule::Eq(r) => w.eq_rule = Some(r),
            AttributeRule::Set(r) => w.set_rule = Some(r),
            AttributeRule::Range(r) => w.range_rule = Some(r),
            AttributeRule::StartsWith(r) => w.starts_with_rule = Some(r),
            AttributeRule::EndsWith(r) => w.ends_with_rule = Some(r),
            AttributeRule::Contains(r) => w.contains_rule = Some(r),
            AttributeRule::Regex(r) => w.regex_rule = Some(r),
            AttributeRule::Any(r) => w.any_rule = Some(r),
            AttributeRule::All(r) => w.all_rule = Some(r),
        }
        w
    }};
}

impl TryFrom<AttributeRuleWire> for AttributeRule {
    type Error = String;
    fn try_from(wire: AttributeRuleWire) -> Result<Self, String> {
        take_rule!(wire)
    }
}

impl From<AttributeRule> for AttributeRuleWire {
    fn from(rule: AttributeRule) -> Self {
        put_rule!(rule, AttributeRuleWire::default())
    }
}

impl TryFrom<AttributeCriterionWire> for AttributeCriterion {
    type Error = String;
    fn try_from(mut wire: AttributeCriterionWire) -> Result<Self, String> {
        let attribute_name = std::mem::take(&mut wire.attribute_name);
        let beside = wire.case_insensitive.take();
        let mut rule = take_rule!(wire)?;
        if let Some(beside) = beside {
            rule.set_case_insensitive(beside)?;
        }
        Ok(AttributeCriterion { attribute_name, rule })
    }
}

impl From<AttributeCriterion> for AttributeCriterionWire {
    fn from(c: AttributeCriterion) -> Self {
        put_rule!(
            c.rule,
            AttributeCriterionWire { attribute_name: c.attribute_name, ..Default::default() }
        )
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RangeRuleWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_inclusive: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_exclusive: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_inclusive: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_exclusive: Option<Value>,
}

impl TryFrom<RangeRuleWire> for RangeRule {
    type Error = &'static str;
    fn try_from(w: RangeRuleWire) -> Result<Self, Self::Error> {
        let bound = |incl: Option<Value>, excl: Option<Value>, which| match (incl, excl) {
            (Some(value), None) => Ok(Some(Bound { value, inclusive: true })),
            (None, Some(value)) => Ok(Some(Bound { value, inclusive: false })),
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(which),
        };
        let start = bound(
            w.start_inclusive,
            w.start_exclusive,
            "expected at most one of startInclusive, startExclusive",
        )?;
        let end = bound(
            w.end_inclusive,
            w.end_exclusive,
            "expected at most one of endInclusive, endExclusive",
        )?;
        if start.is_none() && end.is_none() {
            return Err(
                "expected a start (startInclusive or startExclusive) or an end (endInclusive or endExclusive)",
            );
        }
        Ok(RangeRule { start, end })
    }
}

impl From<RangeRule> for RangeRuleWire {
    fn from(r: RangeRule) -> Self {
        let split = |b: Option<Bound>| match b {
            Some(Bound { value, inclusive: true }) => (Some(value), None),
            Some(Bound { value, inclusive: false }) => (None, Some(value)),
            None => (None, None),
        };
        let (start_inclusive, start_exclusive) = split(r.start);
        let (end_inclusive, end_exclusive) = split(r.end);
        RangeRuleWire { start_inclusive, start_exclusive, end_inclusive, end_exclusive }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DependencyWire {
    flag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
    // `Option<Value>` would read JSON null as "absent"; a dependency on a null
    // value is meaningless, so null is treated as absent and reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<serde_json::Value>,
}

impl TryFrom<DependencyWire> for DependencyCriterion {
    type Error = &'static str;
    fn try_from(w: DependencyWire) -> Result<Self, Self::Error> {
        let expect = match (w.variant, w.value) {
            (Some(variant), None) => DependencyExpectation::Variant(variant),
            (None, Some(value)) => DependencyExpectation::Value(value),
            _ => return Err("expected exactly one of variant, value"),
        };
        Ok(DependencyCriterion { flag: w.flag, expect })
    }
}

impl From<DependencyCriterion> for DependencyWire {
    fn from(d: DependencyCriterion) -> Self {
        let (variant, value) = match d.expect {
            DependencyExpectation::Variant(v) => (Some(v), None),
            DependencyExpectation::Value(v) => (None, Some(v)),
        };
        DependencyWire { flag: d.flag, variant, value }
    }
}
