//! Property: any generated valid config serialises and parses back to an equal value.

use flagstone_model::experiment::{
    Experiment, ExperimentCondition, ExperimentValue, Platform, ScheduledPart, SplitPart,
    StringOrList,
};
use flagstone_model::flag::{
    Assignment, AssignmentSpec, BucketRange, Flag, FlagState, Outcome, Rule, Variant,
};
use flagstone_model::fraction::Fraction;
use flagstone_model::segment::{Allocation, GroupCondition, Segment, SegmentState, TargetGroup};
use flagstone_model::targeting::{
    AttributeCriterion, AttributeRule, Bound, Criterion, DependencyCriterion,
    DependencyExpectation, EqRule, Expression, GroupCriterion, GroupOperator, InnerRule, ListValue,
    Operands, PropertyCondition, PropertyOperator, RangeRule, RegexRule, SetRule, StringRule,
    Targeting, Value, VersionCriterion, VersionLiteral,
};
use flagstone_model::workflow::{AbTest, Rollout, ScheduleStep, Treatment, WorkflowState};
use flagstone_model::{Config, parse_config, validate};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn fraction() -> impl Strategy<Value = Fraction> {
    (0u32..=1000).prop_map(|n| Fraction::new(f64::from(n) / 1000.0).unwrap())
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::BoolValue),
        (-1e6f64..1e6).prop_map(Value::NumberValue),
        "[a-zA-Z0-9 åäö]{0,8}".prop_map(Value::StringValue),
        (0i64..4_000_000_000).prop_map(|s| Value::TimestampValue(
            jiff::Timestamp::from_second(s).unwrap().to_string()
        )),
        (0u32..20, 0u32..20, 0u32..20).prop_map(|(a, b, c)| Value::VersionValue(VersionLiteral {
            version: format!("{a}.{b}.{c}")
        })),
    ]
}

fn attribute_rule() -> impl Strategy<Value = AttributeRule> {
    let leaf = prop_oneof![
        (scalar(), any::<Option<bool>>()).prop_map(|(value, case_insensitive)| AttributeRule::Eq(
            EqRule { value, case_insensitive }
        )),
        (prop::collection::vec(scalar(), 0..4), any::<Option<bool>>()).prop_map(
            |(values, case_insensitive)| AttributeRule::Set(SetRule { values, case_insensitive })
        ),
        (-100f64..100.0, 0f64..100.0, any::<bool>()).prop_map(|(lo, span, incl)| {
            AttributeRule::Range(RangeRule {
                start: Some(Bound { value: Value::NumberValue(lo), inclusive: incl }),
                end: Some(Bound { value: Value::NumberValue(lo + span), inclusive: !incl }),
            })
        }),
        ("[a-z@.]{0,6}", any::<Option<bool>>()).prop_map(|(value, case_insensitive)| {
            AttributeRule::StartsWith(StringRule { value, case_insensitive })
        }),
        ("[a-z@.]{0,6}", any::<Option<bool>>()).prop_map(|(value, case_insensitive)| {
            AttributeRule::EndsWith(StringRule { value, case_insensitive })
        }),
        ("[a-z@.]{0,6}", any::<Option<bool>>()).prop_map(|(value, case_insensitive)| {
            AttributeRule::Contains(StringRule { value, case_insensitive })
        }),
        ("[a-z]{1,4}(\\.[a-z]+)?\\$?", any::<Option<bool>>()).prop_map(
            |(pattern, case_insensitive)| {
                AttributeRule::Regex(RegexRule { pattern, case_insensitive })
            }
        ),
    ];
    leaf.prop_recursive(2, 4, 1, |inner| {
        prop_oneof![
            inner.clone().prop_map(|rule| AttributeRule::Any(Box::new(InnerRule { rule }))),
            inner.prop_map(|rule| AttributeRule::All(Box::new(InnerRule { rule }))),
        ]
    })
}

fn semver_operator() -> impl Strategy<Value = PropertyOperator> {
    prop::sample::select(vec![
        PropertyOperator::SemverEq,
        PropertyOperator::SemverNe,
        PropertyOperator::SemverGt,
        PropertyOperator::SemverGte,
        PropertyOperator::SemverLt,
        PropertyOperator::SemverLte,
    ])
}

