//! Sticky assignments and exposures through the `flagstone` binary: durability
//! under SIGKILL, and one exposure line per rule-decided resolution.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use flagstone_core::sticky::{AssignmentStore, MaterializationKey};
use flagstone_store::RedbStore;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flagstone-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A config whose one flag stores every unit it assigns (`on` for units in SE, else `off`).
fn config(dir: &std::path::Path) -> PathBuf {
    let rule = |name: &str, segment: &str, variant: &str| {
        json!({"name": format!("flags/f/rules/{name}"), "segment": segment,
               "materializationSpec": {"readMaterialization": "m", "writeMaterialization": "m"},
               "assignmentSpec": {"bucketCount": 1, "assignments": [
                   {"assignmentId": variant, "variant": {"variant": variant}, "bucketRanges": [{"lower": 0, "upper": 1}]}]}})
    };
    let config = json!({
        "flags": [{"name": "flags/f",
            "variants": [{"name": "flags/f/variants/on", "value": true}, {"name": "flags/f/variants/off", "value": false}],
            "rules": [rule("se", "segments/se", "on"), rule("rest", "segments/all", "off")]}],
        "segments": [{"name": "segments/all"},
            {"name": "segments/se", "targeting": {"criteria": {"c": {"attribute": {"attributeName": "country",
                "eqRule": {"value": {"stringValue": "SE"}}}}}}}]
    });
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn contexts(dir: &std::path::Path, n: usize) -> PathBuf {
    let path = dir.join("contexts.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    for i in 0..n {
        let country = if i % 3 == 0 { "SE" } else { "NO" };
        writeln!(file, "{}", json!({"targeting_key": format!("unit-{i}"), "country": country}))
            .unwrap();
    }
    path
}

#[test]
fn acknowledged_assignments_survive_sigkill() {
    let dir = temp_dir("durability");
    let (config, contexts) = (config(&dir), contexts(&dir, 100_000));
    let store = dir.join("assignments.redb");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flagstone"))
        .args(["eval", "--config"])
        .arg(&config)
        .arg("--contexts")
        .arg(&contexts)
        .arg("--store")
        .arg(&store)
        .arg("--now")
        .arg("2026-01-01T00:00:00Z")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Each printed line acknowledges that its context's assignment is durably stored.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acknowledged = 0;
    while acknowledged < 150 {
        let line = lines.next().expect("the child stopped early").unwrap();
        assert!(line.contains("flags/f/variants/"), "{line}");
        acknowledged += 1;
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush.
    child.wait().unwrap();

    let store = RedbStore::open(&store).expect("the store opens cleanly after SIGKILL");
    let keys: Vec<MaterializationKey> = (0..acknowledged)
        .map(|i| MaterializationKey { materialization: "m".into(), unit: format!("unit-{i}") })
        .collect();
    let stored = store.get_many(&keys).unwrap();
    for (i, m) in stored.iter().enumerate() {
        let rules = &m.as_ref().unwrap_or_else(|| panic!("acknowledged unit-{i} was lost")).rules;
        let expected = if i % 3 == 0 {
            ("flags/f/rules/se", "flags/f/variants/on")
        } else {
            ("flags/f/rules/rest", "flags/f/variants/off")
        };
        assert_eq!(rules.get(expected.0).map(String::as_str), Some(expected.1), "unit-{i}");
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn one_exposure_line_per_rule_decided_resolution() {
    let dir = temp_dir("exposures");
    let (config, contexts) = (config(&dir), contexts(&dir, 500));
    // A context without a unit still resolves (uniform whole rules) but has nothing to expose.
    let mut file = std::fs::OpenOptions::new().append(true).open(&contexts).unwrap();
    writeln!(file, "{}", json!({"country": "SE"})).unwrap();
    drop(file);
    let exposures = dir.join("exposures.jsonl");
    let output = Command::new(env!("CARGO_BIN_EXE_flagstone"))
        .args(["eval", "--config"])
        .arg(&config)
        .arg("--contexts")
        .arg(&contexts)
        .arg("--exposures")
        .arg(&exposures)
        .args(["--now", "2026-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8(output.stdout).unwrap().lines().count(), 501);
    let text = std::fs::read_to_string(&exposures).unwrap();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 500, "one exposure per context with a unit, nothing lost at shutdown");
    for (i, e) in lines.iter().enumerate() {
        assert_eq!(e["unit"], format!("unit-{i}"));
        assert_eq!(e["flag"], "flags/f");
        assert_eq!(e["targetingKeySelector"], "targeting_key");
        assert_eq!(e["time"], "2026-01-01T00:00:00Z");
        let se = i % 3 == 0;
        assert_eq!(e["variant"], if se { "flags/f/variants/on" } else { "flags/f/variants/off" });
        assert_eq!(e["rule"], if se { "flags/f/rules/se" } else { "flags/f/rules/rest" });
        assert_eq!(e["segment"], if se { "segments/se" } else { "segments/all" });
    }
    let _ = std::fs::remove_dir_all(&dir);
}
