import numpy as np
import pytest
import torch

from squeeze.dlrm.a2a import TablewiseAllToAll, assign_tables
from squeeze.dlrm.data import make_tables
from squeeze.dlrm.dump import PayloadDump, ring_pairs

R, B = 4, 8  # ranks, local batch


def tables(mixed=False):
    return make_tables(num_tables=26, max_rows=1000, dim=8, mixed_dims=mixed)


def pooled_for(tbls, seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(R * B, t.dim, generator=g).requires_grad_(requires_grad) for t in tbls]


@pytest.mark.parametrize("policy", ["size", "perf", "round_robin"])
@pytest.mark.parametrize("ranks", [1, 3, 4, 8])
def test_assignment_covers_every_table_once(policy, ranks):
    tbls = make_tables(max_rows=1_000_000, dim=64)
    owned = assign_tables(tbls, ranks, policy)
    assert len(owned) == ranks
    assert sorted(i for o in owned for i in o) == list(range(26))
    assert all(o == sorted(o) for o in owned)
    assert owned == assign_tables(tbls, ranks, policy)  # deterministic


def test_size_assignment_is_greedy_by_size():
    tbls = make_tables(max_rows=1_000_000, dim=64)
    owned = assign_tables(tbls, 4, "size")
    # The five 10^6-row tables: one per rank, the fifth on rank 0.
    big = [i for i, t in enumerate(tbls) if t.rows == 1_000_000]
    assert len(big) == 5
    assert sum(1 for i in big if i in owned[0]) == 2
    assert all(sum(1 for i in big if i in owned[r]) == 1 for r in (1, 2, 3))


@pytest.mark.parametrize("mixed", [False, True])
def test_block_shapes_and_row_layouts(mixed):
    tbls = tables(mixed)
    a2a = TablewiseAllToAll(tbls, R, B)
    for direction in ("fwd", "bwd"):
        blocks = a2a.blocks(direction)
        assert len(blocks) == R * (R - 1)
        assert all(b.crosses_network for b in blocks)
        assert len(a2a.blocks(direction, include_local=True)) == R * R
        for lay in a2a.blocks(direction, include_local=True):
            owner = lay.src if direction == "fwd" else lay.dst
            assert lay.owner == owner
            assert lay.shape == (B, a2a.width[owner])
            assert lay.crosses_network == (lay.src != lay.dst)
            cols = 0
            for ts, i in zip(lay.tables, a2a.owned[owner]):
                t = tbls[i]
                assert (ts.index, ts.name, ts.rows, ts.dim) == (t.index, t.name, t.rows, t.dim)
                assert ts.begin == cols and ts.end == cols + t.dim
                cols = ts.end
            assert cols == lay.row_width
            d = lay.as_dict()
            assert d["shape"] == [B, lay.row_width] and d["local_copy"] == (lay.src == lay.dst)
    assert sum(a2a.width) == sum(t.dim for t in tbls)


def test_identity_exchange_is_exact_and_blocks_are_the_nccl_bytes():
    tbls = tables()
    seen = {}

    def record(src, dst, x):
        seen[(src, dst)] = x.clone()
        return x

    a2a = TablewiseAllToAll(tbls, R, B, fwd_transform=record)
    pooled = pooled_for(tbls)
    out = a2a(pooled)
    assert torch.equal(out, torch.cat(pooled, dim=1))
    assert sorted(seen) == [(s, d) for s in range(R) for d in range(R) if s != d]  # no local
    for (r, p), block in seen.items():
        expect = torch.cat([pooled[i][p * B:(p + 1) * B] for i in a2a.owned[r]], dim=1)
        assert block.shape == (B, a2a.width[r]) and block.is_contiguous()
        assert torch.equal(block, expect)


def test_forward_transform_changes_what_the_receiver_sees():
    tbls = tables()
    a2a = TablewiseAllToAll(tbls, R, B,
                            fwd_transform=lambda s, d, x: x.zero_() if (s, d) == (2, 0) else x)
    pooled = pooled_for(tbls)
    out = a2a(pooled)
    ref = torch.cat(pooled, dim=1)
    starts = np.cumsum([0] + [t.dim for t in tbls])
    for i, t in enumerate(tbls):
        cols = slice(starts[i], starts[i + 1])
        for p in range(R):
            rows = slice(p * B, (p + 1) * B)
            if i in a2a.owned[2] and p == 0:
                assert torch.count_nonzero(out[rows, cols]) == 0
            else:
                assert torch.equal(out[rows, cols], ref[rows, cols])


