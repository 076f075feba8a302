"""Proxy speed: ``lmetric serve`` in front of instant fake OpenAI backends, beside the same
load sent straight to the backends and through ``sglang-router`` (the reference).

    python -m benchmarks.bench_serve [--quick] [--streams 200,1000] [--targets ...]

Layout: the proxy under test is pinned to one core (``sched_setaffinity``, what ``taskset -c
0`` does); the fake backends (3 ports, one process) and this load client share the other.

* **Latency** (fixed count): ``S`` concurrent keep-alive streams, each stream a chat request the
  fake answers with 10 SSE chunks 0.1 s apart (~1 s per request, like a short LLM reply), so
  the offered load is ~S requests/s. The proxy's *added latency* is the client-observed time
  to the first SSE event through the proxy minus the same figure sent directly to the
  backends in the same run, per percentile (p50 − p50, p99 − p99: a difference of
  percentiles, not a percentile of differences). ``lmetric serve``'s own histogram
  ``lmetric_serve_added_latency_seconds`` (arrival to upstream send) is read beside it
  (bucket upper bounds).
* **Throughput** (fixed time): ``S`` streams against instant backends (4 chunks, no delay),
  closed loop: completed requests/s with the proxy on one core. The direct run shows what the
  client and backends can do on their core (a ceiling on what can be measured).
* **Lost**: requests that did not complete (refused, reset, non-200, truncated, timed out).

Every target (direct included) is first warmed up by a run of the same shape, ``S`` streams with
two requests each: a router's upstream connection pools reach their steady size before the
measured run (with 50 warm-up requests, a prefix-affine router was still opening connections
to the backends it favours during the run — ~400 for 1,000 requests — which round-robin did not).

Targets (issue 8): 0 lost; added latency p50 <= 1 ms and p99 <= 5 ms at 200 streams.
The Rust routers are installed by ``make bench-install``; without them their rows are skipped.
"""

from __future__ import annotations

import argparse
import os
import sys

from analyzers.argcheck import Parser, nonneg_float, positive_float, positive_int
from analyzers.engines import ManagedProcess, free_port, router_available, start_router
from analyzers.engines.routers import ROUTERS
from benchmarks.serve_load import LoadResult, machine_line, make_bodies, run_load

DEFAULT_TARGETS = "lmetric:lmetric,lmetric:round-robin,sglang:cache_aware,sglang:round_robin"


