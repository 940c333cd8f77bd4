"""python -m squeeze {env, check, stats} and squeeze-plots.

The statistics are the plugin's own: squeeze-a2a runs two ranks through the real plugin with
--stats-dir and `python -m squeeze stats` summarises the JSON lines the plugin wrote. The plugin
and squeeze-a2a come from $SQUEEZE_PLUGIN / $SQUEEZE_A2A (ctest python_cli sets both), else the
repository's build/; tests that need them skip without them. The plots need matplotlib.
"""
import glob
import io
import json
import os
import subprocess
import sys

import pytest

from squeeze import plugin as sp
from squeeze import stats

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _path(env, rel):
    p = os.environ.get(env) or os.path.join(ROOT, "build", rel)
    return p if os.path.isfile(p) else None


PLUGIN = _path("SQUEEZE_PLUGIN", "plugin/libnccl-net-squeeze.so")
A2A = _path("SQUEEZE_A2A", "tools/a2a/squeeze-a2a")
needs_plugin = pytest.mark.skipif(PLUGIN is None, reason="no plugin (build/plugin)")
needs_a2a = pytest.mark.skipif(PLUGIN is None or A2A is None, reason="no squeeze-a2a / plugin")


def _run(*args, env=None):
    e = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "squeeze", *args], capture_output=True,
                          text=True, env=e, timeout=120)


# ---- env ----

def test_env_lines_name_the_plugin_by_absolute_path(tmp_path):
    lib = tmp_path / "dir with space" / sp.PLUGIN_FILE
    lib.parent.mkdir()
    lib.write_bytes(b"")
    r = _run("env", "--plugin", str(lib), "--set", "bound=1e-3", "--stats-file", "/tmp/x y")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"export NCCL_NET_PLUGIN='{lib}'"
    assert "export NCCL_NET=Squeeze" in lines
    assert "export NCCL_SQUEEZE_BOUND=1e-3" in lines
    assert "export NCCL_SQUEEZE_STATS_FILE='/tmp/x y'" in lines
    # The lines are shell that sets exactly these values.
    out = subprocess.run(["bash", "-c", r.stdout + 'printf "%s|%s" "$NCCL_NET_PLUGIN" '
                          '"$NCCL_SQUEEZE_STATS_FILE"'], capture_output=True, text=True)
    assert out.stdout == f"{lib}|/tmp/x y"
    assert "NCCL_NET=" not in _run("env", "--plugin", str(lib), "--no-force").stdout


def test_env_without_a_plugin_fails_naming_it(tmp_path):
    r = _run("env", "--plugin", str(tmp_path / "missing.so"))
    assert r.returncode == 1
    assert "missing.so" in r.stderr


# ---- check ----

@needs_plugin
@pytest.mark.parametrize("table", [None, 8, 9, 10, 11])
def test_check_loads_the_plugin_through_every_table(table):
    # A fresh process each: the plugin logs its settings at the first init of a process only.
    r = _run("check", "--plugin", PLUGIN, "--json", *(["--table", str(table)] if table else []),
             env={"NCCL_SQUEEZE_MIN_BYTES": "8192"})
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout)
    assert res["ok"], res.get("error")
    assert res["table"] == f"ncclNetPlugin_v{table or 11}"
    assert res["tables"] == {f"v{v}": "Squeeze" for v in (11, 10, 9, 8)}
    assert res["devices"], "no device"
    for d in res["devices"]:
        assert d["ptrSupport"] & sp.NCCL_PTR_HOST
        assert d["maxRecvs"] == 1
        assert d["name"]
    assert any("NCCL_SQUEEZE_BOUND=1e-2 (default)" in s for s in res["settings"]), res
    assert any("NCCL_SQUEEZE_MIN_BYTES=8192 (env)" in s for s in res["settings"]), res


@needs_plugin
def test_check_reports_an_invalid_setting_and_fails():
    r = _run("check", "--plugin", PLUGIN, env={"NCCL_SQUEEZE_BOUND": "-1"})
    assert r.returncode == 1, r.stdout
    assert "check: FAILED: init returned" in r.stdout
    assert "NCCL_SQUEEZE_BOUND" in r.stdout  # the plugin's WARN says why


# ---- stats: arithmetic on hand-made records ----

def _rec(d, peer, tag, bin_, wire, lossy, small=0, bound=1e-3, ms=1.0, **kw):
    r = {"conn": kw.pop("conn", 0), "dir": d, "peer": peer, "tag": tag, "messages": lossy + small,
         "bytes_in": bin_, "bytes_wire": wire, "ratio": bin_ / wire, "max_bound": bound,
         "codec_ms": ms, "outliers": 0,
         "decisions": {"lossy": lossy, "pass_too_small": small, "pass_integer": 0}}
    r.update(kw)
    return r


