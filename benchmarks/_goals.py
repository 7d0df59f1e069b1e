"""The goals of issue 9 (and those of the per-issue benchmarks), judged on one run's results.

A goal whose case failed, or whose figure is missing, is "not measured"
(``met`` is None), never met. A missed goal carries a ``why`` built from the
run's own figures, so that the report says what the miss is made of.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Cases = Mapping[str, Mapping[str, Any]]


def dig(data: Any, *path: str) -> Any:
    """``data[p0][p1]...``, or None when any step is missing."""
    for step in path:
        if not isinstance(data, Mapping) or step not in data:
            return None
        data = data[step]
    return data


def _result(cases: Cases, name: str) -> Any:
    case = cases.get(name)
    return case.get("result") if case and case.get("status") == "ok" else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _load_note(cases: Cases, case: str, machine: Mapping[str, Any]) -> str:
    load = dig(cases, case, "load_average")
    if not load:
        return ""
    return (
        f" Load average right after this case (1/5/15 min): {load} on "
        f"{machine.get('cpu_count')} cores."
    )


def _goal(
    context: tuple[Cases, Mapping[str, Any]],
    goal: str,
    case: str,
    measured: float | None,
    shown: str,
    target: str,
    passes: Callable[[float], bool],
    why: Callable[[], str],
    source: str = "issue 9",
) -> dict[str, Any]:
    met = None if measured is None else passes(measured)
    return {
        "goal": goal,
        "case": case,
        "source": source,
        "measured": shown if measured is not None else "not measured",
        "target": target,
        "met": met,
        "why": None
        if met
        else (
            "the case failed or gave no figure"
            if met is None
            else why() + _load_note(context[0], case, context[1])
        ),
    }


def evaluate(cases: Cases, machine: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every goal of the issue, judged on ``cases`` (name → {status, result | error})."""
    context = (cases, machine)
    val = _result(cases, "validation")
    us = dig(val, "us_per_token") or {}
    raw, ours = _num(us.get("raw_verify")), _num(us.get("ours_distinct"))
    parse, sdk = _num(us.get("minimal_parse_verify")), _num(us.get("descope_sdk"))
    repeated = _num(us.get("ours_repeated"))
    distinct_ratio = _num(dig(val, "ratios", "ours_distinct_vs_raw_verify"))
    repeated_ratio = _num(dig(val, "ratios", "ours_repeated_vs_raw_verify"))
    sdk_ratio = _num(dig(val, "ratios", "descope_sdk_vs_ours_distinct"))

    mgmt = _result(cases, "management_throughput")
    rate = {
        k: _num(dig(mgmt, "results", k, "requests_per_second"))
        for k in ("raw_aiohttp", "descope_keys", "official_descope")
    }
    vs_raw = _num(dig(mgmt, "ratios", "descope_keys_vs_raw_aiohttp"))
    vs_official = _num(dig(mgmt, "ratios", "descope_keys_vs_official"))
    tenacity_ratio = _num(dig(mgmt, "ratios", "tenacity_per_call_vs_raw_aiohttp"))

    sync = _result(cases, "sync_overhead")
    threaded = dig(sync, "threaded_load") or {}
    thread_speedup = _num(threaded.get("speedup"))
    hop = _num(dig(sync, "sequential_load", "overhead_us_per_call"))
    sync_validate = _num(dig(sync, "validate_token", "sync_over_async"))

    cold = _result(cases, "cold_start")
    cold_clients = dig(cold, "clients") or {}
    ours_cold = {
        name: cold_clients[name]
        for name in ("descope_keys_async", "descope_keys_sync_threads")
        if name in cold_clients
    }
    worst_cold = max((max(c["cold_fetches_per_round"]) for c in ours_cold.values()), default=None)
    cold_ok = dig(cold, "goal", "met")

    memory = _result(cases, "memory")
    phases = {
        k: v for k, v in (memory or {}).items() if isinstance(v, Mapping) and "growth_mib" in v
    }
    worst_growth = max((_num(p["growth_mib"]) or 0.0 for p in phases.values()), default=None)
    threshold = _num(dig(memory, "threshold_mib"))

    mw = _result(cases, "middleware")
    mw_delta = _num(dig(mw, "http", "descope_minus_bare_us"))
    mw_limit = _num(dig(mw, "goal", "limit_us"))

    def per_call_gap() -> str:
        if rate["raw_aiohttp"] and rate["descope_keys"]:
            gap = (1 / rate["descope_keys"] - 1 / rate["raw_aiohttp"]) * 1e6
            return (
                f"raw aiohttp {_fmt(rate['raw_aiohttp'], 0)} req/s, ours "
                f"{_fmt(rate['descope_keys'], 0)} req/s: {gap:.0f} µs more per call spent in "
                "our client (argument checks, the retry policy, error mapping, parsing into an "
                "AccessKey), on cores the emulator shares: client CPU is lost throughput."
                + (
                    f" For scale: raw aiohttp wrapped in tenacity alone reaches "
                    f"{_fmt(tenacity_ratio)}x raw."
                    if tenacity_ratio is not None
                    else ""
                )
                + " Profiled in issue 14: yarl's query building costs about 3 µs per call "
                "(a pre-encoded URL would save 1.5 µs of it), cattrs structuring the AccessKey "
                "about 17 µs, and the kernel's loopback send, on the cores the emulator shares, "
                "the most; no single cost in our client accounts for the gap."
            )
        return "figures missing"

    return [
        _goal(
            context,
            "Validation, distinct tokens, within 1.5x raw RSA verify",
            "validation",
            distinct_ratio,
            f"{_fmt(distinct_ratio)}x ({_fmt(ours, 1)} µs vs {_fmt(raw, 1)} µs)",
            "<= 1.5x",
            lambda r: r <= 1.5,
            lambda: (
                f"The floor is {_fmt(raw, 1)} µs for the RSA verify alone; splitting and "
                f"base64url/JSON decoding plus the verify, with no check at all "
                f"(minimal_parse_verify), already take {_fmt(parse, 1)} µs. Ours adds the claim "
                f"checks and the AccessKeyToken: {_fmt(ours, 1)} µs in all. Profiled in "
                "issue 14: the two datetimes cost 1.2 µs, building the AccessKeyToken 1.5 µs "
                "and freezing the claims 0.2 µs, so lazy datetimes or fewer objects would "
                "close only a fraction of the gap; most of the rest is the claim checks "
                "themselves."
            ),
        ),
        _goal(
            context,
            "Validation, repeated token, under 0.2x raw RSA verify",
            "validation",
            repeated_ratio,
            f"{_fmt(repeated_ratio, 4)}x ({_fmt(repeated, 2)} µs)",
            "< 0.2x",
            lambda r: r < 0.2,
            lambda: f"A cache hit took {_fmt(repeated, 2)} µs against {_fmt(raw, 1)} µs.",
        ),
        _goal(
            context,
            "Validation at least 4x faster than the official SDK's validate_session",
            "validation",
            sdk_ratio,
            f"{_fmt(sdk_ratio)}x ({_fmt(sdk, 1)} µs vs {_fmt(ours, 1)} µs)",
            ">= 4x",
            lambda r: r >= 4,
            lambda: f"validate_session took {_fmt(sdk, 1)} µs, ours {_fmt(ours, 1)} µs.",
        ),
        _goal(
            context,
            "Management load() at least 0.9x raw aiohttp throughput (async, 32 in flight)",
            "management_throughput",
            vs_raw,
            f"{_fmt(vs_raw)}x",
            ">= 0.9x",
            lambda r: r >= 0.9,
            per_call_gap,
        ),
        _goal(
            context,
            "Management load() ahead of the official SDK (async)",
            "management_throughput",
            vs_official,
            f"{_fmt(vs_official)}x",
            "> 1x",
            lambda r: r > 1,
            lambda: (
                f"official {_fmt(rate['official_descope'], 0)} req/s, "
                f"ours {_fmt(rate['descope_keys'], 0)} req/s."
            ),
        ),
        _goal(
            context,
            "Management load() ahead of the official SDK (sync, 32 threads)",
            "sync_overhead",
            thread_speedup,
            f"{_fmt(thread_speedup)}x",
            "> 1x",
            lambda r: r > 1,
            lambda: (
                f"official sync {dig(threaded, 'official_descope_sync', 'requests_per_second')} "
                f"req/s, ours {dig(threaded, 'descope_keys_sync', 'requests_per_second')} req/s."
            ),
        ),
        _goal(
            context,
            "Sync facade overhead under 100 µs per call (load(), sequential)",
            "sync_overhead",
            hop,
            f"{_fmt(hop, 1)} µs",
            "< 100 µs",
            lambda h: h < 100,
            lambda: (
                f"The hop to the loop thread and back cost {_fmt(hop, 1)} µs per call: two "
                "thread hand-offs, each waiting for a free core when the machine is busy."
            ),
        ),
        _goal(
            context,
            "Exactly one JWKS fetch per cold stampede (200 concurrent validations)",
            "cold_start",
            None if cold_ok is None or worst_cold is None else float(worst_cold),
            ", ".join(
                f"{name}: {c['cold_fetches_per_round']} (failures {c['cold_failures']})"
                for name, c in ours_cold.items()
            ),
            "1 per stampede, no failure",
            lambda _: bool(cold_ok),
            lambda: "A stampede made more than one fetch or a call failed (see above).",
        ),
        _goal(
            context,
            "Flat memory over 100k validations and 20k management calls",
            "memory",
            worst_growth,
            ", ".join(f"{k}: {_fmt(_num(v['growth_mib']), 2)} MiB" for k, v in phases.items()),
            f"<= {_fmt(threshold, 0)} MiB growth",
            lambda g: threshold is not None and g <= threshold,
            lambda: ", ".join(
                f"{k} grew {v['growth_mib']} MiB ({v['slope_bytes_per_op']} bytes/op)"
                for k, v in phases.items()
                if not v.get("flat")
            ),
        ),
        _goal(
            context,
            "Sync validate_token within 1.1x of the async call",
            "sync_overhead",
            sync_validate,
            f"{_fmt(sync_validate, 3)}x",
            "<= 1.1x",
            lambda r: r <= 1.1,
            lambda: f"sync/async = {_fmt(sync_validate, 3)}.",
            source="issue 3 (sync facade)",
        ),
        _goal(
            context,
            "aiohttp middleware costs at most validate_token + 10 µs per request",
            "middleware",
            mw_delta,
            f"{_fmt(mw_delta, 1)} µs (limit {_fmt(mw_limit, 1)} µs)",
            "<= validate_token + 10 µs",
            lambda d: bool(dig(mw, "goal", "met")),
            lambda: (
                f"the middleware variant cost {_fmt(mw_delta, 1)} µs more server CPU per "
                f"request than the bare one; non-200 answers: "
                f"{dig(mw, 'http', 'non_200_responses')}."
            ),
            source="issue 7 (web integrations)",
        ),
        *_credentials_goals(context),
        *_cold_start_goals(context),
        _telemetry_goal(context),
    ]


