"""`lmetric simulate --detector watch|act` (the regime monitor in the loop of any run) and
the sidecar's `sim:PATH` source (a trace file simulated in process)."""

import io
import json
import re

import pytest

from analyzers.cli import main
from analyzers.detector.closed_loop import run_closed_loop
from analyzers.detector.monitor import RegimeMonitor
from analyzers.detector.scenarios import Scenario
from analyzers.sidecar.service import Sidecar
from analyzers.sim.profiles import get_profile
from analyzers.sim.runner import SimConfig, build_workload

# A small run (800 API requests on 4 H100s, ~40 simulated s) chosen because its act run
# exercises every kind of action: the no-queue port diverges (-> scorer switch to the
# reference product), 2 s snapshots without commit-time updates are stale (-> updates on),
# a 16-request batch cap saturates (-> alert). Found by trying the flags on the `api`
# generator (seed 0); the assertions below check that it still does.
ROUTING = ["--workload", "api", "--instances", "4", "--profile", "h100", "--limit", "800", "--scale", "6",
           "--snapshot-interval", "2", "--no-commit-updates", "--max-num-seqs", "16", "--scorer", "lmetric-noqueue"]
# Only saturation fires here (a 12-request cap), and its action is an alert: routing never changes.
ALERT_ONLY = ["--workload", "api", "--instances", "4", "--profile", "h100", "--limit", "1000", "--scale", "6",
              "--max-num-seqs", "12"]


def _simulate(out, args, mode):
    assert main(["simulate", *args, "--detector", mode, "--out", str(out), "--quiet", "--no-plots"]) == 0
    return out


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _transitions(events):
    return [(e["time"], e["regime"], e["transition"], e["key"]) for e in events if e["kind"] == "transition"]


def _actions(events):
    return [(e["time"], e["regime"], e["action"]) for e in events if e["kind"] == "action"]


class _Runs(dict):
    """ROUTING under act, watch and off, each simulated (~1.5 s) when first asked for."""

    def __init__(self, tmp):
        super().__init__()
        self.tmp = tmp

    def __missing__(self, mode):
        self[mode] = _simulate(self.tmp / mode, ROUTING, mode)
        return self[mode]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return _Runs(tmp_path_factory.mktemp("simdet"))


def test_act_writes_a_time_ordered_log_and_a_summary_that_counts_it(runs):
    out = runs["act"]
    events = _lines(out / "detector.jsonl")
    assert {e["kind"] for e in events} == {"transition", "action"}
    times = [e["time"] for e in events]
    assert times == sorted(times)
    acts = [a for _, _, a in _actions(events)]
    # the scenario does what the comment above ROUTING says (else the checks below prove little);
    # which fallback scorer the policy picks is the policy's business: any switch away from the base
    switches = [(t, a[len("scorer -> "):].split("{")[0]) for t, _, a in _actions(events) if a.startswith("scorer -> ")]
    assert {r for _, r, _, _ in _transitions(events)} >= {"staleness", "saturation"}
    assert switches and switches[0][1] != "lmetric-noqueue"
    assert "commit-time updates on" in acts and "alert (enter)" in acts
    d = json.loads((out / "summary.json").read_text())["detector"]
    assert d["mode"] == "act" and d["decisions"] == 800 and d["file"] == "detector.jsonl"
    per = {}
    for _, r, k, _ in _transitions(events):
        per.setdefault(r, {}).setdefault(k, 0)
        per[r][k] += 1
    assert d["transitions"] == per and d["actions"] == len(acts)
    assert d["base_scorer"] == "lmetric-noqueue" and d["final_scorer"] == switches[-1][1] and d["commit_updates_at_end"]
    assert d["divergence_judges"] == "lmetric-noqueue"
    # the router really switched live: every decision names the scorer in force when it was made
    # (decisions at the very time of a switch are skipped: the switch follows the record that caused it)
    dec = [r for r in _lines(out / "telemetry.jsonl") if r["kind"] == "decision"]
    at = {t for t, _ in switches}
    in_force = [next((n for t, n in reversed(switches) if t < r["time"]), "lmetric-noqueue") for r in dec]
    assert [r["scorer"] for r in dec if r["time"] not in at] == [n for r, n in zip(dec, in_force) if r["time"] not in at]
    # a real part of the run was rerouted (509 of the 800 decisions when this test was written)
    assert sum(r["scorer"] != "lmetric-noqueue" for r in dec) > 100


