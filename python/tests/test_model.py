"""squeeze-model's arithmetic (python/squeeze/model.py): plain Python."""
import math

import pytest

from squeeze import model as m


def close(a, b, tol=1e-12):
    return abs(a - b) <= tol * max(1.0, abs(b))


def test_paper_arithmetic():
    b = m.Breakdown()
    assert close(b.total, 100.0)
    # The paper's own figure: forward all-to-all 31.3 -> 3.64 gives 100 / 72.34 = 1.382x.
    assert close(m.speedup_from_a2a_share(b, m.PAPER_FWD_AFTER), 100.0 / 72.34)
    assert round(m.speedup_from_a2a_share(b, m.PAPER_FWD_AFTER), 2) == 1.38


def test_a2a_speedup_is_the_papers_S():
    c = m.Codec(ratio=10.0, compress_gbps=100.0, decompress_gbps=50.0)
    L = 25.0
    assert close(m.a2a_speedup(L, c), 1.0 / (1 / 10.0 + L / 100.0 + L / 50.0))
    # Pipelined: the slowest stage: max(1/(10*25), 1/100, 1/50) = 1/50 -> 50/25 = 2x.
    assert close(m.a2a_speedup(L, c, pipelined=True), 2.0)


def test_free_codec_gives_the_ratio_on_the_a2a():
    c = m.Codec(8.0, math.inf, math.inf)
    b = m.Breakdown()
    assert close(m.a2a_speedup(3.0, c), 8.0)
    # At the reference rate, forward only: 100 / (31.3/8 + 31.3 + 22.9 + 14.5).
    assert close(m.speedup(b, b.reference_gbps, c), 100.0 / (31.3 / 8 + 31.3 + 22.9 + 14.5))
    both = 100.0 / (2 * 31.3 / 8 + 22.9 + 14.5)
    assert close(m.speedup(b, b.reference_gbps, c, compress_bwd=True), both)


def test_link_rate_scales_only_the_all_to_all():
    b = m.Breakdown(40, 20, 30, 10, reference_gbps=10.0)
    # At twice the rate the all-to-all halves: 0.4/2 + 0.2/2 + 0.3 + 0.1.
    assert close(m.step_time(b, 20.0), 0.3 + 0.4)
    assert close(m.step_time(b, 10.0), 1.0)
    c = m.Codec(4.0, 40.0, 80.0)
    # Forward compressed at 20 GB/s: volume 0.4 * 10 = 4: 4/(4*20) + 4/40 + 4/80 = 0.2.
    assert close(m.step_time(b, 20.0, c), 0.2 + 0.1 + 0.3 + 0.1)
    assert close(m.speedup(b, 20.0, c), 0.7 / 0.7)


def test_speedup_falls_with_link_rate_when_the_codec_costs():
    b = m.Breakdown()
    c = m.Codec(9.0, 5.0, 8.0)
    rows = m.table(b, c, [1.0, 10.0, 100.0])
    fwd = [r["forward"] for r in rows]
    assert fwd[0] > fwd[1] > fwd[2]
    assert rows[2]["forward"] < 1.0  # a CPU codec loses on a 100 GB/s link
    for r in rows:   # compressing both directions helps exactly when compressing one does
        assert (r["fwd+bwd"] > r["forward"]) == (r["forward"] > 1.0)


def test_invalid_inputs():
    with pytest.raises(ValueError):
        m.Codec(0, 1, 1)
    with pytest.raises(ValueError):
        m.Codec(2, 0, 1)
    with pytest.raises(ValueError):
        m.Breakdown(-1, 1, 1, 1)
    with pytest.raises(ValueError):
        m.a2a_time(1.0, 0.0)


def test_cli_prints_the_table(capsys):
    assert m.main(["--ratio", "8", "--compress-gbps", "inf", "--decompress-gbps", "inf",
                   "--link-gbps", "25"]) == 0
    out = capsys.readouterr().out
    expect = 100.0 / (31.3 / 8 + 31.3 + 22.9 + 14.5)
    assert f"| 25 | 8.00x | {expect:.3f}x |" in out
