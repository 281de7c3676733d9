//! Golden-file tests of `flagstone analyze`, `power`, `aggregate` and `sql`.
//!
//! Outputs live in `tests/data/golden/{analyze,power,aggregate,sql}/` at the workspace root;
//! refresh them with `UPDATE_GOLDEN=1 cargo test -p flagstone-cli --test cli_stats` and review
//! the diff.

/// Helpers over the shared runner in `flagstone_tests::cli`.
#[cfg(test)]
mod support {
    use flagstone_tests::cli::{self, Run};

    const BIN: &str = env!("CARGO_BIN_EXE_flagstone");

    pub fn flagstone(args: &[&str]) -> Run {
        cli::run(BIN, args)
    }

    /// Runs a command that must succeed and checks its stdout against a golden file.
    pub fn check_ok(args: &[&str], rel: &str) -> String {
        cli::check_ok(BIN, args, rel)
    }

    /// Runs a command that must fail with bad input (exit 2) and checks its stderr.
    pub fn check_bad_input(args: &[&str], rel: &str) {
        cli::check_bad_input(BIN, args, rel);
    }

    pub fn no_nan(json: &str) {
        assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
    }
}

use support::{check_bad_input, check_ok, flagstone, no_nan};

#[test]
fn analyze_example_json_and_table() {
    let out = check_ok(&["analyze", "--input", "examples/analysis.json"], "analyze/example.json");
    no_nan(&out);
    let value: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(value["results"].as_array().map(Vec::len), Some(3));
    check_ok(
        &["analyze", "--input", "examples/analysis.json", "--format", "table"],
        "analyze/example.table.txt",
    );
    let html = check_ok(
        &["analyze", "--input", "examples/analysis.json", "--format", "html"],
        "analyze/example.html",
    );
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    for metric in ["checkout-conversion", "page-load-ms", "revenue-per-session"] {
        assert!(html.contains(&format!("<h2>{metric} <span")), "{metric}");
    }
}

#[test]
fn analyze_other_methods() {
    for name in ["bayesian", "t-test-scaled", "chi-squared-bh", "undefined"] {
        let input = format!("tests/data/golden/analyze/{name}.request.json");
        let out = check_ok(&["analyze", "--input", &input], &format!("analyze/{name}.json"));
        no_nan(&out);
    }
}

#[test]
fn analyze_bad_input_names_file_and_path() {
    for name in ["missing-successes", "unknown-field", "unknown-variant", "bad-count"] {
        let input = format!("tests/data/golden/analyze/{name}.request.json");
        check_bad_input(&["analyze", "--input", &input], &format!("analyze/{name}.stderr"));
    }
}

#[test]
fn power_modes() {
    let base = ["power", "--type", "binary", "--baseline", "0.1", "--alpha", "0.05"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        base.iter().chain(extra).copied().collect()
    };
    check_ok(&with(&["--mde", "0.01", "--power", "0.8"]), "power/binary-sample-size.json");
    check_ok(
        &with(&["--mde", "0.1", "--relative", "--power", "0.8"]),
        "power/binary-relative.json",
    );
    check_ok(&with(&["--n", "14749", "--power", "0.8"]), "power/binary-mde.json");
    check_ok(&with(&["--mde", "0.01", "--n", "14749"]), "power/binary-power.json");
    check_ok(
        &[
            "power", "--type", "mean", "--sd", "10", "--alpha", "0.05", "--sides", "greater",
            "--mde", "5", "--power", "0.8",
        ],
        "power/mean-one-sided.json",
    );
    check_bad_input(&with(&["--mde", "0.01"]), "power/missing-mode.stderr");
    check_bad_input(&with(&["--mde", "0.95", "--power", "0.8"]), "power/out-of-range.stderr");
}