def _fake_backends(chunks: int, delay: float, cpus) -> tuple[ManagedProcess, list[str]]:
    ports = [free_port() for _ in range(3)]
    argv = [sys.executable, "-m", "analyzers.engines.fake_openai", "--chunks", str(chunks), "--chunk-delay", str(delay),
            "--max-seconds", "1800"]
    for p in ports:
        argv += ["--port", str(p)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    proc = ManagedProcess(f"fake-{chunks}x{delay}", argv, urls[0], ready_path="/health", cpus=cpus).start()
    return proc, urls


def _added_hist(url: str) -> dict[float, float] | None:
    """Cumulative bucket counts of lmetric serve's added-latency histogram (None if absent)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = httpx.get(url + "/metrics", timeout=5, trust_env=False).text
    except httpx.HTTPError:
        return None
    out = {}
    for fam in text_string_to_metric_families(text):
        if fam.name == "lmetric_serve_added_latency_seconds":
            for s in fam.samples:
                if s.name.endswith("_bucket"):
                    out[float(s.labels["le"])] = s.value
    return out or None


def _hist_quantile(before: dict, after: dict, q: float) -> float | None:
    les = sorted(after)
    delta = [after[le] - before.get(le, 0.0) for le in les]
    total = delta[-1] if delta else 0.0
    if total <= 0:
        return None
    for le, c in zip(les, delta):
        if c >= q * total:
            return le
    return les[-1]


def _run_target(label: str, backends: list[str], proxy_cpus, streams: int, bodies, total=None, seconds=None, ramp=0.0):
    """Returns (LoadResult, proxy's own (p50, p99) or None, proxy RSS MiB)."""
    if label == "direct":
        run_load(backends, streams, bodies, total=2 * streams, ramp_s=ramp)  # warm-up, as below
        return run_load(backends, streams, bodies, total=total, seconds=seconds, ramp_s=ramp), None, 0.0
    extra = ["--detector", "off"] if label.startswith("lmetric:") else None
    router = start_router(label, backends, cpus=proxy_cpus, extra_args=extra)
    try:
        # warm-up in the shape of the measured run (S streams, 2 requests each): the proxy's upstream
        # pools grow to their steady size (a router that keeps prefixes on one backend needs up to S
        # connections there), so the run measures steady state, not connection set-up
        run_load([router.url], streams, bodies, total=2 * streams, ramp_s=ramp)
        before = _added_hist(router.url) if label.startswith("lmetric:") else None
        res = run_load([router.url], streams, bodies, total=total, seconds=seconds, ramp_s=ramp)
        own = None
        if before is not None:
            after = _added_hist(router.url)
            if after:
                own = (_hist_quantile(before, after, 0.5), _hist_quantile(before, after, 0.99))
        rss = router.rss_mib()
    finally:
        router.stop()
    return res, own, rss


def _stream_list(v: str) -> list[int]:
    """``--streams``: comma-separated integers >= 1."""
    out = [positive_int(x) for x in v.split(",") if x.strip()]
    if not out:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 1, got {v!r}")
    return out


def _ms(x) -> str:
    return "—" if x is None or x != x else f"{1000 * x:.2f}"


def main(argv=None) -> int:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    ap.add_argument("--streams", type=_stream_list, default="200,1000",
                    help="concurrent streams per latency run, comma-separated (200,1000)")
    ap.add_argument("--per-stream", type=positive_int, default=5, help="requests per stream in the fixed-count runs (5)")
    ap.add_argument("--seconds", type=positive_float, default=10.0, help="length of the fixed-time throughput run (10)")
    ap.add_argument("--throughput-streams", type=positive_int, default=200)
    ap.add_argument("--ramp", type=nonneg_float, default=0.0,
                    help="latency runs: stream k starts after RAMP*k/S s (0: all at once, so the ~1 s requests arrive "
                         "in bursts of S; 1: arrivals spread evenly, ~S requests/s)")
    ap.add_argument("--no-throughput", action="store_true", help="latency runs only")
    ap.add_argument("--targets", default=DEFAULT_TARGETS, help=f"routers KIND:POLICY ({DEFAULT_TARGETS})")
    a = ap.parse_args(argv)
    streams = a.streams
    for t in a.targets.split(","):
        kind, _, policy = t.partition(":")
        if kind not in ROUTERS or not policy:
            ap.error(f"--targets: {t!r} is not KIND:POLICY with KIND one of {', '.join(ROUTERS)}")
    if a.quick:
        streams, a.per_stream, a.seconds, a.throughput_streams = [20], 2, 2.0, 20
        a.targets = "lmetric:round-robin"
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) >= 2:
        proxy_cpus, rest = {cores[0]}, {cores[1]}
        os.sched_setaffinity(0, rest)
        layout = f"proxy pinned to core {cores[0]}; client and fake backends on core {cores[1]}"
    else:
        proxy_cpus = rest = None
        layout = "one core: nothing pinned (figures include client and backends on the same core)"
    targets = []
    for t in a.targets.split(","):
        kind = t.split(":", 1)[0]
        if router_available(kind):
            targets.append(t)
        else:
            print(f"skipping {t}: {kind} router not installed (make bench-install)")
    print(f"bench_serve — {layout}")
    print(f"machine: {machine_line()}")
    bodies = make_bodies(2000)

    slow, slow_urls = _fake_backends(10, 0.1, rest)
    fast, fast_urls = _fake_backends(4, 0.0, rest)
    rows = []
    try:
        print("\n## latency: S concurrent streams of ~1 s (10 SSE chunks 0.1 s apart), fixed count S x "
              f"{a.per_stream}, stream starts spread over {a.ramp:g} s"
              f"{' (all at once: bursts of S requests)' if a.ramp == 0 else ''}; added = through the proxy minus direct, "
              "same run")
        print("| target | streams | requests | lost | req/s | TTFB p50 ms | TTFB p99 ms | added p50 ms | added p99 ms "
              "| proxy's own added p50/p99 ms (bucket bound) | proxy RSS MiB | machine |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for s in streams:
            base = None
            for label in ["direct"] + targets:
                res, own, rss = _run_target(label, slow_urls, proxy_cpus, s, bodies, total=s * a.per_stream, ramp=a.ramp)
                if label == "direct":
                    base = res
                add50 = res.pct("ttfb_s", 50) - base.pct("ttfb_s", 50) if label != "direct" else None
                add99 = res.pct("ttfb_s", 99) - base.pct("ttfb_s", 99) if label != "direct" else None
                own_s = "—" if own is None else f"{_ms(own[0])} / {_ms(own[1])}"
                print(f"| {label} | {s} | {res.sent} | {res.lost} | {res.req_per_s:.0f} | {_ms(res.pct('ttfb_s', 50))} "
                      f"| {_ms(res.pct('ttfb_s', 99))} | {_ms(add50)} | {_ms(add99)} | {own_s} | {rss:.0f} "
                      f"| {machine_line()} |", flush=True)
                if res.errors:
                    print(f"    lost by reason: {res.errors}")
                rows.append(("latency", label, s, res))
        if not a.no_throughput:
            print(f"\n## throughput: {a.throughput_streams} streams, instant backends (4 chunks), fixed time {a.seconds:.0f} s")
            print("| target | requests | lost | req/s | ratio to sglang-router (same policy family) | machine |")
            print("|---|---|---|---|---|---|")
            tput: dict[str, LoadResult] = {}
            for label in ["direct"] + targets:
                res, _, _ = _run_target(label, fast_urls, proxy_cpus, a.throughput_streams, bodies, seconds=a.seconds)
                tput[label] = res
                ref = {"lmetric:lmetric": "sglang:cache_aware", "lmetric:round-robin": "sglang:round_robin"}.get(label)
                ratio = f"{res.req_per_s / tput[ref].req_per_s:.2f}" if ref in tput and tput[ref].req_per_s else "—"
                print(f"| {label} | {res.sent} | {res.lost} | {res.req_per_s:.0f} | {ratio} | {machine_line()} |", flush=True)
                if res.errors:
                    print(f"    lost by reason: {res.errors}")
            # ratios for rows printed before their reference
            for label, ref in (("lmetric:lmetric", "sglang:cache_aware"), ("lmetric:round-robin", "sglang:round_robin")):
                if label in tput and ref in tput and tput[ref].req_per_s:
                    print(f"{label} / {ref}: {tput[label].req_per_s / tput[ref].req_per_s:.2f}x requests/s")
    finally:
        slow.stop()
        fast.stop()
    lost = sum(r.lost for *_, r in rows)
    print(f"\nproxy requests lost over all latency runs: {lost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
