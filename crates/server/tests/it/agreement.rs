//! Every OFREP answer for the shipped example agrees with the engine and with `flagstone eval`.

use crate::support::{TestServer, example, example_context, example_json};
use flagstone_core::{Engine, EvaluationContext};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn ofrep_agrees_with_the_engine_and_the_cli() {
    let server = TestServer::start().await;
    let config =
        flagstone_model::parse_config(&std::fs::read_to_string(example("config.json")).unwrap())
            .unwrap();
    let engine = Engine::compile(&config).unwrap();
    let context = example_json("context.json");
    let ctx = EvaluationContext::from_json(&context);

    let output = std::process::Command::new(crate::support::flagstone_bin())
        .arg("eval")
        .arg("--config")
        .arg(example("config.json"))
        .arg("--context")
        .arg(format!("@{}", example("context.json").display()))
        .output()
        .unwrap();
    assert!(output.status.success());
    let cli: Value = serde_json::from_slice(&output.stdout).unwrap();
    let cli = cli["resolutions"].as_array().unwrap();
    assert_eq!(cli.len(), engine.n_flags());

    let (status, bulk) =
        crate::support::json_of(server.post("/ofrep/v1/evaluate/flags", &example_context()).await)
            .await;
    assert_eq!(status, StatusCode::OK);
    let bulk = bulk["flags"].as_array().unwrap();
    assert_eq!(bulk.len(), engine.n_flags());

    for (i, id) in engine.flag_ids().enumerate() {
        let resolution = engine.evaluate(id, &ctx);
        let key = resolution.flag.strip_prefix("flags/").unwrap();
        let (status, single) = server.evaluate(key, &example_context()).await;
        for answer in [&single, &bulk[i]] {
            assert_eq!(answer["key"], key);
            let of = resolution.openfeature();
            match of.error_code {
                Some(code) => assert_eq!(answer["errorCode"], code, "{key}"),
                None => {
                    assert_eq!(status, StatusCode::OK, "{key}: {answer}");
                    assert_eq!(answer["reason"], of.reason, "{key}");
                    assert_eq!(answer.get("value"), resolution.value, "{key}");
                    assert_eq!(answer["metadata"]["flagstoneReason"], resolution.reason.as_str());
                    let short = resolution.variant.map(|v| v.rsplit('/').next().unwrap());
                    assert_eq!(answer["variant"].as_str(), short, "{key}");
                }
            }
            // The CLI prints the same resolution.
            let printed = &cli[i];
            assert_eq!(printed["flag"], resolution.flag);
            assert_eq!(printed["reason"], resolution.reason.as_str(), "{key}");
            assert_eq!(printed["variant"].as_str(), resolution.variant, "{key}");
            if let Some(value) = answer.get("value") {
                assert_eq!(value, &printed["value"], "{key}");
            }
        }
    }
}