def test_local_block_is_never_transformed():
    tbls = tables()
    a2a = TablewiseAllToAll(tbls, R, B, fwd_transform=lambda s, d, x: x * 0,
                            bwd_transform=lambda s, d, x: x * 0)
    pooled = pooled_for(tbls, requires_grad=True)
    out = a2a(pooled)
    out.sum().backward()
    for i, t in enumerate(tbls):
        r = a2a.owner_of(i)
        rows = slice(r * B, (r + 1) * B)
        assert torch.equal(pooled[i].grad[rows], torch.ones(B, t.dim))      # local copy
        other = torch.ones(R * B, dtype=torch.bool)
        other[rows] = False
        assert torch.count_nonzero(pooled[i].grad[other]) == 0              # all crossed


def test_backward_transform_changes_the_gradient_the_tables_receive():
    tbls = tables()
    calls = []

    def bwd(src, dst, g):
        calls.append((src, dst))
        assert g.shape == (B, a2a.width[dst]) and g.is_contiguous()
        if (src, dst) == (1, 3):
            return torch.zeros_like(g)
        if (src, dst) == (0, 2):
            return 2 * g
        return g

    a2a = TablewiseAllToAll(tbls, R, B, bwd_transform=bwd)
    pooled = pooled_for(tbls, requires_grad=True)
    out = a2a(pooled)
    w = torch.randn(out.shape, generator=torch.Generator().manual_seed(5))
    (out * w).sum().backward()
    assert sorted(calls) == [(s, d) for s in range(R) for d in range(R) if s != d]
    starts = np.cumsum([0] + [t.dim for t in tbls])
    for i in range(len(tbls)):
        r = a2a.owner_of(i)
        for p in range(R):
            rows = slice(p * B, (p + 1) * B)
            expect = w[rows, starts[i]:starts[i + 1]]
            got = pooled[i].grad[rows]
            if (p, r) == (1, 3):
                assert torch.count_nonzero(got) == 0
            elif (p, r) == (0, 2):
                assert torch.equal(got, 2 * expect)
            else:
                assert torch.equal(got, expect)


def test_transform_must_keep_the_shape():
    tbls = tables()
    a2a = TablewiseAllToAll(tbls, R, B, fwd_transform=lambda s, d, x: x[:1])
    with pytest.raises(ValueError):
        a2a(pooled_for(tbls))


def test_dump_writes_the_blocks_with_their_layout(tmp_path):
    tbls = tables(mixed=True)
    dump = PayloadDump(str(tmp_path), "t", seed=3, steps=[7], pairs=ring_pairs(R))
    a2a = TablewiseAllToAll(tbls, R, B, dump=dump)
    pooled = pooled_for(tbls, requires_grad=True)
    dump.begin_step(6)
    a2a(pooled).sum().backward()
    assert dump.entries == []
    dump.begin_step(7)
    out = a2a(pooled)
    w = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * w).sum().backward()
    assert len(dump.entries) == 2 * R
    for e in dump.entries:
        x = np.fromfile(tmp_path / e["file"], dtype="<f4").reshape(e["shape"])
        owner = e["owner_rank"]
        peer = e["dst_rank"] if e["direction"] == "fwd" else e["src_rank"]
        assert peer == (owner + 1) % R and e["step"] == 7 and e["seed"] == 3
        assert e["row_width"] == a2a.width[owner] and e["bytes"] == x.nbytes
        rows = slice(peer * B, (peer + 1) * B)
        src = pooled if e["direction"] == "fwd" else None
        for ts in e["tables"]:
            block = x[:, ts["begin"]:ts["end"]]
            if src is not None:
                expect = pooled[ts["index"]][rows].detach().numpy()
            else:
                starts = np.cumsum([0] + [t.dim for t in tbls])
                expect = w[rows, starts[ts["index"]]:starts[ts["index"] + 1]].numpy()
            assert np.array_equal(block, expect)
