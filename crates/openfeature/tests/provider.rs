//! The provider against the shipped example, through the OpenFeature client, and from a real server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use flagstone_core::{Engine, EvaluationContext as Ctx};
use flagstone_openfeature::FlagstoneProvider;
use open_feature::provider::FeatureProvider;
use open_feature::{EvaluationContext, EvaluationErrorCode, EvaluationReason, OpenFeature};
use std::path::PathBuf;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

fn example_context() -> EvaluationContext {
    EvaluationContext::default()
        .with_targeting_key("user-1234")
        .with_custom_field("rox.distinct_id", "user-1234")
        .with_custom_field("country", "SE")
        .with_custom_field("email", "ana@acme.example")
        .with_custom_field("app_version", "3.2.0")
        .with_custom_field("platform", "iOS")
        .with_custom_field("logged_in", true)
        .with_custom_field("beta", false)
        .with_custom_field(
            "user",
            open_feature::EvaluationContextFieldValue::new_struct(
                serde_json::json!({"id": "user-1234", "age": 34, "plans": ["free"]}),
            ),
        )
}

#[tokio::test]
async fn agrees_with_the_engine_on_the_example() {
    let provider = FlagstoneProvider::from_file(&example("config.json")).unwrap();
    let config =
        flagstone_model::parse_config(&std::fs::read_to_string(example("config.json")).unwrap())
            .unwrap();
    let engine = Engine::compile(&config).unwrap();
    let context: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(example("context.json")).unwrap()).unwrap();
    let ctx = example_context();
    for id in engine.flag_ids() {
        let resolution = engine.evaluate(id, &Ctx::from_json(&context));
        let key = resolution.flag.strip_prefix("flags/").unwrap();
        let got = provider.resolve_struct_value(key, &ctx).await;
        match resolution.value {
            Some(serde_json::Value::Object(_)) => {
                let details = got.unwrap_or_else(|e| panic!("{key}: {e:?}"));
                let expected = open_feature::Value::try_from(resolution.value.unwrap()).unwrap();
                assert_eq!(open_feature::Value::Struct(details.value), expected, "{key}");
                assert_eq!(
                    details.variant.as_deref(),
                    resolution.variant.map(|v| v.rsplit('/').next().unwrap())
                );
            }
            Some(serde_json::Value::Bool(b)) => {
                assert_eq!(
                    provider.resolve_bool_value(key, &ctx).await.unwrap().value,
                    *b,
                    "{key}"
                );
                assert_eq!(got.unwrap_err().code, EvaluationErrorCode::TypeMismatch, "{key}");
            }
            Some(other) => panic!("{key}: unexpected value {other}"),
            None => {
                assert!(matches!(got.unwrap_err().code, EvaluationErrorCode::General(_)), "{key}")
            }
        }
    }
    let details = provider.resolve_bool_value("dark-mode.enabled", &ctx).await.unwrap();
    assert!(details.value);
    assert_eq!(details.reason, Some(EvaluationReason::TargetingMatch));
    let err = provider.resolve_string_value("dark-mode.enabled", &ctx).await.unwrap_err();
    assert_eq!(err.code, EvaluationErrorCode::TypeMismatch);
    let err = provider.resolve_bool_value("no-such-flag", &ctx).await.unwrap_err();
    assert_eq!(err.code, EvaluationErrorCode::FlagNotFound);
    assert_eq!(
        provider.resolve_string_value("dark-mode.palette", &ctx).await.unwrap().value,
        "midnight"
    );
}

#[tokio::test]
async fn through_the_client_and_from_a_server_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        flagstone_server::ServerConfig::new(dir.path(), "127.0.0.1:0".parse().unwrap());
    config.import = Some(example("config.json"));
    let server = flagstone_server::Server::bind(config).await.unwrap();
    let base = format!("http://{}", server.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let provider =
        FlagstoneProvider::from_snapshot(&base, "default/production", None).await.unwrap();
    let handle = provider.handle();
    let mut api = OpenFeature::singleton_mut().await;
    api.set_provider(provider).await;
    let client = api.create_client();
    drop(api);
    let ctx = example_context();
    assert!(client.get_bool_value("dark-mode.enabled", Some(&ctx), None).await.unwrap());
    // No rule matched: the caller's default.
    let details = client.get_bool_details("new-checkout.enabled", Some(&ctx), None).await;
    assert!(details.is_err());

    // An invalid config never replaces the engine.
    assert!(handle.update_json("{\"flags\": [{\"name\": \"nope\"}]}").is_err());
    assert!(client.get_bool_value("dark-mode.enabled", Some(&ctx), None).await.unwrap());

    let _ = stop.send(());
    running.await.unwrap().unwrap();
    let err =
        FlagstoneProvider::from_snapshot(&base, "default/production", None).await.unwrap_err();
    assert!(
        err.to_string().starts_with(&format!("{base}/v1/namespaces/default/production/snapshot: ")),
        "{err}"
    );
}