def _telemetry_goal(context: tuple[Cases, Mapping[str, Any]]) -> dict[str, Any]:
    tel = _result(context[0], "telemetry")
    added = _num(dig(tel, "validation_added_ns"))
    return _goal(
        context,
        "Telemetry adds well under 1 µs to a warm validation, in every state",
        "telemetry",
        added,
        f"{_fmt(added, 0)} ns",
        "< 1000 ns",
        lambda ns: ns < 1000,
        lambda: (
            f"the worst telemetry state cost {_fmt(added, 0)} ns more per warm validation "
            f"than the uncounted call (states {dig(tel, 'states')})."
        ),
        source="issue 16 (telemetry)",
    )


def _credentials_goals(context: tuple[Cases, Mapping[str, Any]]) -> list[dict[str, Any]]:
    creds = _result(context[0], "credentials")
    goals = []
    for side, limit in (("async", 1.0), ("sync", 2.0)):
        measured = _num(dig(creds, "authorization_us", side, "authorization"))
        floor = _num(dig(creds, "authorization_us", "async", "await_floor"))
        goals.append(
            _goal(
                context,
                f"Warm {side} authorization() under {limit:g} µs"
                + (" (caller's thread)" if side == "sync" else ""),
                "credentials",
                measured,
                f"{_fmt(measured, 3)} µs",
                f"< {limit:g} µs",
                lambda us, limit=limit: us < limit,
                lambda measured=measured, floor=floor: (
                    f"a warm call took {_fmt(measured, 3)} µs; awaiting an empty "
                    f"coroutine took {_fmt(floor, 3)} µs on this run."
                ),
                source="issue 12 (credentials)",
            )
        )
    return goals


