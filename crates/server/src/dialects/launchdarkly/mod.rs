//! LaunchDarkly's experimentation API (`/api/v2/…`) over the `abtests` and
//! `flags` collections.

use crate::http::AppState;
use axum::Router;

/// The LaunchDarkly routes (`/api/v2/…`).
pub(crate) fn routes(_read_only: bool) -> Router<AppState> {
    Router::new()
}
