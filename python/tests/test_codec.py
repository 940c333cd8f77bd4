"""The ctypes binding (squeeze.codec) and the plugin's framing (squeeze.frames): numpy only.
Skipped when libsqueeze_c.so was not built. Seed: SQUEEZE_TEST_SEED (printed)."""
import math

import pytest

np = pytest.importorskip("numpy")

from squeeze import codec, frames  # noqa: E402

from _bounds import assert_within_bound, seed  # noqa: E402

if not codec.available():
    pytest.skip("libsqueeze_c.so not built (cmake --build build --target squeeze_c)",
                allow_module_level=True)

MODES = [("local", 1.96e-3), ("local", 3e-2), ("rel", 1e-2), ("rel", 5e-2), ("abs", 1e-3)]


def payload(rng, rows=512, tables=(1e-3, 3e-2, 0.5, 4.0), dim=16, nonfinite=True):
    """Rows of tables of very different scales, as a rank's pooled embeddings, some NaN/Inf."""
    x = np.concatenate([s * rng.uniform(-1, 1, size=(rows, dim)) for s in tables],
                       axis=1).astype(np.float32)
    if nonfinite:
        flat = x.reshape(-1)
        idx = rng.choice(flat.size, size=flat.size // 400, replace=False)
        flat[idx[0::3]] = np.nan
        flat[idx[1::3]] = np.inf
        flat[idx[2::3]] = -np.inf
    return x


def test_library():
    print("seed", seed(), "library", codec.library_path(), "backend", codec.backend())
    assert codec.max_frame_bytes(1000) == 1000 + codec.FRAME_HEADER_BYTES
    assert codec.status_string(codec.OK) == "ok"
    assert codec.status_string(codec.CORRUPT_FRAME) == "corrupt frame"
    assert codec.status_string(12345) == "unknown status"


def test_caps_passed_are_those_the_library_knows():
    """A library refuses capability bits it does not know: the binding passes a library of C API
    version v only the bits of version v (5: no packed local records; 4: no Exp-Golomb dedup
    records either; 3: no long rANS segments either; 2: no dedup steps either)."""
    assert codec._caps_known(6) == codec.CAPS_ALL
    assert codec._caps_known(5) == codec.CAPS_ALL & ~codec.CAP_PACKED_RECORDS
    assert codec._caps_known(4) == codec.CAPS_ALL & ~codec.CAP_PACKED_RECORDS & \
        ~codec.CAP_DEDUP_GOLOMB
    assert codec._caps_known(3) == codec.CAPS_ALL & ~codec.CAP_PACKED_RECORDS & \
        ~codec.CAP_DEDUP_GOLOMB & ~codec.CAP_RANS_LONG_SEGMENTS
    assert codec._caps_known(2) == codec.CAPS_ALL & ~codec.CAP_PACKED_RECORDS & \
        ~codec.CAP_DEDUP_GOLOMB & ~codec.CAP_RANS_LONG_SEGMENTS & ~codec.CAP_DEDUP_STEP
    assert codec.CAPS_ALL == (1 << 12) - 1
    # This build's library knows them all: a frame of more than 16,384 codes made with all of
    # them (one long rANS segment) decodes within the bound.
    x = np.random.default_rng(seed()).normal(0, 0.2, size=40000).astype(np.float32)
    f = codec.compress(x, mode="rel", bound=1e-2, caps=codec.CAPS_ALL)
    assert codec._lib_caps == codec.CAPS_ALL
    assert_within_bound(x, codec.decompress_array(f), "rel", 1e-2)


@pytest.mark.parametrize("mode,bound", MODES)
def test_round_trip_f32_bound_on_every_element(mode, bound):
    rng = np.random.default_rng([seed(), 1])
    x = payload(rng)
    frame, st = codec.compress(x, mode, bound, with_stats=True)
    assert st.input_bytes == x.nbytes and st.frame_bytes == len(frame)
    assert len(frame) <= codec.max_frame_bytes(x.nbytes)
    info = codec.frame_info(frame)
    assert info.original_bytes == x.nbytes and info.frame_bytes == len(frame)
    assert info.dtype == "f32" and info.method == st.method
    y = codec.decompress_array(frame).reshape(x.shape)
    assert y.dtype == np.float32
    assert_within_bound(x, y, mode, bound)
    assert np.array_equal(codec.round_trip(x, mode, bound).view(np.uint32), y.view(np.uint32))
    assert codec.compress(x, mode, bound) == frame  # deterministic
    print(f"{mode} {bound}: ratio {st.ratio:.2f}")


@pytest.mark.parametrize("mode,bound", MODES[:3])
def test_round_trip_f16(mode, bound):
    rng = np.random.default_rng([seed(), 2])
    x = payload(rng).astype(np.float16)
    y = codec.round_trip(x, mode, bound)
    assert y.dtype == np.float16
    assert_within_bound(x, y, mode, bound)


@pytest.mark.parametrize("arr", [
    np.arange(-5000, 5000, dtype=np.int64),          # TorchRec's indices
    np.arange(3001, dtype=np.int32) * 7,             # lengths
    np.linspace(-1, 1, 4097, dtype=np.float64),      # float64 is not compressed
    np.arange(77777, dtype=np.uint8),
])
def test_non_float_data_is_bit_exact(arr):
    frame = codec.compress(arr)
    expected = {"int64": "i64", "int32": "i32", "uint8": "u8"}.get(arr.dtype.name, "bytes")
    assert codec.frame_info(frame).dtype == expected
    assert codec.decompress(frame) == arr.tobytes()
    back = codec.decompress_array(frame, dtype=arr.dtype)
    assert np.array_equal(back.view(np.uint8), arr.view(np.uint8))


def test_bytes_like_inputs_and_odd_sizes():
    rng = np.random.default_rng([seed(), 3])
    raw = rng.integers(0, 256, size=10001, dtype=np.uint8).tobytes()
    for data in (raw, bytearray(raw), memoryview(raw)):
        assert codec.decompress(codec.compress(data)) == raw
    # f32 payload with a tail that is not a whole element: the tail comes back exactly.
    x = payload(rng).reshape(-1).view(np.uint8)[:4097 * 4 + 3]
    frame = codec.compress(x, "rel", 1e-2, dtype="f32")
    assert codec.frame_info(frame).dtype == "f32"
    y = np.frombuffer(codec.decompress(frame), dtype=np.uint8)
    assert np.array_equal(y[-3:], x[-3:])
    assert_within_bound(x[:-3].view(np.float32), y[:-3].view(np.float32), "rel", 1e-2)
    assert codec.decompress(codec.compress(b"")) == b""


def test_constant_and_all_zero_blocks_exact():
    x = np.zeros(4096, dtype=np.float32)
    x[2048:] = 0.125
    y = codec.round_trip(x)
    assert np.array_equal(x.view(np.uint32), y.view(np.uint32))


def test_errors_raise_with_status():
    rng = np.random.default_rng([seed(), 4])
    x = payload(rng)
    frame = codec.compress(x)
    with pytest.raises(codec.SqueezeError) as e:
        codec.decompress(frame[:-1])
    assert e.value.status == codec.TRUNCATED_FRAME
    bad = bytearray(frame)
    bad[0] ^= 0xFF
    with pytest.raises(codec.SqueezeError) as e:
        codec.frame_info(bytes(bad))
    assert e.value.status == codec.UNSUPPORTED_FRAME
    with pytest.raises(codec.SqueezeError) as e:
        codec.compress(x, "rel", -1.0)
    assert e.value.status == codec.INVALID_ARGUMENT
    with pytest.raises(codec.SqueezeError) as e:
        codec.compress(x, "rel", float("nan"))
    assert e.value.status == codec.INVALID_ARGUMENT
    with pytest.raises(ValueError):
        codec.compress(x, "relative", 1e-2)
    out = np.empty(x.size - 1, dtype=np.float32)
    with pytest.raises(codec.SqueezeError) as e:
        codec.decompress_into(frame, out)
    assert e.value.status == codec.OUTPUT_TOO_SMALL
    # Random corruption of the payload: an error code or a frame of the right size, never a
    # crash (the decoder validates every field).
    for k in range(200):
        c = bytearray(frame)
        i = int(rng.integers(codec.FRAME_HEADER_BYTES, len(c)))
        c[i] ^= 1 << int(rng.integers(0, 8))
        try:
            codec.decompress_into(bytes(c), np.empty_like(x))
        except codec.SqueezeError as err:
            assert err.status in (codec.CORRUPT_FRAME, codec.TRUNCATED_FRAME,
                                  codec.UNSUPPORTED_FRAME)


def test_stream_history():
    rng = np.random.default_rng([seed(), 5])
    x = payload(rng, rows=256, nonfinite=False)
    with codec.StreamEncoder() as enc, codec.StreamDecoder() as dec:
        f1, s1 = enc.compress(x, with_stats=True)
        f2, s2 = enc.compress(x, with_stats=True)  # a repeat: references into the first
        assert s1.history_ref_units == 0 and s2.history_ref_units > 0
        assert len(f2) < len(f1)
        for f in (f1, f2):
            y = np.empty_like(x)
            assert dec.decompress_into(f, y) == x.nbytes
            assert_within_bound(x, y, "local", codec.DEFAULT_LOCAL_BOUND)
    # Without the history capability a stream frame stands alone.
    with codec.StreamEncoder() as enc:
        enc.compress(x)
        f = enc.compress(x, caps=codec.CAPS_ALL & ~codec.CAP_HISTORY)
        assert_within_bound(x, codec.decompress_array(f).reshape(x.shape), "local",
                            codec.DEFAULT_LOCAL_BOUND)


@pytest.mark.parametrize("history", [False, True])
@pytest.mark.parametrize("mode,bound", [("local", 1.96e-3), ("rel", 1e-2)])
def test_link_cuts_steps_like_nccl(history, mode, bound):
    """A peer's slice: 128 KiB steps, each its own frame and its own bound (rel: the step's
    range), a last step below 4096 bytes bit-exact."""
    rng = np.random.default_rng([seed(), 6])
    x = payload(rng, rows=1024, dim=32)          # 1024 x 128 floats: four 128 KiB steps
    x = np.concatenate([x.reshape(-1), x.reshape(-1)[:500]])  # and a 2000-byte last step
    link = frames.Link(mode, bound, history=history)
    y = x.copy()
    for _ in range(2):                           # twice: the second may use the history
        y = link.round_trip(x)
        assert y.shape == x.shape
        for b, e in frames.steps(x.nbytes):
            xs, ys = x[b // 4:e // 4], y[b // 4:e // 4]
            if e - b < frames.MIN_BYTES:
                assert np.array_equal(xs.view(np.uint32), ys.view(np.uint32))
            else:
                assert_within_bound(xs, ys, mode, bound)
    n_steps = math.ceil(x.nbytes / frames.CHUNK_BYTES)
    assert link.stats.frames == 2 * (n_steps - 1) and link.stats.passthrough_steps == 2
    assert link.stats.input_bytes == 2 * x.nbytes
    assert link.stats.ratio > 1.5
    assert (link.stats.history_ref_units > 0) == history
    link.close()


def test_link_matches_single_frames():
    """Without history, the link's output is exactly codec.round_trip of every step."""
    rng = np.random.default_rng([seed(), 7])
    x = payload(rng, rows=700, dim=32, nonfinite=False)
    y = frames.Link("rel", 3e-2, history=False).round_trip(x).reshape(-1)
    flat = x.reshape(-1)
    for b, e in frames.steps(x.nbytes):
        ref = codec.round_trip(flat[b // 4:e // 4], "rel", 3e-2)
        assert np.array_equal(ref.view(np.uint32), y[b // 4:e // 4].view(np.uint32))


@pytest.mark.parametrize("arr", [
    (np.arange(100000, dtype=np.int64) * 37) % 1000003,  # ids below 10^7
    np.arange(30001, dtype=np.int32) % 7,                # lengths
    np.cumsum(np.arange(20000, dtype=np.int64) % 13),    # offsets
    np.zeros(5000, dtype=np.uint64),
])
def test_lossless_mode_is_bit_exact_and_smaller(arr):
    frame = codec.compress(arr, mode="lossless")
    assert len(frame) * 2 < arr.nbytes
    back = codec.decompress_array(frame, dtype=arr.dtype)
    assert np.array_equal(back, arr)


@pytest.mark.parametrize("mode", ["rel", "abs"])
def test_layout_bounds_each_table_on_its_own(mode):
    """With a Layout, rel bounds each table by its own range in the frame (and abs by its own
    bound): the small tables of payload() keep their precision, every element checked."""
    rng = np.random.default_rng([seed(), 7])
    x = payload(rng, nonfinite=False)
    bounds = [1e-2, 3e-2, 5e-2, 1e-2] if mode == "rel" else [1e-5, 1e-4, 1e-3, 1e-2]
    lay = codec.Layout(cols=[16, 16, 16, 16], bounds=bounds)
    flat = x.reshape(-1)[5:]  # the data begins at column 5 of a row
    y, st = codec.round_trip(flat, mode, 1.0, layout=lay.at(5), with_stats=True)
    assert st.quant == 3  # StagedQuant::kTable
    cols = (np.arange(flat.size) + 5) % 64
    for t in range(4):
        sel = cols // 16 == t
        xs, ys = flat[sel].astype(np.float64), y[sel].astype(np.float64)
        eb = bounds[t] * (xs.max() - xs.min()) if mode == "rel" else bounds[t]
        assert np.abs(xs - ys).max() <= eb, (t, np.abs(xs - ys).max(), eb)
    with pytest.raises(codec.SqueezeError):
        codec.compress(flat, mode, 1.0, layout=codec.Layout(cols=[16, 0, 48]))
