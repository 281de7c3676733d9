//! Listing Confidence instances: pages (AIP-158), filters (AIP-160).

use crate::confidence::{Confidence, ROLLOUTS, data, google_error};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashSet;

/// Every page of a list; returns the names in order and the tokens handed out.
async fn all_pages(c: &Confidence, query: &str) -> (Vec<String>, Vec<String>) {
    let (mut names, mut tokens) = (Vec::new(), Vec::new());
    let mut token = String::new();
    loop {
        let path = format!("{ROLLOUTS}?{query}&pageToken={token}");
        let (status, page) = c.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["rollouts"].as_array().unwrap();
        names.extend(items.iter().map(|r| r["name"].as_str().unwrap().to_owned()));
        token = page["nextPageToken"].as_str().unwrap().to_owned();
        if token.is_empty() {
            break;
        }
        assert!(!items.is_empty(), "a page with a next token must not be empty");
        tokens.push(token.clone());
    }
    (names, tokens)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn two_hundred_and_fifty_instances_page_by_seven() {
    let c = Confidence::start().await;
    let body = data("create_rollout.json");
    let mut created = Vec::new();
    let mut live = HashSet::new();
    for i in 0..250 {
        let (id, answer) = c.create(&body).await;
        let name = answer["name"].as_str().unwrap().to_owned();
        if i % 5 == 0 {
            let (status, _) = c.post(&format!("{ROLLOUTS}/{id}:launch"), None).await;
            assert_eq!(status, StatusCode::OK);
            live.insert(name.clone());
        }
        created.push(name);
    }

    // Every instance exactly once, in creation order, 36 pages of 7 (the last of 5).
    let (names, tokens) = all_pages(&c, "pageSize=7").await;
    assert_eq!(names, created);
    assert_eq!(tokens.len(), 35);
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), 250);

    // With a filter: the 50 live ones, each once.
    let (names, _) = all_pages(&c, "pageSize=7&filter=state:live").await;
    assert_eq!(names.len(), 50);
    assert_eq!(names.iter().cloned().collect::<HashSet<_>>(), live);

    // Tokens are opaque: 48 hex digits, consecutive pages' tokens unalike, no offset inside.
    for token in &tokens {
        assert_eq!(token.len(), 48, "{token}");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    }
    for pair in tokens.windows(2) {
        let same = pair[0].bytes().zip(pair[1].bytes()).filter(|(a, b)| a == b).count();
        // Independent random hex digits agree in 3 of 48 places on average.
        assert!(same < 16, "{} and {} share {same} digits", pair[0], pair[1]);
    }
    // Forged cursors: an offset in base64, in JSON, in hex, and a real token with one digit changed.
    let mut altered = tokens[0].clone().into_bytes();
    altered[0] = if altered[0] == b'0' { b'1' } else { b'0' };
    let forged = [
        base64(b"7"),
        base64(b"14"),
        base64(br#"{"offset":7}"#),
        format!("{:048x}", 7),
        String::from_utf8(altered).unwrap(),
    ];
    for token in forged {
        let (status, body) = c.get(&format!("{ROLLOUTS}?pageSize=7&pageToken={token}")).await;
        google_error(status, &body, 400, "INVALID_ARGUMENT", Some("pageToken"));
    }

    // A token is bound to its filter: it is refused once the filter changes.
    let (_, first) = c.get(&format!("{ROLLOUTS}?pageSize=7&filter=state:live")).await;
    let live_token = first["nextPageToken"].as_str().unwrap();
    let (status, _) =
        c.get(&format!("{ROLLOUTS}?pageSize=7&filter=state:live&pageToken={live_token}")).await;
    assert_eq!(status, StatusCode::OK);
    // The page size may change between pages (AIP-158).
    let (status, _) =
        c.get(&format!("{ROLLOUTS}?pageSize=9&filter=state:live&pageToken={live_token}")).await;
    assert_eq!(status, StatusCode::OK);
    for other in ["state:draft", "", "state:live%20AND%20flag:flags/search-flag"] {
        let (status, body) =
            c.get(&format!("{ROLLOUTS}?pageSize=7&filter={other}&pageToken={live_token}")).await;
        google_error(status, &body, 400, "INVALID_ARGUMENT", Some("pageToken"));
    }
    let (status, body) = c
        .get(&format!("/v1/workflows/abtest/instances?filter=state:live&pageToken={live_token}"))
        .await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("pageToken"));

    // An instance created while paging shows up on a later page; none twice.
    let (_, first) = c.get(&format!("{ROLLOUTS}?pageSize=100")).await;
    let token = first["nextPageToken"].as_str().unwrap().to_owned();
    let (_, late) = c.create(&data("create_rollout.json")).await;
    let (_, second) = c.get(&format!("{ROLLOUTS}?pageSize=1000&pageToken={token}")).await;
    let rest: Vec<&Value> = second["rollouts"].as_array().unwrap().iter().collect();
    assert_eq!(rest.len(), 151);
    assert_eq!(rest.last().unwrap()["name"], late["name"]);
    assert_eq!(second["nextPageToken"], "");

    // Page sizes: 50 by default, at most 1000, never negative.
    let (_, default) = c.get(ROLLOUTS).await;
    assert_eq!(default["rollouts"].as_array().unwrap().len(), 50);
    assert_ne!(default["nextPageToken"], "");
    let (_, big) = c.get(&format!("{ROLLOUTS}?pageSize=5000")).await;
    assert_eq!(big["rollouts"].as_array().unwrap().len(), 251);
    assert_eq!(big["nextPageToken"], "");
    for bad in ["-1", "seven"] {
        let (status, body) = c.get(&format!("{ROLLOUTS}?pageSize={bad}")).await;
        google_error(status, &body, 400, "INVALID_ARGUMENT", Some("pageSize"));
    }
}

