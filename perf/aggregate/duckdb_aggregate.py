#!/usr/bin/env python3
"""The query `flagstone aggregate` answers, on DuckDB, on the same files: prints per variant and
metric the sums and the seconds taken. usage: duckdb_aggregate.py EXPOSURES EVENTS [THREADS]"""
import sys
import time

import duckdb

exposures, events = sys.argv[1], sys.argv[2]
con = duckdb.connect()
if len(sys.argv) > 3:
    con.execute(f"SET threads = {int(sys.argv[3])}")


def source(path):
    if path.endswith(".parquet"):
        return f"read_parquet('{path}')"
    return f"read_json('{path}', format='newline_delimited')"


start = time.time()
rows = con.execute(f"""
WITH x AS (
  SELECT unit, variant, CAST(time AS TIMESTAMP) AS t FROM {source(exposures)}
  WHERE variant IS NOT NULL AND flag = 'flags/checkout'),
assigned AS (SELECT unit, MIN(t) AS t, arg_min(variant, t) AS variant FROM x GROUP BY unit),
per_unit AS (
  SELECT a.unit, a.variant, e.metric, SUM(e.value) AS v
  FROM (SELECT unit, metric, value, CAST(time AS TIMESTAMP) AS t FROM {source(events)}) e
  JOIN assigned a ON e.unit = a.unit WHERE e.t >= a.t
  GROUP BY a.unit, a.variant, e.metric)
SELECT variant, metric, COUNT(*), SUM(v), SUM(v * v) FROM per_unit GROUP BY variant, metric ORDER BY 1, 2
""").fetchall()
elapsed = time.time() - start
for r in rows:
    print(*r)
print(f"seconds {elapsed:.2f}")
