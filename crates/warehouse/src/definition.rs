//! The aggregation definition shared by the SQL ([`crate::sql`]) and its reference
//! implementation ([`crate::reference`]).

use crate::Window;
use crate::metric::MetricDef;

/// What the warehouse query computes.
///
/// Per unit (one row per unit): its exposures to the flag in the window; a unit exposed to more
/// than one variant is excluded (and counted); otherwise its first exposure starts its
/// metrics, which sum the values of its events at or after that instant and before the window's
/// end. With a covariate window, the same metric's events in the `covariate_hours` before the
/// first exposure form the CUPED covariate. Per variant (and per day of first exposure with
/// `by_day`): `COUNT`, `SUM` and `SUM(x*x)` of those values (binary: of "the value is
/// positive"), a ratio's denominator sums and cross products, the covariate's sums and cross
/// products.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Definition {
    /// Only this flag's exposures; all of them (they should be one flag's) when unset.
    pub flag: Option<String>,
    /// The metrics, at least one.
    pub metrics: Vec<MetricDef>,
    /// The analysis window.
    pub window: Window,
    /// The CUPED covariate window before each unit's first exposure, in hours (binary and
    /// mean metrics); none when unset.
    pub covariate_hours: Option<u32>,
    /// One row per day of first exposure (UTC), rows that add up to the whole.
    pub by_day: bool,
}