fn property(name: String) -> impl Strategy<Value = (PropertyOperator, serde_json::Value)> {
    let _ = name;
    prop_oneof![
        Just((PropertyOperator::IsUndefined, serde_json::Value::Null)),
        Just((PropertyOperator::IsTrue, serde_json::Value::Null)),
        "[a-z]{1,5}".prop_map(|s| (PropertyOperator::Eq, serde_json::json!(s))),
        (0i32..100).prop_map(|n| (PropertyOperator::Gte, serde_json::json!(n))),
        Just((PropertyOperator::Regex, serde_json::json!("^a+b?$"))),
        prop::collection::vec("[a-z]{1,3}", 0..3)
            .prop_map(|v| (PropertyOperator::InArray, serde_json::json!(v))),
        (semver_operator(), 0u32..9)
            .prop_map(|(op, m)| (op, serde_json::json!(format!("{m}.1.0")))),
    ]
}

/// A criterion that may refer to flags `flags/f0..f{n_flags}` below `self_flag`
/// (so dependencies never form a cycle), target groups and earlier segments.
fn criterion(
    n_groups: usize,
    earlier_segments: usize,
    dep_flags: usize,
) -> BoxedStrategy<Criterion> {
    let mut options: Vec<BoxedStrategy<Criterion>> = vec![
        ("[a-z_]{1,6}(\\.[a-z]{1,4})?", attribute_rule())
            .prop_map(|(attribute_name, rule)| {
                Criterion::Attribute(AttributeCriterion { attribute_name, rule })
            })
            .boxed(),
        ("[a-z_]{1,6}", semver_operator(), 0u32..9)
            .prop_map(|(attribute_name, operator, m)| {
                Criterion::Version(VersionCriterion {
                    attribute_name,
                    operator,
                    semver: format!("v{m}.2"),
                })
            })
            .boxed(),
        "[a-z_]{1,6}"
            .prop_flat_map(|name| (Just(name.clone()), property(name)))
            .prop_map(|(name, (operator, operand))| {
                Criterion::Property(PropertyCondition { name, operator, operand })
            })
            .boxed(),
    ];
    if n_groups > 0 {
        options.push(
            (
                prop::sample::select(vec![
                    GroupOperator::Or,
                    GroupOperator::And,
                    GroupOperator::Not,
                ]),
                0..n_groups,
            )
                .prop_map(|(operator, g)| {
                    Criterion::Group(GroupCriterion { operator, names: vec![format!("g{g}")] })
                })
                .boxed(),
        );
    }
    if earlier_segments > 0 {
        options.push(
            (0..earlier_segments)
                .prop_map(|s| {
                    Criterion::Segment(flagstone_model::targeting::SegmentCriterion {
                        segment: format!("segments/s{s}"),
                    })
                })
                .boxed(),
        );
    }
    if dep_flags > 0 {
        options.push(
            (0..dep_flags, any::<bool>())
                .prop_map(|(f, by_value)| {
                    let expect = if by_value {
                        DependencyExpectation::Value(serde_json::json!({"v": 0}))
                    } else {
                        DependencyExpectation::Variant("v0".into())
                    };
                    Criterion::Dependency(DependencyCriterion {
                        flag: format!("flags/f{f}"),
                        expect,
                    })
                })
                .boxed(),
        );
    }
    prop::strategy::Union::new(options).boxed()
}

fn expression(ids: Vec<String>) -> BoxedStrategy<Expression> {
    let leaf = prop::sample::select(ids).prop_map(Expression::Ref);
    leaf.prop_recursive(4, 16, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expression::Not(Box::new(e))),
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|operands| Expression::And(Operands { operands })),
            prop::collection::vec(inner, 0..3)
                .prop_map(|operands| Expression::Or(Operands { operands })),
        ]
    })
    .boxed()
}

fn targeting(
    n_groups: usize,
    earlier_segments: usize,
    dep_flags: usize,
) -> BoxedStrategy<Targeting> {
    prop::collection::vec(criterion(n_groups, earlier_segments, dep_flags), 0..4)
        .prop_flat_map(|criteria| {
            let ids: Vec<String> = (0..criteria.len()).map(|i| format!("c{i}")).collect();
            let map: BTreeMap<String, Criterion> = ids.iter().cloned().zip(criteria).collect();
            // Every criterion is referenced so validation has no warnings to ignore.
            let expr = if ids.is_empty() {
                Just(None).boxed()
            } else {
                let all_refs = Expression::And(Operands {
                    operands: ids.iter().cloned().map(Expression::Ref).collect(),
                });
                prop_oneof![
                    Just(None),
                    expression(ids).prop_map(move |e| Some(Expression::And(Operands {
                        operands: vec![e, all_refs.clone()]
                    })))
                ]
                .boxed()
            };
            (Just(map), expr)
        })
        .prop_map(|(criteria, expression)| Targeting { criteria, expression })
        .boxed()
}

