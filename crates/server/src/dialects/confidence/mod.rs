//! Spotify Confidence's workflow API (rollout and A/B test instances), AIP
//! style, over the `rollouts` and `abtests` collections (spec: DESIGN §7).

use crate::http::AppState;
use axum::Router;

/// The Confidence routes (`/v1/workflows/…`, `/v2/workflows/…`).
pub(crate) fn routes(_read_only: bool) -> Router<AppState> {
    Router::new()
}
