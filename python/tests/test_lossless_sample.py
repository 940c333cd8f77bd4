"""The committed sample of the lossless corpus (tests/data/lossless/, tools/corpus/LOSSLESS.md):
the manifest matches the files, and the data has the properties the C++ tests rely on. numpy
only (on the default test path: run_default.py)."""
import hashlib
import json
import os

import pytest

np = pytest.importorskip("numpy")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(ROOT, "tests", "data", "lossless")
DTYPES = {"i64": "<i8", "i32": "<i4", "u8": "u1", "bf16": "<u2", "f16": "<f2", "f32": "<f4"}


@pytest.fixture(scope="module")
def manifest():
    with open(os.path.join(SAMPLE, "manifest.json")) as f:
        return json.load(f)


def load(entry):
    return np.fromfile(os.path.join(SAMPLE, entry["path"]), dtype=DTYPES[entry["dtype"]])


def bf16_to_f32(u):
    return (u.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x):
    """Round to nearest even, as torch's .to(torch.bfloat16) (no NaN in these files)."""
    u = x.astype("<f4").view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def test_manifest_matches_files(manifest):
    files = manifest["files"]
    assert manifest["format"] == "squeeze-lossless-corpus-1"
    assert len(files) >= 8
    listed = {e["path"] for e in files}
    on_disk = {n for n in os.listdir(SAMPLE) if n.endswith(".bin")}
    assert listed == on_disk
    total = 0
    for e in files:
        path = os.path.join(SAMPLE, e["path"])
        with open(path, "rb") as f:
            data = f.read()
        assert len(data) == e["bytes"], e["path"]
        assert hashlib.sha256(data).hexdigest() == e["sha256"], e["path"]
        assert e["byteorder"] == "little"
        assert int(np.prod(e["shape"])) == e["count"]
        assert e["count"] * np.dtype(DTYPES[e["dtype"]]).itemsize == e["bytes"]
        total += len(data)
    assert total <= 2 * 2**20


def kjt_pairs(manifest):
    by_key = {}
    for e in manifest["files"]:
        if e["kind"] in ("kjt_values", "kjt_lengths"):
            key = (e["config"], e["step"], e["src_rank"], e["dst_rank"])
            by_key.setdefault(key, {})[e["kind"]] = e
    return by_key


def test_kjt_ids_and_lengths(manifest):
    pairs = kjt_pairs(manifest)
    assert {c for c, _, _, _ in pairs} == {"dlrm_onehot", "dlrm_multihot"}
    for key, p in pairs.items():
        assert set(p) == {"kjt_values", "kjt_lengths"}, key
        ve, le = p["kjt_values"], p["kjt_lengths"]
        assert ve["dtype"] == "i64" and le["dtype"] == "i32"
        assert ve["src_rank"] != ve["dst_rank"]
        values, lengths = load(ve), load(le)
        tables = le["tables"]
        assert tables == ve["tables"]
        lengths = lengths.reshape(le["shape"])
        assert lengths.shape == (len(tables), le["local_batch"])
        assert lengths.min() >= 1
        if key[0] == "dlrm_onehot":
            assert (lengths == 1).all()
        else:
            assert lengths.max() <= 20 and len(np.unique(lengths)) > 10
        assert int(lengths.sum()) == values.size
        for k, t in enumerate(tables):
            assert int(lengths[k].sum()) == t["ids"] == t["end"] - t["begin"]
            ids = values[t["begin"]:t["end"]]
            assert ids.min() >= 0 and ids.max() < t["rows"], (key, t["name"])
        # Ids below 10^6 rows: the five top byte planes of the int64s are zero.
        assert values.max() < 2**24
        planes = values.view(np.uint8).reshape(-1, 8)
        assert not planes[:, 3:].any()


def test_float_files_finite_and_consistent(manifest):
    floats = [e for e in manifest["files"] if e["dtype"] in ("bf16", "f16", "f32")]
    assert {e["dtype"] for e in floats} == {"bf16", "f16", "f32"}
    as_f32 = {}
    for e in floats:
        assert e["kind"] in ("pp_activation", "pp_gradient")
        raw = load(e)
        x = bf16_to_f32(raw) if e["dtype"] == "bf16" else raw.astype(np.float32)
        assert np.isfinite(x).all(), e["path"]
        assert np.abs(x).max() > 0
        as_f32[(e["kind"], e["step"], e["dtype"])] = (e, raw)
    # The three files of one step hold the same tensor: bf16 and f16 are the f32 one rounded
    # (the f16 gradient times its loss scale).
    checked = 0
    for (kind, step, dtype), (e, raw) in as_f32.items():
        if dtype != "f32":
            continue
        x = raw.astype(np.float32)
        if (kind, step, "bf16") in as_f32:
            assert np.array_equal(as_f32[(kind, step, "bf16")][1], f32_to_bf16(x))
            checked += 1
        if (kind, step, "f16") in as_f32:
            e16, h = as_f32[(kind, step, "f16")]
            scale = e16.get("loss_scale", 1.0)
            assert (scale == 1.0) == (kind == "pp_activation")
            assert np.array_equal(h, (x * np.float32(scale)).astype(np.float16))
            checked += 1
    assert checked >= 4
