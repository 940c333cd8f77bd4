import numpy as np
import pytest
import torch

from squeeze.dlrm.data import SyntheticCriteo, make_tables
from squeeze.dlrm.model import DLRM
from squeeze.dlrm.train import PRESETS, preset, train

TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def tiny_run():
    return train(TINY, seed=3)


def test_data_is_deterministic_and_click_log_shaped():
    # Real-cardinality support folded into 1000-row tables (the default id law), small supports.
    tbls = make_tables(max_rows=1000, dim=8, cardinalities=[50_000, 3, 24, 1460, 200_000])
    a = SyntheticCriteo(tbls, teacher_seed=1, sample_seed=2, stream=1).batch(4096)
    b = SyntheticCriteo(tbls, teacher_seed=1, sample_seed=2, stream=1).batch(4096)
    c = SyntheticCriteo(tbls, teacher_seed=1, sample_seed=2, stream=2).batch(4096)
    assert np.array_equal(a.dense, b.dense) and np.array_equal(a.labels, b.labels)
    assert all(np.array_equal(x, y) for x, y in zip(a.ids, b.ids))
    assert not np.array_equal(a.dense, c.dense)
    assert 0.15 < a.labels.mean() < 0.25
    assert [t.rows for t in tbls[:5]] == [1000, 3, 24, 1000, 1000]
    assert tbls[0].source_rows == 50_000
    for t, ids in zip(tbls, a.ids):
        assert ids.min() >= 0 and ids.max() < t.rows
        counts = np.bincount(ids, minlength=t.rows)
        assert counts[0] == counts.max()  # Zipf: the first id is the hottest


def test_pooling_factor_above_one():
    tbls = make_tables(num_tables=3, max_rows=100, dim=4)
    d = SyntheticCriteo(tbls, teacher_seed=1, sample_seed=1, stream=1, pooling_factor=3,
                        id_support="table")
    b = d.batch(64)
    m = DLRM(tbls, bottom=(8, 4), top=(8, 1))
    pooled = m.pooled([torch.from_numpy(x) for x in b.ids],
                      [torch.from_numpy(x) for x in b.offsets])
    assert [p.shape for p in pooled] == [(64, 4)] * 3
    assert all(len(x) > 64 for x in b.ids)



def test_zipf_pooling_law():
    # Bags of 1..20 ids, P(k) ~ 1/k: short bags common, every size seen, the mean ~20/H_20 = 5.6.
    tbls = make_tables(num_tables=2, max_rows=100, dim=4)
    kw = dict(teacher_seed=1, sample_seed=1, stream=1, pooling_factor=20, pooling_law="zipf",
              id_support="table")
    a = SyntheticCriteo(tbls, **kw).batch(4096)
    b = SyntheticCriteo(tbls, **kw).batch(4096)
    for off, ids, ids_b in zip(a.offsets, a.ids, b.ids):
        assert np.array_equal(ids, ids_b)
        lengths = np.diff(np.append(off, ids.shape[0]))
        assert lengths.min() == 1 and lengths.max() == 20
        assert np.bincount(lengths)[1] > np.bincount(lengths)[2] > np.bincount(lengths)[20]
        assert 5.0 < lengths.mean() < 6.2
    with pytest.raises(ValueError):
        SyntheticCriteo(tbls, teacher_seed=1, sample_seed=1, stream=1, pooling_law="x")

def test_same_seed_same_run(tiny_run):
    again = train(TINY, seed=3)
    assert again["loss_per_step"] == tiny_run["loss_per_step"]
    assert again["auc"] == tiny_run["auc"] and again["logloss"] == tiny_run["logloss"]
    other = train(TINY, seed=4)
    assert other["loss_per_step"] != tiny_run["loss_per_step"]


def test_training_learns(tiny_run):
    r = tiny_run
    assert r["steps"] == TINY.steps and len(r["loss_per_step"]) == TINY.steps
    assert r["loss_curve"][-1][0] == TINY.steps
    assert np.mean(r["loss_per_step"][-4:]) < np.mean(r["loss_per_step"][:4])
    assert 0.5 < r["auc"] < r["teacher_auc"]


def test_identity_transforms_and_assignment_change_nothing(tiny_run):
    same = train(TINY, seed=3, fwd_transform=lambda s, d, x: x, bwd_transform=lambda s, d, x: x)
    assert same["loss_per_step"] == tiny_run["loss_per_step"] and same["auc"] == tiny_run["auc"]
    rr = train(preset("tiny", assignment="round_robin"), seed=3)
    assert rr["rank_tables"] != tiny_run["rank_tables"]
    assert rr["loss_per_step"] == tiny_run["loss_per_step"] and rr["auc"] == tiny_run["auc"]


def test_transforms_change_training(tiny_run):
    fwd0 = train(TINY, seed=3, fwd_transform=lambda s, d, x: torch.zeros_like(x))
    assert fwd0["loss_per_step"][0] != tiny_run["loss_per_step"][0]  # forward sees zeros
    bwd0 = train(TINY, seed=3, bwd_transform=lambda s, d, x: torch.zeros_like(x))
    # The first forward is untouched; later steps differ because the tables learned less.
    assert bwd0["loss_per_step"][0] == tiny_run["loss_per_step"][0]
    assert bwd0["loss_per_step"][1:] != tiny_run["loss_per_step"][1:]


def test_eval_transform_switch(tiny_run):
    zero = lambda s, d, x: torch.zeros_like(x)  # noqa: E731
    calls = []

    def count(s, d, x):
        calls.append(1)
        return x

    r = train(preset("tiny", eval_transform=False), seed=3, fwd_transform=count)
    assert len(calls) == TINY.steps * TINY.ranks * (TINY.ranks - 1)
    assert r["auc"] == tiny_run["auc"]
    r2 = train(preset("tiny", eval_transform=True, train_samples=TINY.global_batch), seed=3,
               fwd_transform=zero)
    r3 = train(preset("tiny", eval_transform=False, train_samples=TINY.global_batch), seed=3,
               fwd_transform=zero)
    assert r2["auc"] != r3["auc"]


def test_sgd_tables(tiny_run):
    r = train(preset("tiny", sparse_optimizer="sgd", sparse_lr=0.1), seed=3)
    assert r["loss_per_step"][0] == tiny_run["loss_per_step"][0]
    assert r["loss_per_step"][1:] != tiny_run["loss_per_step"][1:]
    assert np.isfinite(r["auc"])