/// Splits `[0, count)` into consecutive non-empty ranges with random outcomes.
fn assignments(count: u32, flag: String) -> impl Strategy<Value = Vec<Assignment>> {
    prop::collection::vec((1u32..=count, 0u8..4), 1..4).prop_map(move |parts| {
        let mut lower = 0;
        let mut out = Vec::new();
        for (i, (width, kind)) in parts.into_iter().enumerate() {
            if lower >= count {
                break;
            }
            let upper = (lower + width).min(count);
            let outcome = match kind {
                0 => Outcome::Fallthrough,
                1 => Outcome::ClientDefault,
                2 => Outcome::Variant(format!("{flag}/variants/v0")),
                _ => Outcome::Variant("v1".into()),
            };
            out.push(Assignment {
                assignment_id: format!("a{i}"),
                outcome,
                bucket_ranges: vec![BucketRange { lower, upper }],
            });
            lower = upper;
        }
        out
    })
}

fn flag(i: usize, n_segments: usize) -> impl Strategy<Value = Flag> {
    let name = format!("flags/f{i}");
    let rules = prop::collection::vec((0..n_segments, 1u32..=10_000, any::<bool>()), 0..3)
        .prop_flat_map({
            let name = name.clone();
            move |specs| {
                specs
                    .into_iter()
                    .enumerate()
                    .map(|(r, (segment, count, enabled))| {
                        let name = name.clone();
                        assignments(count, name.clone()).prop_map(move |assignments| Rule {
                            name: format!("{name}/rules/r{r}"),
                            segment: format!("s{segment}"),
                            enabled,
                            targeting_key_selector: "user.id".into(),
                            assignment_spec: AssignmentSpec::new(count, assignments),
                            materialization_spec: None,
                            environments: vec![],
                        })
                    })
                    .collect::<Vec<_>>()
            }
        });
    (rules, any::<bool>()).prop_map(move |(rules, archived)| Flag {
        name: name.clone(),
        description: "generated".into(),
        state: if archived { FlagState::Archived } else { FlagState::Active },
        variants: (0..2)
            .map(|v| Variant {
                name: format!("{name}/variants/v{v}"),
                value: serde_json::json!({ "v": v }),
                description: String::new(),
            })
            .collect(),
        rules,
        labels: BTreeMap::from([("team".into(), "x".into())]),
    })
}