def test_summary_groups_by_direction_and_peer_and_totals():
    recs = [_rec("send", "10.0.0.2:5000", 1, 1000, 250, 3, 1, conn=1),
            _rec("send", "10.0.0.2:5001", 1, 3000, 750, 2, 0, bound=2e-3, ms=2.0, conn=2),
            _rec("recv", "10.0.0.2:41234", 1, 4000, 1000, 5, 1, conn=3),
            _rec("send", "10.0.0.3:5000", 2, 500, 500, 0, 4, bound=0.0, conn=4)]
    g = stats.summarise(recs)
    assert [(x.direction, x.peer) for x in g] == [("send", "10.0.0.2"),
                                                 ("send", "10.0.0.3"),
                                                 ("recv", "rank 1 @ 10.0.0.2")]
    a = g[0]
    assert (a.conns, a.bytes_in, a.bytes_wire, a.lossy, a.passthrough) == (2, 4000, 1000, 5, 1)
    assert a.ratio == 4.0 and a.max_bound == 2e-3 and a.codec_ms == 3.0
    assert a.reasons() == "pass_too_small 1"
    t = stats.total(g)
    assert (t.bytes_in, t.bytes_wire) == (8500, 2500) and t.ratio == 3.4
    table = stats.format_table(g)
    assert "4.000" in table and "pass_too_small 4" in table and "rank 1 @ 10.0.0.2" in table


def test_measured_error_is_shown_against_the_bound():
    recs = [_rec("send", "h:1", 0, 100, 50, 1, max_err_over_bound=0.5, verified=1),
            _rec("send", "h:2", 0, 100, 50, 1, max_err_over_bound=0.75, verified=1),
            _rec("send", "g:1", 0, 100, 50, 1)]
    g = stats.summarise(recs)
    assert (g[1].peer, g[1].max_err, g[1].verified) == ("h", 0.75, 2)
    assert g[0].max_err is None
    table = stats.format_table(g)
    assert "max err/bound" in table and "0.750" in table


def test_history_frames_are_summed_and_shown():
    recs = [_rec("send", "h:1", 0, 100, 50, 30, history={"with": 16, "without": 14}),
            _rec("send", "h:2", 0, 100, 50, 20, history={"with": 20, "without": 0}),
            _rec("send", "g:1", 0, 100, 50, 5),
            _rec("recv", "h:3", 0, 100, 50, 5)]
    g = stats.summarise(recs)
    h = next(x for x in g if x.peer == "h")
    assert h.history == {"with": 36, "without": 14} and h.history_text() == "36/14"
    assert next(x for x in g if x.peer == "g").history_text() == "-"
    assert stats.total(g).history == {"with": 36, "without": 14}
    table = stats.format_table(g)
    assert "history with/without" in table and "36/14" in table
    # No history connection at all: no column.
    assert "history" not in stats.format_table(stats.summarise(recs[2:]))


def test_lines_that_are_not_records_are_skipped_and_named():
    recs, skipped = stats.read_records(["{\"conn\": 1}", "not json", "",
                                        json.dumps(_rec("send", "p", 0, 1, 1, 1))])
    assert len(recs) == 1
    assert skipped[0].startswith("line 1") and skipped[1].startswith("line 2")


# ---- stats and plots on what the plugin really wrote ----

@pytest.fixture(scope="module")
def a2a_run(tmp_path_factory):
    if PLUGIN is None or A2A is None:
        pytest.skip("no squeeze-a2a / plugin")
    d = tmp_path_factory.mktemp("a2a")
    size = 256 * 1024
    cmd = [A2A, "--plugin", PLUGIN, "--ranks", "2", "--channels", "1", "--size", str(size),
           "--iters", "2", "--warmup", "1", "--phases", "both", "--mode", "local",
           "--bound", "1.96e-3", "--timeout", "30", "--stats-dir", str(d / "stats"),
           "--json", str(d / "a2a.json")]
    # NCCL_SQUEEZE_VERIFY: the senders measure the error of every frame against its bound.
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, NCCL_SQUEEZE_VERIFY="1"))
    assert r.returncode == 0, r.stdout + r.stderr
    return d, size


def test_stats_of_a_real_job(a2a_run):
    d, size = a2a_run
    files = sorted(glob.glob(str(d / "stats" / "stats.c.*.jsonl")))
    assert len(files) == 2, files  # one per rank, the compressed phase
    records = []
    for f in files:
        with open(f) as fh:
            r, skipped = stats.read_records(fh)
        assert not skipped
        records += r
    out = io.StringIO()
    assert stats.main(files + ["--json"], out=out) == 0
    rows = json.loads(out.getvalue())
    total = rows[-1]
    assert total["dir"] == "all"
    # Every byte a rank sent, its peer received: both sides count the same bytes.
    send = [x for x in rows[:-1] if x["dir"] == "send"]
    recv = [x for x in rows[:-1] if x["dir"] == "recv"]
    assert sum(x["bytes_in"] for x in send) == sum(x["bytes_in"] for x in recv) > 0
    assert sum(x["bytes_wire"] for x in send) == sum(x["bytes_wire"] for x in recv)
    # Compressed: fewer bytes on the wire, the bound it was given, lossy decisions counted.
    for x in send:
        assert x["bytes_wire"] < x["bytes_in"], x
        assert x["ratio"] > 1.0 and x["lossy"] > 0, x
        assert x["max_bound"] == pytest.approx(1.96e-3), x
        assert x["codec_ms"] > 0, x
        # Measured by the plugin: every message checked, within the bound, not exact.
        assert x["verified"] == x["lossy"], x
        assert 0 < x["max_err_over_bound"] <= 1, x
    for x in recv:
        assert x["max_err_over_bound"] is None and x["verified"] == 0, x
    # The table agrees with the plugin's records, line by line.
    assert total["bytes_in"] == sum(r["bytes_in"] for r in records)
    assert total["bytes_wire"] == sum(r["bytes_wire"] for r in records)
    table = _run("stats", *files)
    assert table.returncode == 0, table.stderr
    assert "lossy" in table.stdout and f"{total['ratio']:.3f}" in table.stdout
    assert "max err/bound" in table.stdout and f"{total['max_err_over_bound']:.3f}" in table.stdout
    # The passthrough phase: nothing compressed, ratio 1, the reason given.
    pfiles = sorted(glob.glob(str(d / "stats" / "stats.p.*.jsonl")))
    out = io.StringIO()
    assert stats.main(pfiles + ["--json", "--by", "dir"], out=out) == 0
    for x in json.loads(out.getvalue()):
        assert x["lossy"] == 0 and x["bytes_wire"] == x["bytes_in"], x
        if x["dir"] == "send":
            assert x["decisions"].get("pass_disabled", 0) == x["passthrough"] > 0, x


