#!/usr/bin/env python3
"""Writes exposures.jsonl and events.jsonl in the engine's shapes, and their Parquet form.

usage: generate.py DIR UNITS EVENTS [SEED]

UNITS units are exposed once each (5 % twice, 2 % to both variants) to flags/checkout,
between 2026-03-01 and 2026-03-08; EVENTS events of `purchase` (1) and `revenue` (an amount)
fall on random units, from a day before their exposure to a week after. Deterministic for a
seed. The Parquet files (written by DuckDB) hold the same rows, `time` as a string.
"""
import os
import random
import sys

out, units, n_events = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
os.makedirs(out, exist_ok=True)
base = 1772323200  # 2026-03-01T00:00:00Z


def stamp(seconds):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


first = [0] * units
with open(os.path.join(out, "exposures.jsonl"), "w") as f:
    line = ('{{"flag":"flags/checkout","variant":"flags/checkout/variants/{v}",'
            '"rule":"flags/checkout/rules/ab","segment":"segments/all","assignmentId":"ab",'
            '"unit":"user-{u}","targetingKeySelector":"user_id","time":"{t}"}}\n')
    for u in range(units):
        t = base + rng.randrange(7 * 86400)
        first[u] = t
        v = "control" if rng.random() < 0.5 else "one-click"
        f.write(line.format(v=v, u=u, t=stamp(t)))
        r = rng.random()
        if r < 0.05:
            f.write(line.format(v=v, u=u, t=stamp(t + 3600)))
        elif r < 0.07:
            f.write(line.format(v="one-click" if v == "control" else "control", u=u, t=stamp(t + 60)))
with open(os.path.join(out, "events.jsonl"), "w") as f:
    for _ in range(n_events):
        u = rng.randrange(units)
        t = first[u] + rng.randrange(-86400, 7 * 86400)
        if rng.random() < 0.3:
            f.write('{"unit":"user-%d","metric":"purchase","value":1,"time":"%s"}\n' % (u, stamp(t)))
        else:
            f.write('{"unit":"user-%d","metric":"revenue","value":%.2f,"time":"%s"}\n'
                    % (u, rng.random() * 200, stamp(t)))

import duckdb  # noqa: E402

con = duckdb.connect()
for name, cols in [("exposures", "flag, variant, unit, time"), ("events", "unit, metric, CAST(value AS DOUBLE) AS value, time")]:
    src = os.path.join(out, name + ".jsonl")
    dst = os.path.join(out, name + ".parquet")
    con.execute(f"COPY (SELECT {cols} FROM read_json('{src}', format='newline_delimited')) TO '{dst}' (FORMAT parquet)")