#[tokio::test]
async fn filters_join_terms_with_and_and_or() {
    let c = Confidence::start().await;
    let body = data("create_rollout.json");
    let (a, _) = c.create(&body).await;
    let (b, _) = c.create(&body.replace("New Search Feature Rollout", "Other")).await;
    let (_, _) = c.create(&body).await;
    c.post(&format!("{ROLLOUTS}/{a}:launch"), None).await;
    c.post(&format!("{ROLLOUTS}/{b}:launch"), None).await;
    c.post(&format!("{ROLLOUTS}/{b}:pause"), None).await;
    let count = |filter: &'static str| {
        let c = &c;
        async move {
            let (status, page) = c.get(&format!("{ROLLOUTS}?filter={filter}")).await;
            assert_eq!(status, StatusCode::OK, "{filter}: {page}");
            page["rollouts"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("state:live").await, 1);
    assert_eq!(count("state:paused").await, 1);
    assert_eq!(count("state:draft").await, 1);
    assert_eq!(count("state:live%20OR%20state:paused").await, 2);
    assert_eq!(count("flag:flags/search-flag").await, 3);
    assert_eq!(count("flag:search-flag%20AND%20state:live").await, 1);
    assert_eq!(count("flag:flags/other").await, 0);
    assert_eq!(count("state:draft%20AND%20state:live%20OR%20state:draft").await, 1);
    assert_eq!(count("(state:live%20OR%20state:draft)%20AND%20displayName:%22Other%22").await, 0);
    assert_eq!(count("displayName:%22New%20Search%20Feature%20Rollout%22").await, 2);
    assert_eq!(count("state=paused").await, 1);
    for bad in
        ["state", "colour:red", "state:live%20AND", "(state:live", "state:live%20XOR%20state:draft"]
    {
        let (status, body) = c.get(&format!("{ROLLOUTS}?filter={bad}")).await;
        google_error(status, &body, 400, "INVALID_ARGUMENT", Some("filter"));
    }
    let (status, body) = c.get(&format!("{ROLLOUTS}?colour=red")).await;
    google_error(status, &body, 400, "INVALID_ARGUMENT", Some("colour"));
}