def _have_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False


needs_mpl = pytest.mark.skipif(not _have_matplotlib(), reason="no matplotlib")


def _png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


@needs_mpl
def test_plots_of_a_real_job(a2a_run, tmp_path):
    from squeeze import plots
    d, _ = a2a_run
    files = sorted(glob.glob(str(d / "stats" / "stats.c.*.jsonl")))
    assert plots.main(files + ["-o", str(tmp_path)]) == 0
    assert _png(tmp_path / "connection_stats.png")
    # A loopback squeeze-a2a run has no link rate: nothing to plot against, and it says so.
    assert plots.main([str(d / "a2a.json"), "-o", str(tmp_path)]) == 2


def _bench(bound, ratio, err, **over):
    doc = {"source": "generate dlrm", "seed": 1, "values": 1000, "dtype": "f32",
           "input_bytes": 4000, "mode": "abs", "bound": bound,
           "rows": [{"name": "memcpy", "ratio": 1, "max_abs_err": 0},
                    {"name": "fp16", "ratio": 2, "max_abs_err": 1e-4},
                    {"name": "int8-rowwise", "ratio": 3.2, "max_abs_err": 1e-2},
                    {"name": "squeeze abs", "ratio": ratio, "max_abs_err": err}]}
    doc.update(over)
    return doc


def test_ratio_vs_error_points_and_same_data_rule():
    from squeeze import plots
    p = plots.ratio_vs_error_points([_bench(1e-2, 9.0, 9e-3), _bench(1e-3, 5.0, 1e-3)])
    assert p["squeeze"] == [(1e-3, 1e-3, 5.0), (1e-2, 9e-3, 9.0)]
    assert p["baselines"] == {"fp16": (1e-4, 2.0), "int8-rowwise": (1e-2, 3.2)}
    with pytest.raises(ValueError, match="same data"):
        plots.ratio_vs_error_points([_bench(1e-2, 9, 9e-3), _bench(1e-3, 5, 1e-3, seed=2)])
    with pytest.raises(ValueError, match="mode abs"):
        plots.ratio_vs_error_points([_bench(1e-2, 9, 9e-3, mode="local")])


def test_speedup_points_by_rate_and_size():
    from squeeze import plots
    assert plots.parse_rate("1gbit") == 1e9 and plots.parse_rate("500mbit") == 5e8
    assert plots.parse_rate("") is None
    docs = [{"tool": "squeeze-a2a", "netns_rate": rate,
             "rows": [{"phase": "passthrough", "bytes_per_peer": 1024, "speedup_vs_passthrough": 0},
                      {"phase": "compressed", "bytes_per_peer": 1024, "speedup_vs_passthrough": s}]}
            for rate, s in (("1gbit", 3.0), ("100mbit", 5.0), ("", 0.5))]
    assert plots.speedup_points(docs) == {1024: [(1e8, 5.0), (1e9, 3.0)]}


@needs_mpl
def test_plots_from_bench_and_a2a_json(tmp_path):
    from squeeze import plots
    files = []
    for i, doc in enumerate([_bench(1e-2, 9.0, 9e-3), _bench(1e-3, 5.0, 1e-3),
                             {"tool": "squeeze-a2a", "netns_rate": "1gbit", "ranks": 2,
                              "payload": "dlrm", "dtype": "f32", "mode": "local", "bound": 1e-3,
                              "rows": [{"phase": "compressed", "bytes_per_peer": 4096,
                                        "speedup_vs_passthrough": 2.0}]}]):
        f = tmp_path / f"{i}.json"
        f.write_text(json.dumps(doc))
        files.append(str(f))
    assert plots.main(files + ["-o", str(tmp_path / "out")]) == 0
    assert _png(tmp_path / "out" / "ratio_vs_error.png")
    assert _png(tmp_path / "out" / "speedup_vs_link_rate.png")
