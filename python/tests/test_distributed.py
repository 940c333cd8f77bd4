"""The gloo engine (squeeze.dlrm.distributed: one process per rank, real all-to-alls) against the
emulated ranks of train.py on the tiny preset: the same losses to float rounding, the same
held-out scores, and every cross-rank block through its sender's transform exactly once. Marked
torch; spawns 4 processes (about 20 s on 2 cores)."""
import pytest

pytest.importorskip("torch")
import numpy as np  # noqa: E402
import torch  # noqa: E402

from squeeze.dlrm.distributed import _sum_counts, train_distributed  # noqa: E402
from squeeze.dlrm.train import PRESETS, train  # noqa: E402

pytestmark = pytest.mark.torch

TINY = PRESETS["tiny"]
SEED = 3


class HalfPrecision:
    """A lossy transform (float16 round trip) that records the blocks it saw; ``rank`` is the
    process it lives in (None: the emulated ranks)."""

    def __init__(self, rank=None):
        self.rank = rank
        self.blocks = {}      # (src, dst) -> blocks seen
        self.values = 0
        self.foreign = 0      # blocks whose sender is not this rank

    def __call__(self, src, dst, block):
        if self.rank is not None and src != self.rank:
            self.foreign += 1
        self.blocks[f"{src}->{dst}"] = self.blocks.get(f"{src}->{dst}", 0) + 1
        self.values += block.numel()
        return block.to(torch.float16).to(torch.float32)

    def counts(self):
        return {"blocks": dict(self.blocks), "values": self.values, "foreign": self.foreign}


def half_both_directions(rank):
    return HalfPrecision(rank), HalfPrecision(rank), None


@pytest.fixture(scope="module")
def emulated():
    fwd, bwd = HalfPrecision(), HalfPrecision()
    res = train(TINY, seed=SEED, fwd_transform=fwd, bwd_transform=bwd)
    return res, fwd.counts(), bwd.counts()


def test_identity_matches_the_emulated_ranks():
    a = train(TINY, seed=SEED)
    b = train_distributed(TINY, seed=SEED)
    assert b["engine"] == "gloo x 4 processes"
    assert a["rank_widths"] == b["rank_widths"] and a["rank_tables"] == b["rank_tables"]
    la, lb = np.array(a["loss_per_step"]), np.array(b["loss_per_step"])
    assert la.shape == lb.shape == (TINY.steps,)
    # Only the summation order differs (local batch sums, then all_reduce over the ranks).
    np.testing.assert_allclose(lb, la, rtol=1e-5)
    assert abs(a["auc"] - b["auc"]) < 1e-4 and abs(a["logloss"] - b["logloss"]) < 1e-5
    assert a["eval_samples"] == b["eval_samples"]
    assert b["transform_counts"] == {"fwd": None, "bwd": None}


def test_transforms_see_each_block_once_on_its_sender(emulated):
    res, fwd, bwd = emulated
    d = train_distributed(TINY, seed=SEED, make_hooks=half_both_directions)
    counts = d["transform_counts"]
    # Each rank's transforms saw only the blocks it sends, and together exactly the blocks the
    # emulation transforms: training steps and held-out batches, forward; training, backward.
    assert counts["fwd"]["foreign"] == 0 and counts["bwd"]["foreign"] == 0
    assert counts["fwd"]["blocks"] == fwd["blocks"] and counts["bwd"]["blocks"] == bwd["blocks"]
    assert counts["fwd"]["values"] == fwd["values"] and counts["bwd"]["values"] == bwd["values"]
    pairs = {f"{s}->{t}" for s in range(TINY.ranks) for t in range(TINY.ranks) if s != t}
    assert set(fwd["blocks"]) == pairs and set(bwd["blocks"]) == pairs
    eval_batches = TINY.eval_samples // TINY.global_batch
    assert set(fwd["blocks"].values()) == {TINY.steps + eval_batches}
    assert set(bwd["blocks"].values()) == {TINY.steps}
    np.testing.assert_allclose(d["loss_per_step"], res["loss_per_step"], rtol=1e-5)
    assert abs(d["auc"] - res["auc"]) < 1e-4


def test_counts_sum_over_ranks():
    parts = [{"n": 1, "err": {"early": {"t0": [1.0, 2.0]}}},
             None,
             {"n": 2, "err": {"early": {"t0": [0.5, 1.0], "t1": [3.0, 4.0]}}}]
    assert _sum_counts(parts) == {"n": 3, "err": {"early": {"t0": [1.5, 3.0],
                                                              "t1": [3.0, 4.0]}}}
    assert _sum_counts([None, None]) is None
