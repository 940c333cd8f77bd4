"""squeeze.torchrec: the QComms-shaped codec on plain tensors (TorchRec is not needed). Marked
torch (needs torch); skipped when libsqueeze_c.so was not built. Seed: SQUEEZE_TEST_SEED."""
import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")

from squeeze import codec, frames  # noqa: E402

from _bounds import assert_within_bound, seed  # noqa: E402

pytestmark = pytest.mark.torch

if not codec.available():
    pytest.skip("libsqueeze_c.so not built", allow_module_level=True)

from squeeze.torchrec import SqueezeQCommsCodec, SqueezeQCommsContext, qcomm_codecs  # noqa: E402


def pooled(rng, world=4, local_batch=256, width=160):
    """A sender's [B_global, D_local] pooled embeddings, tables at different scales."""
    scales = np.repeat([1e-3, 1e-2, 0.1, 1.0, 0.3], width // 5)
    x = rng.standard_normal((world * local_batch, width)) * scales
    return torch.from_numpy(x.astype(np.float32))


@pytest.mark.parametrize("mode,bound", [("local", 1.96e-3), ("rel", 1e-2)])
def test_forward_encode_is_the_plugins_round_trip_per_peer(mode, bound):
    print("seed", seed())
    rng = np.random.default_rng([seed(), 11])
    world, rank = 4, 1
    x = pooled(rng, world)
    c = SqueezeQCommsCodec(mode, bound, world_size=world, rank=rank)
    ctx = c.create_context()
    flat = x.view(-1)
    y = c.encode(flat, ctx)
    assert y.dtype == torch.float32 and y.shape == flat.shape
    assert c.decode(y, ctx) is y
    assert c.calc_quantized_size(123, ctx) == 123
    assert c.padded_size(x, [160] * world, rank, ctx) == (160, 0)
    assert c.quantized_dtype == torch.float32
    n = flat.numel() // world
    xs, ys = flat.numpy(), y.numpy()
    for p in range(world):
        a, b = xs[p * n:(p + 1) * n], ys[p * n:(p + 1) * n]
        if p == rank:   # the local copy is not sent
            assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
            continue
        # Exactly the frames the plugin sends: 128 KiB steps of the peer's slice.
        ref = frames.Link(mode, bound, history=False).round_trip(a)
        assert np.array_equal(ref.view(np.uint32), b.view(np.uint32))
        for s, e in frames.steps(a.nbytes):
            assert_within_bound(a[s // 4:e // 4], b[s // 4:e // 4], mode, bound)
    sent = (world - 1) * n * 4
    assert ctx.stats.input_bytes == sent and c.stats.input_bytes == sent
    assert ctx.stats.frames == (world - 1) * len(frames.steps(n * 4))
    assert ctx.stats.ratio > 2


def test_backward_split_sizes_from_the_context():
    rng = np.random.default_rng([seed(), 12])
    dims, local_batch = [96, 32, 160], 200   # B_local * D_rank_sum per rank
    splits = [local_batch * d for d in dims]
    g = torch.from_numpy((rng.standard_normal(sum(splits)) * 1e-4).astype(np.float32))
    c = SqueezeQCommsCodec("local", 1e-2, rank=0)
    ctx = SqueezeQCommsContext(split_sizes=splits)
    y = c.encode(g, ctx).numpy()
    x = g.numpy()
    assert np.array_equal(x[:splits[0]].view(np.uint32), y[:splits[0]].view(np.uint32))
    begin = splits[0]
    for n in splits[1:]:
        assert_within_bound(x[begin:begin + n], y[begin:begin + n], "local", 1e-2)
        begin += n
    with pytest.raises(ValueError):
        c.encode(g, SqueezeQCommsContext(split_sizes=[1, 2]))


def test_backward_split_sizes_from_the_ranks_widths():
    # TorchRec's backward: [B_local, D_global_sum] regrouped by rank, rank r's slice B_local x
    # dim_sum_per_rank[r]; the codec cuts it as the context's split_sizes would.
    rng = np.random.default_rng([seed(), 14])
    dims, local_batch, rank = [96, 32, 160], 200, 1
    g = torch.from_numpy((rng.standard_normal(local_batch * sum(dims)) * 1e-4).astype(np.float32))
    c = SqueezeQCommsCodec("local", 1e-2, rank=rank, world_size=3, dim_sum_per_rank=dims)
    ref = SqueezeQCommsCodec("local", 1e-2, rank=rank)
    y = c.encode(g, c.create_context()).numpy()
    want = ref.encode(g, SqueezeQCommsContext(split_sizes=[local_batch * d for d in dims])).numpy()
    assert np.array_equal(y.view(np.uint32), want.view(np.uint32))
    own = slice(local_batch * dims[0], local_batch * (dims[0] + dims[1]))
    assert np.array_equal(y[own].view(np.uint32), g.numpy()[own].view(np.uint32))
    assert not np.array_equal(y.view(np.uint32), g.numpy().view(np.uint32))
    with pytest.raises(ValueError):   # not whole rows of the ranks' widths
        c.encode(g[:-1], c.create_context())


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.float64])
def test_non_float_passes_bit_exact(dtype):
    t = (torch.arange(-3000, 3000) * 3).to(dtype)
    c = SqueezeQCommsCodec(world_size=4)
    y = c.encode(t, c.create_context())
    assert y.dtype == dtype and torch.equal(y, t)


def test_history_streams_per_peer():
    rng = np.random.default_rng([seed(), 13])
    x = pooled(rng, world=2, local_batch=512, width=80).view(-1)
    c = SqueezeQCommsCodec(world_size=2, rank=0, history=True)
    c.encode(x)
    ctx = c.create_context()
    y = c.encode(x, ctx)   # the same payload again: references into the previous call
    assert ctx.stats.history_ref_units > 0
    n = x.numel() // 2
    assert_within_bound(x.numpy()[n:], y.numpy()[n:], "local", codec.DEFAULT_LOCAL_BOUND)
    c.close()


def test_qcomm_codecs_container():
    fwd = SqueezeQCommsCodec()
    q = qcomm_codecs(forward=fwd)
    assert q.forward is fwd
    # The missing direction passes through, with a dtype TorchRec's planner can size
    # (torch.tensor([], dtype=codec.quantized_dtype) raises for TorchRec's own no-op codec).
    bwd = q.backward
    assert torch.tensor([], dtype=bwd.quantized_dtype).element_size() == 4
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    ctx = bwd.create_context()
    assert bwd.encode(x, ctx) is x and bwd.decode(x, ctx) is x
    assert bwd.calc_quantized_size(12, ctx) == 12
    assert bwd.padded_size(x, [4, 4, 4], 0, ctx) == (4, 0)
    q2 = qcomm_codecs(backward=fwd)
    assert q2.backward is fwd and torch.tensor([], dtype=q2.forward.quantized_dtype).dtype == \
        torch.float32
