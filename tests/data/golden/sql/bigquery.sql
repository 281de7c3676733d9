-- flagstone aggregation (bigquery): one row per unit, then per-variant sums
WITH exposures_in AS (
  SELECT unit, variant, time
  FROM exposures
  WHERE variant IS NOT NULL
    AND flag = 'flags/checkout'
    AND time >= TIMESTAMP '2026-03-01 00:00:00+00:00'
    AND time < TIMESTAMP '2026-03-08 00:00:00+00:00'
),
variants AS (SELECT DISTINCT variant FROM exposures_in),
units AS (
  SELECT unit, MIN(variant) AS variant, MIN(time) AS first_exposure,
    COUNT(DISTINCT variant) AS variant_count
  FROM exposures_in
  GROUP BY unit
),
assigned AS (
  SELECT unit, variant, first_exposure,
    DATE(first_exposure, 'UTC') AS exposure_day
  FROM units
  WHERE variant_count = 1
),
metric_events AS (
  SELECT unit, metric, value, time
  FROM events
  WHERE metric IN ('purchase', 'revenue')
    AND time < TIMESTAMP '2026-03-08 00:00:00+00:00'
),
unit_values AS (
  SELECT a.unit, a.variant, a.exposure_day,
    COALESCE(SUM(CASE WHEN e.metric = 'purchase' AND e.time >= a.first_exposure THEN e.value END), 0) AS post_0,
    COALESCE(SUM(CASE WHEN e.metric = 'purchase' AND e.time < a.first_exposure THEN e.value END), 0) AS pre_0,
    COALESCE(SUM(CASE WHEN e.metric = 'revenue' AND e.time >= a.first_exposure THEN e.value END), 0) AS post_1,
    COALESCE(SUM(CASE WHEN e.metric = 'revenue' AND e.time < a.first_exposure THEN e.value END), 0) AS pre_1
  FROM assigned a
  LEFT JOIN metric_events e ON e.unit = a.unit AND e.time >= TIMESTAMP_SUB(a.first_exposure, INTERVAL 48 HOUR)
  GROUP BY a.unit, a.variant, a.exposure_day
)
SELECT u.exposure_day AS exposure_day, v.variant AS variant, 'purchase' AS metric, 'binary' AS metric_type,
  COUNT(u.unit) AS n,
  CAST(COALESCE(SUM(CASE WHEN u.post_0 > 0 THEN 1 ELSE 0 END), 0) AS FLOAT64) AS sum,
  CAST(COALESCE(SUM(CASE WHEN u.post_0 > 0 THEN 1 ELSE 0 END), 0) AS FLOAT64) AS sum_squares,
  CAST(NULL AS FLOAT64) AS denominator_sum,
  CAST(NULL AS FLOAT64) AS denominator_sum_squares,
  CAST(NULL AS FLOAT64) AS cross_products,
  CAST(COALESCE(SUM(CASE WHEN u.pre_0 > 0 THEN 1 ELSE 0 END), 0) AS FLOAT64) AS covariate_sum,
  CAST(COALESCE(SUM(CASE WHEN u.pre_0 > 0 THEN 1 ELSE 0 END), 0) AS FLOAT64) AS covariate_sum_squares,
  CAST(COALESCE(SUM(CASE WHEN u.pre_0 > 0 AND u.post_0 > 0 THEN 1 ELSE 0 END), 0) AS FLOAT64) AS covariate_cross_products
FROM variants v
LEFT JOIN unit_values u ON u.variant = v.variant
GROUP BY v.variant, u.exposure_day
UNION ALL
SELECT u.exposure_day AS exposure_day, v.variant AS variant, 'revenue' AS metric, 'mean' AS metric_type,
  COUNT(u.unit) AS n,
  CAST(COALESCE(SUM(u.post_1), 0) AS FLOAT64) AS sum,
  CAST(COALESCE(SUM(u.post_1 * u.post_1), 0) AS FLOAT64) AS sum_squares,
  CAST(NULL AS FLOAT64) AS denominator_sum,
  CAST(NULL AS FLOAT64) AS denominator_sum_squares,
  CAST(NULL AS FLOAT64) AS cross_products,
  CAST(COALESCE(SUM(u.pre_1), 0) AS FLOAT64) AS covariate_sum,
  CAST(COALESCE(SUM(u.pre_1 * u.pre_1), 0) AS FLOAT64) AS covariate_sum_squares,
  CAST(COALESCE(SUM(u.pre_1 * u.post_1), 0) AS FLOAT64) AS covariate_cross_products
FROM variants v
LEFT JOIN unit_values u ON u.variant = v.variant
GROUP BY v.variant, u.exposure_day
UNION ALL
SELECT u.exposure_day AS exposure_day, v.variant AS variant, 'aov' AS metric, 'ratio' AS metric_type,
  COUNT(u.unit) AS n,
  CAST(COALESCE(SUM(u.post_1), 0) AS FLOAT64) AS sum,
  CAST(COALESCE(SUM(u.post_1 * u.post_1), 0) AS FLOAT64) AS sum_squares,
  CAST(COALESCE(SUM(u.post_0), 0) AS FLOAT64) AS denominator_sum,
  CAST(COALESCE(SUM(u.post_0 * u.post_0), 0) AS FLOAT64) AS denominator_sum_squares,
  CAST(COALESCE(SUM(u.post_1 * u.post_0), 0) AS FLOAT64) AS cross_products,
  CAST(NULL AS FLOAT64) AS covariate_sum,
  CAST(NULL AS FLOAT64) AS covariate_sum_squares,
  CAST(NULL AS FLOAT64) AS covariate_cross_products
FROM variants v
LEFT JOIN unit_values u ON u.variant = v.variant
GROUP BY v.variant, u.exposure_day
UNION ALL
SELECT DATE(first_exposure, 'UTC') AS exposure_day, CAST(NULL AS STRING) AS variant, CAST(NULL AS STRING) AS metric, 'excluded' AS metric_type,
  COUNT(*) AS n, CAST(0 AS FLOAT64) AS sum, CAST(0 AS FLOAT64) AS sum_squares,
  CAST(NULL AS FLOAT64) AS denominator_sum, CAST(NULL AS FLOAT64) AS denominator_sum_squares, CAST(NULL AS FLOAT64) AS cross_products,
  CAST(NULL AS FLOAT64) AS covariate_sum, CAST(NULL AS FLOAT64) AS covariate_sum_squares, CAST(NULL AS FLOAT64) AS covariate_cross_products
FROM units
WHERE variant_count > 1
GROUP BY DATE(first_exposure, 'UTC')
HAVING COUNT(*) > 0
ORDER BY metric_type, metric, variant, exposure_day;