def test_act_equals_run_closed_loop_on_the_same_requests(runs):
    """The CLI's wiring against :func:`run_closed_loop`'s (the detector evaluation's) on
    the same requests and cluster: the same transitions and actions, in order."""
    reqs = build_workload(SimConfig(workload="api", limit=800, scale=6.0))
    sc = Scenario("routing", "", reqs, get_profile("h100", max_num_seqs=16), n_instances=4, snapshot_interval=2.0,
                  commit_updates=False, scorer="lmetric-noqueue")
    run = run_closed_loop(sc, mode="detector")
    events = _lines(runs["act"] / "detector.jsonl")
    assert _transitions(events) == [(t.time, t.regime, t.kind, t.key) for t in run.monitor.transitions]
    assert _actions(events) == [(a.time, a.regime, a.action) for a in run.monitor.policy.actions]


@pytest.mark.parametrize("mode", ["act", "watch"])
def test_transitions_equal_the_sidecar_fed_the_runs_telemetry(runs, mode):
    """telemetry.jsonl replayed through the sidecar core, record by record, with a monitor
    judging the same rule: the same transitions (reasons included) as the live loop."""
    out = runs[mode]
    mon = RegimeMonitor(4, budget=4096)  # h100's max_num_batched_tokens
    mon.by_regime["divergence"].family = "lmetric-noqueue"
    sink = io.StringIO()
    car = Sidecar(mon, events=sink)
    for rec in _lines(out / "telemetry.jsonl"):
        car.feed(rec)
    replayed = [e for e in map(json.loads, sink.getvalue().splitlines()) if e["kind"] == "transition"]
    live = [e for e in _lines(out / "detector.jsonl") if e["kind"] == "transition"]
    assert [(e["time"], e["regime"], e["transition"], e["key"], e["reason"]) for e in replayed] == \
           [(e["time"], e["regime"], e["transition"], e["key"], e["reason"]) for e in live]
    assert len(live) >= 3


def test_transitions_equal_the_sidecar_command_on_the_runs_telemetry(tmp_path, capsys):
    """End to end: `lmetric sidecar --source telemetry.jsonl` (its own defaults: the
    reference product judged, a 4,096-token budget = h100's, decisions in vectorised runs of
    512) on the telemetry of an act run of the reference product reports the transitions
    the live loop logged."""
    out = _simulate(tmp_path / "act", [a for a in ROUTING[:-2]], "act")  # ROUTING with the default scorer lmetric
    ev = tmp_path / "events.jsonl"
    assert main(["sidecar", "--source", str(out / "telemetry.jsonl"), "--instances", "4", "--events", str(ev)]) == 0
    capsys.readouterr()
    key = lambda e: (e["time"], e["regime"], e["transition"], e["key"], e["reason"])  # noqa: E731
    live = [key(e) for e in _lines(out / "detector.jsonl") if e["kind"] == "transition"]
    assert [key(e) for e in _lines(ev) if e["kind"] == "transition"] == live
    assert {r for _, r, _, _, _ in live} >= {"staleness", "saturation"}


def test_watch_never_touches_the_router(runs):
    watch = _lines(runs["watch"] / "detector.jsonl")
    assert watch and {e["kind"] for e in watch} == {"transition"}
    d = json.loads((runs["watch"] / "summary.json").read_text())["detector"]
    assert d["actions"] == 0 and d["final_scorer"] == "lmetric-noqueue" and not d["commit_updates_at_end"]
    # the run itself is the plain one, byte for byte
    for name in ("telemetry.jsonl", "requests.csv"):
        assert (runs["watch"] / name).read_bytes() == (runs["off"] / name).read_bytes()
    assert not (runs["off"] / "detector.jsonl").exists()
    assert "detector" not in json.loads((runs["off"] / "summary.json").read_text())
    # until act's first action changes the routing, both saw the same evidence
    act = _lines(runs["act"] / "detector.jsonl")
    t_first = _actions(act)[0][0]
    assert [t for t in _transitions(act) if t[0] <= t_first] == [t for t in _transitions(watch) if t[0] <= t_first]


