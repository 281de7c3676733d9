//! LaunchDarkly's experimentation API (`/api/v2/…`) over the `abtests`
//! collection and the `launchdarkly.experiments` records.
//!
//! - `GET|POST /api/v2/projects/{projectKey}/environments/{environmentKey}/experiments`
//! - `GET|PATCH …/experiments/{experimentKey}` (PATCH by semantic patch)
//! - `POST …/experiments/{experimentKey}/iterations`
//! - `GET …/experiments/{experimentKey}/metrics/{metricKey}/results`
//! - `PUT …/experiments/{experimentKey}/statistics` (a Flagstone addition:
//!   the running iteration's sufficient statistics)
//! - `GET …/experiments/{experimentKey}/report[?iterationId=]` (a Flagstone
//!   addition: the iteration's results as one self-contained HTML page)
//!
//! `{projectKey}/{environmentKey}` is the namespace. An experiment is stored
//! as a record (its name, description, maintainer and every iteration, as
//! LaunchDarkly shows them) and runs as the model's A/B test
//! `abtests/{experimentKey}` on the flag its treatments name; both are
//! written in one batch, so one cannot change without the other. The module
//! only translates: the write path parses, validates and compiles the whole
//! config, and the model's lifecycle decides which moves are allowed.
//!
//! # Decisions
//! - A treatment's `variationId` names a variant of the flag its `flagKey`
//!   names: the variant id (`flags/{flagKey}/variants/{variationId}`; a flag
//!   imported from LaunchDarkly keeps its variations' `_id`s as variant ids)
//!   or the variant's full name. The flag must exist (400 otherwise), every
//!   treatment must name the same flag and exactly one variation (a
//!   Flagstone A/B test runs on one flag).
//! - `allocationPercent` is the treatment's share of all units in percent:
//!   the A/B test's weights are the percentages and its allocation their sum
//!   over 100; the rest are not in the experiment. A treatment at `"0"` is
//!   kept in the experiment but is no arm of the A/B test.
//! - Iterations: the one created with the experiment is `not_started` and is
//!   the current iteration; `startIteration` starts the iteration not started
//!   yet (the A/B test goes LIVE), `stopIteration` stops the running one (the
//!   A/B test ENDS). A new iteration (`POST …/iterations`) is `not_started`
//!   and shows as `draftIteration` until started; a second one replaces it.
//!   Starting while one runs stops that one first and, as LaunchDarkly
//!   requires, needs a `changeJustification`. `previousIterations` are the
//!   iterations before the current one, oldest first.
//! - The A/B test follows the current iteration: treatments, metrics
//!   (`metrics/{key}`), hypothesis, every started iteration, and the state.
//!   Fields it does not define (targeting, exclusivity) are kept from the
//!   stored A/B test, so they can be set through the native API.
//! - Results are the Bayesian analysis of the iteration's sufficient
//!   statistics: uploaded ones (`PUT …/statistics`), else the server's logs
//!   within the iteration's window (read through the server's cache, per
//!   config revision and data watermark). A stopped iteration takes no
//!   uploads: its results are frozen.
//! - List `filter`: terms are AND-ed; `status` and `metricKey` look at the
//!   current iteration. `limit` defaults to 20 and is at most 200.
//! - Errors are `{"code", "message"}`; a duplicate key is 409 `conflict`.

mod errors;
mod experiments;
mod legacy;
mod legacy_results;
mod rep;
mod report;
mod results;
mod translate;
mod wire;

use crate::http::AppState;
use axum::Router;
use axum::routing::{delete, get, patch, post, put};
use errors::{method_not_allowed, read_only_replica};

/// A refused token in LaunchDarkly's shape (401 `unauthorized`), for the guard.
pub(crate) fn denied(denied: &crate::auth::Denied) -> axum::response::Response {
    use axum::response::IntoResponse;
    errors::LdError::denied(denied).into_response()
}

/// The collection's path; `{key}` follows it for one experiment.
const BASE: &str = "/api/v2/projects/{project}/environments/{environment}/experiments";

/// The LaunchDarkly routes (`/api/v2/…`); an edge replica answers writes with 405.
pub(crate) fn routes(read_only: bool) -> Router<AppState> {
    let one = format!("{BASE}/{{key}}");
    let iterations = format!("{one}/iterations");
    let results = format!("{one}/metrics/{{metric}}/results");
    let statistics = format!("{one}/statistics");
    let report = format!("{one}/report");
    let (create, one_experiment, iterate, upload) = if read_only {
        (
            post(read_only_replica),
            get(experiments::get_experiment).patch(read_only_replica),
            post(read_only_replica),
            put(read_only_replica),
        )
    } else {
        (
            post(experiments::create_experiment),
            get(experiments::get_experiment).patch(experiments::patch_experiment),
            post(experiments::create_iteration),
            put(results::put_statistics),
        )
    };
    let flag = "/api/v2/flags/{project}/{flag}";
    let legacy = format!("{flag}/experiments/{{environment}}/{{metric}}");
    let (patch_flag, reset, legacy_upload) = if read_only {
        (patch(read_only_replica), delete(read_only_replica), put(read_only_replica))
    } else {
        (
            patch(legacy::patch_flag),
            delete(legacy_results::reset_legacy_results),
            put(legacy_results::put_legacy_statistics),
        )
    };
    Router::new()
        .route(flag, patch_flag.fallback(method_not_allowed))
        .route(&legacy, get(legacy_results::get_legacy_results).fallback(method_not_allowed))
        .route(&format!("{legacy}/results"), reset.fallback(method_not_allowed))
        .route(&format!("{legacy}/statistics"), legacy_upload.fallback(method_not_allowed))
        .route(BASE, get(experiments::list_experiments).merge(create).fallback(method_not_allowed))
        .route(&one, one_experiment.fallback(method_not_allowed))
        .route(&iterations, iterate.fallback(method_not_allowed))
        .route(&results, get(results::get_results).fallback(method_not_allowed))
        .route(&report, get(report::get_report).fallback(method_not_allowed))
        .route(&statistics, upload.fallback(method_not_allowed))
}