fn config() -> impl Strategy<Value = Config> {
    (1usize..4, 1usize..4, 0usize..3).prop_flat_map(|(n_flags, n_segments, n_groups)| {
        let groups = prop::collection::vec(("[a-z]{1,5}", property(String::new())), 0..3).prop_map(
            |conds| {
                conds
                    .into_iter()
                    .map(|(property, (operator, operand))| GroupCondition {
                        property,
                        operator,
                        operand,
                    })
                    .collect()
            },
        );
        let groups =
            prop::collection::vec(groups, n_groups).prop_map(|all: Vec<Vec<GroupCondition>>| {
                all.into_iter()
                    .enumerate()
                    .map(|(g, conditions)| TargetGroup {
                        name: format!("targetGroups/g{g}"),
                        description: String::new(),
                        operator: if g % 2 == 0 { GroupOperator::And } else { GroupOperator::Or },
                        conditions,
                    })
                    .collect::<Vec<_>>()
            });
        // Segments refer only to earlier segments and to no flag: flag rules use
        // segments, so a dependency here could close a cycle. Dependencies are
        // generated in the experiment's conditions instead.
        let segments = (0..n_segments)
            .map(|s| {
                (targeting(n_groups, s, 0), fraction(), any::<bool>()).prop_map(
                    move |(targeting, proportion, ranged)| Segment {
                        name: format!("segments/s{s}"),
                        description: String::new(),
                        targeting,
                        allocation: Allocation {
                            proportion,
                            exclusivity_tags: vec!["t".into()],
                            exclusive_to: vec![],
                        },
                        allocated_ranges: if ranged {
                            vec![BucketRange { lower: 0, upper: 1000 }]
                        } else {
                            vec![]
                        },
                        state: if ranged { SegmentState::Allocated } else { SegmentState::Ok },
                    },
                )
            })
            .collect::<Vec<_>>();
        let flags = (0..n_flags).map(|i| flag(i, n_segments)).collect::<Vec<_>>();
        let rollout = (
            targeting(n_groups, n_segments, 0),
            fraction(),
            prop::collection::vec(fraction(), 0..3),
        )
            .prop_map(move |(targeting, reach, steps)| Rollout {
                name: "rollouts/r0".into(),
                display_name: "R".into(),
                state: WorkflowState::Live,
                flag: format!("flags/f{}", n_flags - 1),
                variant: "v1".into(),
                reach,
                targeting: Some(targeting),
                segment: None,
                targeting_key_selector: "targeting_key".into(),
                schedule: {
                    let mut steps = steps;
                    steps.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    steps
                        .into_iter()
                        .enumerate()
                        .map(|(k, reach)| ScheduleStep {
                            from: format!("2026-0{}-01T00:00:00Z", k + 1),
                            reach,
                        })
                        .collect()
                },
                materialization_spec: None,
                create_time: Some("2026-01-01T00:00:00Z".into()),
                update_time: None,
            });
        let abtest = (1u32..5, 1u32..5, fraction()).prop_map(move |(w0, w1, proportion)| AbTest {
            name: "abtests/t0".into(),
            display_name: String::new(),
            state: WorkflowState::Draft,
            flag: "flags/f0".into(),
            treatments: vec![
                Treatment { variant: "v0".into(), weight: f64::from(w0), baseline: true },
                Treatment {
                    variant: "flags/f0/variants/v1".into(),
                    weight: f64::from(w1),
                    baseline: false,
                },
            ],
            allocation: Allocation {
                proportion,
                exclusivity_tags: vec!["x".into()],
                exclusive_to: vec!["x".into()],
            },
            allocated_ranges: vec![],
            targeting: None,
            segment: Some("s0".into()),
            targeting_key_selector: "targeting_key".into(),
            hypothesis: "h".into(),
            metrics: vec![],
            iterations: vec![],
            materialization_spec: None,
            create_time: None,
            update_time: None,
        });
        let experiment = (0u32..=100, any::<bool>()).prop_map(move |(pct, enabled)| Experiment {
            kind: Some("experiment".into()),
            api_version: Some("1.0".into()),
            flag: "exp".into(),
            name: "e".into(),
            description: String::new(),
            available_values: None,
            enabled,
            stickiness_property: "rox.distinct_id".into(),
            platforms: vec![Platform {
                name: "Android".into(),
                flag: None,
                conditions: vec![],
                value: Some(ExperimentValue::Single(serde_json::json!(false))),
            }],
            conditions: vec![
                ExperimentCondition {
                    dependency: Some(DependencyCriterion {
                        flag: "f0".into(),
                        expect: DependencyExpectation::Variant("v0".into()),
                    }),
                    group: None,
                    version: None,
                    property: None,
                    value: ExperimentValue::Split(vec![
                        SplitPart { option: serde_json::json!(true), percentage: f64::from(pct) },
                        SplitPart {
                            option: serde_json::json!(false),
                            percentage: 100.0 - f64::from(pct),
                        },
                    ]),
                },
                ExperimentCondition {
                    dependency: None,
                    group: None,
                    version: None,
                    property: None,
                    value: ExperimentValue::Schedule(vec![ScheduledPart {
                        from: "2026-01-01T00:00:00Z".into(),
                        percentage: f64::from(pct),
                        option: None,
                    }]),
                },
            ],
            value: Some(ExperimentValue::Single(serde_json::json!(true))),
            labels: StringOrList::default(),
        });
        (flags, segments, groups, rollout, abtest, experiment).prop_map(
            |(flags, segments, target_groups, r, t, e)| Config {
                allocation_salt: "salt".into(),
                flags,
                segments,
                target_groups,
                rollouts: vec![r],
                abtests: vec![t],
                experiments: vec![e],
            },
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn generated_configs_are_valid_and_round_trip(config in config()) {
        let report = validate(&config);
        prop_assert!(report.errors.is_empty(), "{report}");
        let json = serde_json::to_string_pretty(&config).unwrap();
        let back = parse_config(&json).unwrap();
        prop_assert_eq!(&back, &config);
        // The wire form is stable too.
        prop_assert_eq!(serde_json::to_string_pretty(&back).unwrap(), json);
    }
}

#[test]
fn list_values_round_trip() {
    let v = Value::ListValue(ListValue {
        values: vec![Value::NumberValue(1.5), Value::StringValue("x".into())],
    });
    let json = serde_json::to_string(&v).unwrap();
    assert_eq!(json, r#"{"listValue":{"values":[{"numberValue":1.5},{"stringValue":"x"}]}}"#);
    assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), v);
}