def test_watch_and_act_differ_only_in_actions_when_no_action_routes(tmp_path):
    act = _simulate(tmp_path / "act", ALERT_ONLY, "act")
    watch = _simulate(tmp_path / "watch", ALERT_ONLY, "watch")
    ev_act, ev_watch = _lines(act / "detector.jsonl"), _lines(watch / "detector.jsonl")
    assert _transitions(ev_act) == _transitions(ev_watch) and _transitions(ev_act)
    assert _actions(ev_watch) == []
    assert [(t, r) for t, r, _ in _actions(ev_act)] == [(t, r) for t, r, _, _ in _transitions(ev_act)]
    assert all(a.startswith("alert") for _, _, a in _actions(ev_act))
    assert [e for e in ev_act if e["kind"] == "transition"] == ev_watch
    for name in ("telemetry.jsonl", "requests.csv"):
        assert (act / name).read_bytes() == (watch / name).read_bytes()


def test_several_scorers_each_get_their_own_log_with_speeds(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["simulate", "--workload", "api", "--instances", "4", "--profile", "h100", "--limit", "300",
                 "--speeds", "1,1,1,0.5", "--scorer", "lmetric,round-robin", "--detector", "watch", "--out", str(out),
                 "--quiet", "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert text.count("detector (watch)") == 2 and "detector.jsonl" in text
    for scorer in ("lmetric", "round-robin"):
        d = json.loads((out / scorer / "summary.json").read_text())["detector"]
        assert (out / scorer / "detector.jsonl").is_file()
        assert d["base_scorer"] == d["final_scorer"] == scorer and d["decisions"] == 300
        assert d["divergence_judges"] == "lmetric"  # round-robin is no product: the reference is judged


BAD = [
    (["simulate", "--detector", "on"], "argument --detector: invalid choice: 'on'"),
    (["simulate", "--detector", ""], "argument --detector: invalid choice: ''"),
    (["sidecar", "--source", "sim:"], "sim: needs a workload name or a trace file"),
    (["sidecar", "--source", "sim:nope"], "unknown workload 'nope'; known: "),
    (["sidecar", "--source", "sim:/no/such/trace.jsonl"], "/no/such/trace.jsonl: no such file"),
]


@pytest.mark.parametrize("argv,msg", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_values_give_one_line(argv, msg, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main([*argv, *(["--out", str(tmp_path)] if argv[0] == "simulate" else [])])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and msg in err and "Traceback" not in err


def _head(name, path, n):
    """The first ``n`` lines of a bundled trace (``name``) written as a user's own file."""
    from analyzers.sim.workloads import bundled_path

    path.write_text("".join(bundled_path(name).read_text().splitlines(keepends=True)[:n]))
    return path


def test_sidecar_sim_source_takes_a_trace_file(tmp_path, capsys):
    trace = _head("mooncake_conversation", tmp_path / "trace.jsonl", 300)
    csv = _head("azure_llm_2023_code", tmp_path / "azure.csv", 121)  # the header and 120 requests
    ev = tmp_path / "events.jsonl"
    assert main(["sidecar", "--source", f"sim:{trace}", "--instances", "4", "--events", str(ev)]) == 0
    assert re.search(r"decisions\s+300\b", capsys.readouterr().err)  # every request of the file was routed
    lines = [json.loads(line) for line in ev.read_text().splitlines()]
    assert lines[0]["kind"] == "start" and lines[0]["source"] == f"sim:{trace}" and lines[-1]["kind"] == "stop"
    assert main(["sidecar", "--source", f"sim:{csv}", "--instances", "2", "--limit", "50", "--json"]) == 0
    assert re.search(r"decisions\s+50\b", capsys.readouterr().err)


@pytest.mark.parametrize("content,name,msg", [
    ('{"timestamp": 0, "input_length": 100, "output_length": 3, "hash_ids": [1]}\nnot json\n', "t.jsonl",
     "t.jsonl:2: not valid JSON"),
    (b"\xff\xfe\x00\n", "bin.jsonl", "bin.jsonl: not UTF-8 text"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\n", "a.csv", "a.csv: the trace has no requests"),
    ("hello\n", "notes.txt", "notes.txt: unknown trace format"),
    (None, "empty_dir", "empty_dir: no conversation JSON files found"),
])
def test_sidecar_sim_source_rejects_bad_trace_files_in_one_line(tmp_path, capsys, content, name, msg):
    path = tmp_path / name
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(SystemExit) as exc:
        main(["sidecar", "--source", f"sim:{path}"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and msg in err and "Traceback" not in err
