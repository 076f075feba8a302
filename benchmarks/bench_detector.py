"""Detector speed: decision records/s through the full monitor (validation + every
detector + policy), and the cost of one scrape round of 16 Prometheus expositions.

Targets (issue 5): at least 50,000 decision records per second, and 16 instances
scraped every 100 ms (one round must take well under 100 ms), on one core.

    python -m benchmarks.bench_detector [--quick]
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks._common import parse_args_one_core
from analyzers.detector.monitor import RegimeMonitor
from analyzers.detector.policy import MitigationPolicy
from analyzers.router.router import Router
from analyzers.sidecar.sources import parse_metrics
from analyzers.sim.cluster import Cluster
from analyzers.sim.profiles import get_profile
from analyzers.sim.workloads import load_workload

EXPOSITION = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",model_name="qwen"}} {r}
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{engine="0",model_name="qwen"}} {w}
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{{engine="0",model_name="qwen"}} 0.{r}
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{{engine="0",model_name="qwen"}} {q}
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{{engine="0",model_name="qwen"}} {h}
# TYPE vllm:num_preemptions counter
vllm:num_preemptions_total{{engine="0",model_name="qwen"}} 3
# TYPE vllm:prompt_tokens counter
vllm:prompt_tokens_total{{engine="0",model_name="qwen"}} {q}
# TYPE vllm:generation_tokens counter
vllm:generation_tokens_total{{engine="0",model_name="qwen"}} {h}
"""


def main(argv=None) -> int:
    a = parse_args_one_core(__doc__, argv)
    n = 4000 if a.quick else 40_000
    reqs = load_workload("api", np.random.default_rng(0), limit=n)
    res = Cluster(16, get_profile("h20")).run(reqs, Router("lmetric", rng=np.random.default_rng(0)), telemetry_interval=None)
    records = [d.to_dict() for d in res.decisions]

    def rate(batched: bool) -> float:
        """Median of three runs, each through a fresh monitor with the mitigation policy."""
        rates = []
        for _ in range(3):
            mon = RegimeMonitor(16, policy=MitigationPolicy(Router("lmetric", rng=np.random.default_rng(0))))
            t = time.perf_counter()
            if batched:
                mon.process_many(records)
            else:
                for r in records:
                    mon.process(r)
            rates.append(len(records) / (time.perf_counter() - t))
        return float(np.median(rates))

    batched, single = rate(True), rate(False)
    print(f"decision records through the monitor (stream ingestion, runs of 512): {batched:,.0f}/s "
          f"(target >= 50,000/s: {'meets' if batched >= 50_000 else 'MISSES'})")
    print(f"decision records one at a time (live follow mode): {single:,.0f}/s "
          f"({single / batched:.2f}x of the batched rate)")
    mon = RegimeMonitor(16, policy=MitigationPolicy(Router("lmetric", rng=np.random.default_rng(0))))
    texts = [EXPOSITION.format(r=i % 9 + 1, w=i % 3, q=1000 * i, h=400 * i) for i in range(16)]
    rounds = 200 if a.quick else 1000
    t = time.perf_counter()
    for k in range(rounds):
        for i, text in enumerate(texts):
            mon.process(parse_metrics(text, i, 1.0 + 0.1 * k))
    per_round = (time.perf_counter() - t) / rounds * 1000
    print(f"one scrape round (parse + monitor) of 16 instances: {per_round:.2f} ms "
          f"(budget 100 ms at a 100 ms interval: {'meets' if per_round < 100 else 'MISSES'}; "
          f"{per_round / 100:.1%} of one core)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
