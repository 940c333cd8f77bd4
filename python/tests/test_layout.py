"""Row layouts and the adaptive bound from Python: the library's class and schedule rules, the
TorchRec helpers (table_layout, layout_text, plugin_layout_for_plan), frames.Link applying a
layout as the plugin does, and register_layout / set_plugin_iteration on the built plugin.
numpy only. Seed: SQUEEZE_TEST_SEED (printed)."""
import ctypes
import os

import pytest

np = pytest.importorskip("numpy")

from squeeze import codec, frames, torchrec  # noqa: E402

from _bounds import seed  # noqa: E402

if not codec.available():
    pytest.skip("libsqueeze_c.so not built", allow_module_level=True)


def test_class_and_schedule_rules_come_from_the_library():
    assert codec.class_bound(10_000_000, 0.01) == 0.01
    assert codec.class_bound(5000, 0.01) == pytest.approx(0.03)
    assert codec.class_bound(3, 0.01) == pytest.approx(0.05)
    assert codec.class_bound(0, 0.01) == pytest.approx(0.03)
    assert codec.schedule_factor("step", 0) == 2.0
    assert codec.schedule_factor("step", 6554) == pytest.approx(1.9)
    assert codec.schedule_factor("step", 65536) == 1.0
    assert codec.schedule_factor("linear", 32768) == pytest.approx(1.5)
    assert codec.schedule_factor("constant", 0) == 1.0
    with pytest.raises(ValueError):
        codec.schedule_factor("cosine", 0)


def test_table_layout_and_its_text():
    tables = [torchrec.TableSpec("t_small", 64, 10), torchrec.TableSpec("t_big", 64, 10**7),
              torchrec.TableSpec("t_mid", 32, 5000)]
    lay = torchrec.table_layout(tables, 0.01, overrides={"t_mid": 0.02})
    assert list(lay.cols) == [64, 64, 32]
    assert lay.bounds == pytest.approx([0.05, 0.01, 0.02])
    assert torchrec.layout_text(tables, 0.01) == "64@10=0.05,64@10000000=0.01,32@5000=0.03"


def test_plugin_layout_for_plan():
    a = [torchrec.TableSpec("a", 64, 10), torchrec.TableSpec("b", 128, 10)]
    b = [torchrec.TableSpec("c", 64, 99), torchrec.TableSpec("d", 128, 7)]
    tables, per_table, _ = torchrec.plugin_layout_for_plan({0: a, 1: b})
    assert [t.dim for t in tables] == [64, 128] and per_table
    tables, per_table, _ = torchrec.plugin_layout_for_plan(
        {0: [torchrec.TableSpec("a", 64)], 1: [torchrec.TableSpec("b", 64)] * 2})
    assert [t.dim for t in tables] == [64] and not per_table
    tables, _, why = torchrec.plugin_layout_for_plan({0: a, 1: [torchrec.TableSpec("c", 32)]})
    assert tables is None and "cannot" in why


def three_tables(rng, rows):
    """Rows of 64 + 64 + 128 float32 (1 KiB: every step starts at a row), scales 100 / 1e-3 / 1."""
    x = np.concatenate([100 * rng.standard_normal((rows, 64)),
                        1e-3 * rng.standard_normal((rows, 64)),
                        rng.standard_normal((rows, 128))], axis=1).astype(np.float32)
    return x


def per_table_error(x, y, cols, rel):
    out, c = [], 0
    for w in cols:
        xs, ys = x[:, c:c + w].astype(np.float64), y[:, c:c + w].astype(np.float64)
        out.append(np.abs(xs - ys).max() / (rel * (xs.max() - xs.min())))
        c += w
    return out


def test_link_applies_a_layout_as_the_plugin_does():
    rng = np.random.default_rng([seed(), 3])
    x = three_tables(rng, 1024)  # 1 MiB: 8 steps
    lay = codec.Layout([64, 64, 128])
    link = frames.Link("rel", 1e-2, history=False, layout=lay)
    y = link.round_trip(x)
    # Every step's tables within their own bound in that step, so within it over the message.
    assert max(per_table_error(x, y, lay.cols, 1e-2)) <= 1.0
    plain = frames.Link("rel", 1e-2, history=False).round_trip(x)
    assert per_table_error(x, plain, lay.cols, 1e-2)[1] > 10  # frame-wide: the small table erased
    # Rows the plugin cannot place (26 x 64 f32 = 6.5 KiB): the smallest bound, frame-wide ...
    wide = codec.Layout([64] * 26, [0.01] * 25 + [0.005])
    got, smallest = frames.plugin_layout(wide, 4, "rel")
    assert got is None and smallest == 0.005
    assert codec.layout_placement(wide.cols, 4, "rel") == "none"  # the rule, from the library
    assert codec.layout_placement(wide.cols, 4, "local") == "vectors"
    assert codec.layout_placement([64, 64, 128], 4, "rel") == "tables"
    got, _ = frames.plugin_layout(wide, 4, "local")  # ... but local records per vector
    assert list(got.cols) == [64] and got.bounds == [0.005]
    # exact_columns: every step from its true column, so the table quantizer everywhere.
    z = rng.standard_normal((600, 26 * 64)).astype(np.float32)
    exact = frames.Link("rel", 1e-2, history=False, layout=wide, exact_columns=True)
    exact.round_trip(z)
    as_plugin = frames.Link("rel", 1e-2, history=False, layout=wide)
    as_plugin.round_trip(z)
    assert exact.stats.wire_bytes != as_plugin.stats.wire_bytes


def plugin_path():
    from squeeze.plugin import find_plugin
    try:
        return find_plugin()
    except FileNotFoundError:
        pytest.skip("plugin not built")


def test_register_layout_and_iteration_reach_the_plugin():
    path = plugin_path()
    plan = {0: [torchrec.TableSpec("a", 64, 10), torchrec.TableSpec("b", 192, 10**6)],
            1: [torchrec.TableSpec("c", 64, 10**6), torchrec.TableSpec("d", 192, 50)]}
    text = torchrec.register_layout(plan, 0.01, plugin_path=str(path))
    assert text == "64@10=0.05,192@1000000=0.01"
    lib = ctypes.CDLL(str(path))
    torchrec.set_plugin_iteration(1234, plugin_path=str(path))
    it, factor = ctypes.c_uint64(), ctypes.c_double()
    lib.squeeze_get_iteration(ctypes.byref(it), ctypes.byref(factor))
    assert it.value == 1234 and factor.value == 1.0  # the configured schedule: constant
    assert lib.squeeze_set_layout(None) == 0
    mixed = {0: [torchrec.TableSpec("a", 64)], 1: [torchrec.TableSpec("b", 32)]}
    assert torchrec.register_layout(mixed, 0.01, plugin_path=str(path)) is None