#[test]
fn aggregate_then_analyze() {
    let out = check_ok(
        &[
            "aggregate",
            "--exposures",
            "tests/data/golden/aggregate/exposures.jsonl",
            "--events",
            "tests/data/golden/aggregate/events.jsonl",
        ],
        "aggregate/request.json",
    );
    // The skeleton is a valid request.
    let dir = std::env::temp_dir().join(format!("flagstone-aggregate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("request.json");
    std::fs::write(&file, &out).expect("write request");
    let run = flagstone(&["analyze", "--input", file.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    no_nan(&run.stdout);
    check_bad_input(
        &[
            "aggregate",
            "--exposures",
            "tests/data/golden/aggregate/exposures.jsonl",
            "--events",
            "tests/data/golden/aggregate/bad-events.jsonl",
        ],
        "aggregate/bad-events.stderr",
    );
}

#[test]
fn aggregate_in_a_window() {
    let run = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "aggregate",
            "--exposures",
            "tests/data/golden/aggregate/exposures.jsonl",
            "--events",
            "tests/data/golden/aggregate/events.jsonl",
        ];
        args.extend_from_slice(extra);
        let run = flagstone(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str(&run.stdout).expect("json")
    };
    let units = |v: &serde_json::Value| -> u64 {
        v["variants"].as_array().expect("variants").iter().filter_map(|x| x["units"].as_u64()).sum()
    };
    let all = run(&[]);
    assert_eq!(units(&all), 60);
    // The line-by-line reader gives the same request as DataFusion (the default) here.
    assert_eq!(run(&["--engine", "lines"]), all);
    // No exposure is that late: the window holds none of them, which is bad input.
    let late = flagstone(&[
        "aggregate",
        "--exposures",
        "tests/data/golden/aggregate/exposures.jsonl",
        "--events",
        "tests/data/golden/aggregate/events.jsonl",
        "--from",
        "2030-01-01T00:00:00Z",
    ]);
    assert_eq!(late.code, 2, "{}", late.stderr);
    assert!(late.stderr.contains("expected exposures to at least two variants, found 0"));
    // Unit k is first exposed at 10:00 + k minutes: before 10:15 are units 0 to 14.
    let early = run(&["--until", "2026-03-01T10:15:00Z"]);
    assert_eq!(units(&early), 15, "{early}");
}

#[test]
fn sql_for_each_dialect_and_analyze_its_rows() {
    let sql = |dialect: &'static str| -> Vec<&'static str> {
        vec![
            "sql",
            "--dialect",
            dialect,
            "--exposures",
            "exposures",
            "--events",
            "events",
            "--metric",
            "purchase:binary",
            "--metric",
            "revenue",
            "--metric",
            "aov=revenue/purchase",
            "--flag",
            "flags/checkout",
            "--from",
            "2026-03-01T00:00:00Z",
            "--until",
            "2026-03-08T00:00:00Z",
            "--covariate-hours",
            "48",
            "--by-day",
        ]
    };
    for dialect in ["bigquery", "snowflake", "duckdb", "spark", "postgres"] {
        let out = check_ok(&sql(dialect), &format!("sql/{dialect}.sql"));
        assert!(out.contains("unit_values AS ("), "{out}");
    }
    // Rows that DuckDB returned for the duckdb query (without --by-day, --from, --until) on
    // tests/data/golden/aggregate/*.jsonl; see docs/analytics.md.
    let out =
        check_ok(&["analyze", "--from-csv", "tests/data/golden/sql/rows.csv"], "sql/analysis.json");
    no_nan(&out);
    let value: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(value["results"].as_array().map(Vec::len), Some(3));
    let run = flagstone(&["analyze", "--from-csv", "tests/data/golden/sql/rows.csv"]);
    assert!(run.stderr.contains("9 units exposed to more than one variant"), "{}", run.stderr);
    let mut bad = sql("postgres");
    bad[8] = "it's";
    check_bad_input(&bad, "sql/bad-metric.stderr");
    check_bad_input(
        &["analyze", "--from-csv", "tests/data/golden/sql/bad-rows.csv"],
        "sql/bad-rows.stderr",
    );
}

#[test]
fn bounds_for_planned_looks() {
    let looks = ["bounds", "--fractions", "0.2,0.4,0.6,0.8,1", "--alpha", "0.05"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        looks.iter().chain(extra).copied().collect()
    };
    let out = check_ok(&with(&["--sides", "2", "--spending", "obrien-fleming"]), "bounds/obf.json");
    no_nan(&out);
    let value: serde_json::Value = serde_json::from_str(&out).expect("json");
    // Lan-DeMets O'Brien-Fleming type, two-sided 0.05: 4.88, 3.36, 2.68, 2.29, 2.03.
    let z: Vec<f64> = value["zBounds"]
        .as_array()
        .expect("zBounds")
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    let expected = [4.876_884_95, 3.357_011_92, 2.680_280_07, 2.289_816_77, 2.031_032_05];
    assert_eq!(z.len(), 5);
    for (got, want) in z.iter().zip(expected) {
        assert!((got - want).abs() < 1e-7, "{got} vs {want}");
    }
    check_ok(&with(&["--sides", "1"]), "bounds/power2-one-sided.json");
    check_ok(
        &["bounds", "--fractions", "0.001,0.5,1", "--spending", "obrien-fleming"],
        "bounds/unreachable-first-look.json",
    );
    check_bad_input(&["bounds", "--fractions", "0.2,0.4,0.4"], "bounds/not-increasing.stderr");
    check_bad_input(&with(&["--spending", "cubic"]), "bounds/bad-spending.stderr");
}

#[test]
fn analyze_sequential() {
    // sequential-holm: Holm in sequential mode (alpha recycling), refused before.
    for name in ["group-sequential", "always-valid", "sequential-holm"] {
        let input = format!("tests/data/golden/analyze/{name}.request.json");
        let out = check_ok(&["analyze", "--input", &input], &format!("analyze/{name}.json"));
        // `no_nan` would trip over "informationFraction".
        assert!(!out.contains("NaN") && !out.contains("Infinity"), "{out}");
        let value: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert!(value["results"][0]["comparisons"][0]["sequential"]["decision"].is_string());
    }
}