def _cold_start_goals(context: tuple[Cases, Mapping[str, Any]]) -> list[dict[str, Any]]:
    imp = _result(context[0], "import_time")
    ms = dig(imp, "median_ms") or {}
    ours, official = _num(ms.get("descope_keys_clients")), _num(ms.get("descope"))
    bare = _num(ms.get("descope_keys"))
    ratio = _num(dig(imp, "goals", "import_ratio", "measured"))
    ratio_limit = _num(dig(imp, "goals", "import_ratio", "limit"))
    help_ms = _num(dig(imp, "goals", "help_beyond_startup_ms", "measured"))
    help_limit = _num(dig(imp, "goals", "help_beyond_startup_ms", "limit"))
    wall = dig(imp, "cli_help", "wall_median_ms") or {}
    return [
        _goal(
            context,
            "Importing the clients at most 0.5x import descope (fresh interpreter)",
            "import_time",
            ratio,
            f"{_fmt(ratio)}x ({_fmt(ours, 1)} ms vs {_fmt(official, 1)} ms; "
            f"bare import descope_keys {_fmt(bare, 1)} ms)",
            f"<= {_fmt(ratio_limit)}x",
            lambda r: ratio_limit is not None and r <= ratio_limit,
            lambda: (
                f"from descope_keys import AsyncDescopeKeys, DescopeKeys took {_fmt(ours, 1)} ms, "
                f"import descope {_fmt(official, 1)} ms (see the heaviest imports)."
            ),
            source="issue 14 (cold start)",
        ),
        _goal(
            context,
            "descope-keys --help under 150 ms beyond interpreter start-up",
            "import_time",
            help_ms,
            f"{_fmt(help_ms, 1)} ms (process {_fmt(_num(wall.get('descope_keys_help')), 1)} ms, "
            f"bare interpreter {_fmt(_num(wall.get('interpreter')), 1)} ms)",
            f"< {_fmt(help_limit, 0)} ms",
            lambda h: help_limit is not None and h < help_limit,
            lambda: f"--help took {_fmt(help_ms, 1)} ms more than python -c pass.",
            source="issue 14 (cold start)",
        ),
    ]
