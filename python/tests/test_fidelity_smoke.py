"""Smoke of the fidelity study's script (tools/fidelity/study.py --smoke): two configurations,
one seed, the tiny preset, in a temporary folder. Marked torch (needs torch); skipped without
libsqueeze_c.so. A few seconds."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from squeeze import codec  # noqa: E402

pytestmark = pytest.mark.torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.skipif(not codec.available(), reason="libsqueeze_c.so not built")
def test_study_smoke(tmp_path):
    env = dict(os.environ, SQUEEZE_C_LIB=codec.library_path())
    cmd = [sys.executable, os.path.join(ROOT, "tools", "fidelity", "study.py"), "--smoke",
           "--out", str(tmp_path), "--seeds", "1", "--jobs", "1", "--window", "2",
           "--configs", "int8,local-1.96e-3"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    s = json.loads((tmp_path / "summary.json").read_text())
    rows = {r["config"]: r for r in s["rows"]}
    assert set(rows) == {"none", "int8", "local-1.96e-3"}
    assert rows["none"]["dauc"] == [0.0]
    assert rows["local-1.96e-3"]["ratio_mean"] > 2.0
    run = json.loads((tmp_path / "runs" / "local-1.96e-3_s1.json").read_text())
    errs = run["forward"]["table_error"]["late"]
    assert len(errs) == 26 and max(errs.values()) < 0.1
    assert (tmp_path / "runs.csv").read_text().count("\n") == 4
    # A folder holds one scale: the same folder at another preset is refused before any training.
    other = cmd[:2] + ["--preset", "quick"] + cmd[3:]
    out = subprocess.run(other, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "holds runs of preset 'tiny', not 'quick'" in out.stderr
