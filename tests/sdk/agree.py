"""Clients that others wrote agree with `flagstone eval`.

Starts `flagstone serve` on a free loopback port with the example config imported, then has
each official OpenFeature SDK (through its OFREP provider) evaluate every flag of the config,
and a field of each object flag by `flag.path`, for the example context and a set of varied
contexts. Every answer is compared with what `flagstone eval` gives for the same flag and
context: the same value (the caller's default where the engine gives none), the same variant,
and the OpenFeature reason that the engine's reason maps to.

Usage: agree.py --flagstone BIN --config CONFIG --context CONTEXT
                [--python PYTHON] [--node NODE --node-modules DIR]
Prints one line per disagreement and ends with `N passed, N failed`; exits 1 on a failure.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The engine's reason → the OpenFeature reasons the server may answer with (docs/spec §2.2).
REASONS = {
    "MATCH": {"TARGETING_MATCH", "SPLIT"},
    "NO_SEGMENT_MATCH": {"DEFAULT"},
    "FLAG_ARCHIVED": {"DISABLED"},
}


def contexts(example: dict, n: int) -> list[dict]:
    """The example context and `n` varied ones (seeded, so every run asks the same)."""
    rng = random.Random(20261206)
    out = [example]
    for i in range(n):
        ctx = {
            "targeting_key": f"user-{i}",
            "rox.distinct_id": f"device-{i}",
            "country": rng.choice(["SE", "NO", "DK", "DE", "US"]),
            "email": rng.choice(["ana@acme.example", "bo@example.com", "cy@BLOCKED.example"]),
            "app_version": rng.choice(["2.9.0", "3.0.1", "3.2.0", "v4"]),
            "platform": rng.choice(["iOS", "Android", "web"]),
            "logged_in": rng.random() < 0.7,
            "beta": rng.random() < 0.3,
            "signup_cohort": rng.choice(["2025-q4", "2026-q2"]),
            "user": {"id": f"user-{i}", "age": rng.randint(12, 70),
                     "plans": rng.choice([["free"], ["plus"], []])},
        }
        if i % 10 == 9:
            del ctx["targeting_key"]
        out.append(ctx)
    return out


def flat(ctx: dict) -> dict:
    """The context as a client without nested or list attributes sends it: objects become
    dotted keys (the engine reads a literal `user.age` key as it reads the path), lists are
    left out."""
    out = {}
    def walk(prefix, value):
        for key, v in value.items():
            name = f"{prefix}{key}"
            if isinstance(v, dict):
                walk(f"{name}.", v)
            elif not isinstance(v, list):
                out[name] = v
    walk("", ctx)
    return out


def json_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


DEFAULTS = {"boolean": False, "number": -1.5, "string": "code-default", "object": {"code": "default"}}


def flag_keys(config: dict) -> list[tuple[str, str, str | None]]:
    """(OFREP key, type, field) for every flag, and `flag.field` for each object field."""
    keys = []
    flags = [(f["name"].removeprefix("flags/"), [v.get("value") for v in f.get("variants", [])])
             for f in config.get("flags", [])]
    for e in config.get("experiments", []):
        flags.append((e["flag"], e.get("availableValues", [False, True])))
    for key, values in flags:
        types = {json_type(v) for v in values} or {"object"}
        keys.append((key, types.pop() if len(types) == 1 else "object", None))
        fields = set()
        for v in values:
            if isinstance(v, dict):
                fields.update(f for f, x in v.items() if not isinstance(x, (dict, list)))
        for field in sorted(fields):
            field_types = {json_type(v[field]) for v in values if isinstance(v, dict) and field in v}
            if len(field_types) == 1:
                keys.append((f"{key}.{field}", field_types.pop(), field))
    return keys


def expected(engine: dict, field: str | None, default):
    """What a client must get from the engine's resolution of one flag: (value, variant,
    reason), where the reason is `ERROR` for a `flag.path` field the variant's value lacks
    (the server answers `GENERAL`; the client falls back to its default)."""
    value = engine.get("value")
    if field is not None and isinstance(value, dict) and field not in value:
        return default, None, "ERROR"
    if field is not None:
        value = value.get(field) if isinstance(value, dict) else None
    return (default if value is None else value), engine.get("variant"), engine["reason"]


def start_server(flagstone: str, config: str, data: str) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [flagstone, "serve", "--data", data, "--listen", "127.0.0.1:0", "--import", config],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline().strip() if server.stdout else ""
    if not line.startswith("listening on http://"):
        server.kill()
        sys.exit(f"flagstone serve did not start: first line {line!r}")
    return server, line.removeprefix("listening on ")


def run_client(name: str, command: list[str], env: dict, request: dict) -> list[dict]:
    out = subprocess.run(command, input=json.dumps(request), capture_output=True, text=True,
                         env=env, timeout=300)
    if out.returncode != 0:
        sys.exit(f"{name} client failed ({out.returncode}):\n{out.stderr}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flagstone", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--context", required=True)
    parser.add_argument("--python")
    parser.add_argument("--node")
    parser.add_argument("--node-modules")
    parser.add_argument("--rust", help="the built tests/sdk/rust client")
    parser.add_argument("--contexts", type=int, default=40)
    args = parser.parse_args()

    config = json.loads(Path(args.config).read_text())
    cases_contexts = contexts(json.loads(Path(args.context).read_text()), args.contexts)
    keys = flag_keys(config)

    def engine_answers(contexts_: list[dict]) -> list[dict]:
        """The engine's resolutions, one `flagstone eval` line per context (all flags)."""
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.writelines(json.dumps(c) + "\n" for c in contexts_)
        lines = subprocess.run(
            [args.flagstone, "eval", "--config", args.config, "--contexts", f.name],
            capture_output=True, text=True, check=True).stdout.splitlines()
        os.unlink(f.name)
        return [{r["flag"].removeprefix("flags/"): r for r in json.loads(line)["resolutions"]}
                for line in lines]

    def cases_for(contexts_: list[dict]):
        engine = engine_answers(contexts_)
        cases, wants = [], []
        for i, ctx in enumerate(contexts_):
            for key, kind, field in keys:
                flag = key if field is None else key.removesuffix(f".{field}")
                default = DEFAULTS[kind]
                cases.append({"flag": key, "type": kind, "default": default, "context": ctx})
                want = expected(engine[i][flag], field, default)
                wants.append((i, key, want, engine[i][flag].get("value") is None))
        return cases, wants

    # (name, command, environment, context form, whether its reasons are the server's)
    clients = []
    if args.python:
        clients.append(("python", [args.python, str(HERE / "python_client.py")],
                        dict(os.environ), None, True))
    if args.node:
        env = dict(os.environ, NODE_PATH=args.node_modules or "")
        # ESM ignores NODE_PATH: run the client from inside the install so imports resolve.
        script = Path(args.node_modules).parent / "node_client.mjs"
        script.write_text((HERE / "node_client.mjs").read_text())
        clients.append(("javascript", [args.node, str(script)], env, None, True))
    if args.rust:
        # open-feature-ofrep 0.1.2 sends no nested or list context attributes (it writes a
        # struct as its Debug text) and reports every success as STATIC: it gets flat
        # contexts, and its reasons are not compared.
        clients.append(("rust", [args.rust], dict(os.environ), flat, False))

    passed = failed = 0
    limited: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as data:
        server, base_url = start_server(args.flagstone, args.config, data)
        try:
            for name, command, env, form, reasons in clients:
                contexts_ = [form(c) for c in cases_contexts] if form else cases_contexts
                cases, wants = cases_for(contexts_)
                answers = run_client(name, command, env, {"baseUrl": base_url, "cases": cases})
                if len(answers) != len(cases):
                    sys.exit(f"{name}: {len(answers)} answers for {len(cases)} cases")
                for (i, key, (value, variant, reason), code_default), got in zip(wants, answers):
                    problems = []
                    if got["value"] != value:
                        problems.append(f"value {got['value']!r} != {value!r}")
                    if variant is not None and not (got["variant"] or "").endswith(
                            variant.rsplit("/", 1)[-1]):
                        problems.append(f"variant {got['variant']!r} != {variant!r}")
                    if not reasons:
                        # Only the value and the variant of a success say anything.
                        pass
                    elif reason == "ERROR" and got["reason"] != "ERROR":
                        problems.append(f"reason {got['reason']} for a missing field")
                    if reasons and reason in REASONS and got["reason"] not in REASONS[reason]:
                        if code_default and got["reason"] == "ERROR" and not problems:
                            # The server answers without a value (OFREP ADR 0006, code
                            # default); a provider that predates the ADR reports an error
                            # but returns the same default value.
                            limited[name] = limited.get(name, 0) + 1
                        else:
                            problems.append(f"reason {got['reason']} for {reason} "
                                            f"(error {got['errorCode']})")
                    if problems:
                        failed += 1
                        print(f"{name}: context {i}, {key}: " + "; ".join(problems))
                    else:
                        passed += 1
        finally:
            server.terminate()
            server.wait(timeout=30)
    for name, n in limited.items():
        print(f"{name}: {n} code-default answers read as an error by the provider "
              "(it predates OFREP ADR 0006), with the right default value")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
