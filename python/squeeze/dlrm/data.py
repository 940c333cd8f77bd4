"""Synthetic Criteo-like click data with a planted signal (no download).

Modelled on ``SyntheticCriteo`` in examples/torchrec/train_dlrm.py:

* 13 dense features, ``log1p`` of exponential "counts" (Criteo's usual preprocessing);
* 26 categorical features whose table sizes are the Criteo Kaggle cardinalities capped at
  ``max_rows`` (so a few tables have a handful of values and several have ``max_rows``);
* ids drawn from a Zipf law over the feature's *real* Criteo cardinality (P(raw = k) proportional
  to (k + 1)^-alpha on 0..cardinality-1, hot values first), then folded into the capped table with
  ``raw % rows``, as facebookresearch/dlrm's ``--max-ind-range`` does; a few rows take most
  lookups and a long tail is rarely seen. ``id_support="table"`` draws from a Zipf law truncated
  at the table size instead. Unlike train_dlrm.py (``zipf % rows``, unbounded support) the law is
  bounded, so alpha may be <= 1. The default alpha 1.05 reproduces the one per-batch statistic of
  a real trained model we have (SC'24 artifact, Criteo Terabyte table 1, 36,084 rows: 945
  distinct ids in a batch of 2,048; this law gives 925). Real tables with a handful of values are
  more concentrated than any single power law (the same artifact: 18 of 61 values seen in 2,048
  samples, where this law sees all 61); that changes little in a batch that is mostly repeats;
* bags: one id per sample and table (``pooling_factor=1``, as Criteo), or several: with
  ``pooling_law="uniform"`` (the default) a bag holds 1 to ``2 * pooling_factor - 1`` ids, uniform
  (mean ``pooling_factor``); with ``pooling_law="zipf"`` it holds 1 to ``pooling_factor`` ids with
  P(k) proportional to k^-``pooling_alpha`` (short bags common, long ones rare; 1 to 20 with alpha
  1 has mean 5.6), each id drawn from the table's law as above;
* labels drawn from a fixed hidden teacher, so the model has something to learn: a weight per id,
  a rank-4 factorisation-machine term between tables (what DLRM's dot interaction can represent)
  and a linear term on the dense features, with the bias calibrated for about 20% positives.

Determinism: the teacher (and so the task) depends only on ``teacher_seed``; the samples of a
stream depend on ``(teacher_seed, sample_seed, stream)``. Training uses stream 1 with the run's
seed; the held-out set uses stream 2 with a fixed sample seed, so every run of a study is scored
on the same held-out samples. Everything is vectorised numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

# Cardinalities of the 26 categorical features of the Criteo Kaggle display-advertising data set
# (facebookresearch/dlrm's day-split counts). Only the sizes are used; the data is synthetic.
CRITEO_KAGGLE_CARDINALITIES = [
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
    27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572,
]  # fmt: skip
NUM_DENSE = 13
TEACHER_RANK = 4  # width of the teacher's factorisation-machine embeddings


@dataclass(frozen=True)
class TableSpec:
    """One embedding table: ``index`` is its feature position (0..25), ``rows`` its cardinality."""

    index: int
    name: str
    rows: int
    dim: int
    source_rows: int = 0  # the feature's real cardinality, which the ids are drawn over


def mixed_dim(rows: int) -> int:
    """Width of a table in the mixed-dims model (as train_dlrm.py --mixed-dims): 16/32/64/128."""
    return 16 if rows < 1_000 else 32 if rows < 20_000 else 64 if rows < 500_000 else 128


def make_tables(num_tables: int = 26, max_rows: int = 1_000_000, dim: int = 64,
                mixed_dims: bool = False,
                cardinalities: Optional[Sequence[int]] = None) -> List[TableSpec]:
    cards = list(cardinalities or CRITEO_KAGGLE_CARDINALITIES)
    tables = []
    for i in range(num_tables):
        rows = max(2, min(int(cards[i % len(cards)]), int(max_rows)))
        tables.append(TableSpec(index=i, name=f"t_cat_{i}", rows=rows,
                                dim=mixed_dim(rows) if mixed_dims else int(dim),
                                source_rows=max(rows, int(cards[i % len(cards)]))))
    return tables


@dataclass
class Batch:
    """One batch. ``ids[t]`` holds the ids of table t for all bags, ``offsets[t]`` where each
    sample's bag starts (EmbeddingBag convention); with pooling factor 1 every bag has one id."""

    dense: np.ndarray            # [n, 13] float32
    ids: List[np.ndarray]        # per table, int64
    offsets: List[np.ndarray]    # per table, [n] int64
    labels: np.ndarray           # [n] float32 (0/1)
    prob: np.ndarray             # [n] float32, the teacher's click probability

    def __len__(self) -> int:
        return int(self.labels.shape[0])


class _Teacher:
    """The hidden model that labels the data. Built from ``teacher_seed`` alone."""

    def __init__(self, tables: Sequence[TableSpec], num_dense: int, zipf_alpha: float,
                 id_support: str, teacher_seed: int, positive_rate: float):
        rng = np.random.default_rng([int(teacher_seed), 7])
        t = len(tables)
        self.id_weights = [rng.standard_normal(tb.rows).astype(np.float32) for tb in tables]
        self.fm = [rng.standard_normal((tb.rows, TEACHER_RANK)).astype(np.float32) for tb in tables]
        self.dense_weights = (rng.standard_normal(num_dense) / math.sqrt(num_dense)).astype(
            np.float32)
        # Scales: linear id term std ~1.5, FM term std ~1.0 (325 pairs for 26 tables), dense ~0.5.
        self.linear_scale = 1.5 / math.sqrt(t)
        pairs = max(1, t * (t - 1) // 2)
        self.fm_scale = 1.0 / math.sqrt(pairs * TEACHER_RANK)
        self.dense_scale = 0.5
        self.bias = 0.0
        # Calibrate the bias on a fixed sample so that about `positive_rate` of labels are 1.
        cal = np.random.default_rng([int(teacher_seed), 8])
        n = 20_000
        dense = _draw_dense(cal, n, num_dense)
        ids = [_draw_ids(cal, law, n) for law in _id_laws(tables, zipf_alpha, id_support)]
        offsets = [np.arange(n, dtype=np.int64)] * t
        logit = self.logit(dense, ids, offsets, n)
        lo, hi = -20.0, 20.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if np.mean(_sigmoid(logit + mid)) > positive_rate:
                hi = mid
            else:
                lo = mid
        self.bias = 0.5 * (lo + hi)

    def logit(self, dense: np.ndarray, ids: List[np.ndarray], offsets: List[np.ndarray],
              n: int) -> np.ndarray:
        logit = self.dense_scale * (dense @ self.dense_weights).astype(np.float64)
        lin = np.zeros(n, dtype=np.float64)
        fm_sum = np.zeros((n, TEACHER_RANK), dtype=np.float64)
        fm_sq = np.zeros(n, dtype=np.float64)
        for w, e, idx, off in zip(self.id_weights, self.fm, ids, offsets):
            if idx.shape[0] == n:  # one id per bag
                wt = w[idx].astype(np.float64)
                et = e[idx].astype(np.float64)
            else:  # mean over each bag
                lengths = np.diff(np.append(off, idx.shape[0]))
                bag = np.repeat(np.arange(n), lengths)
                wt = np.bincount(bag, weights=w[idx], minlength=n) / lengths
                et = np.stack([np.bincount(bag, weights=e[idx, k], minlength=n)
                               for k in range(TEACHER_RANK)], axis=1) / lengths[:, None]
            lin += wt
            fm_sum += et
            fm_sq += np.einsum("ij,ij->i", et, et)
        fm = 0.5 * (np.einsum("ij,ij->i", fm_sum, fm_sum) - fm_sq)
        return logit + self.linear_scale * lin + self.fm_scale * fm + self.bias


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_dense(rng: np.random.Generator, n: int, num_dense: int) -> np.ndarray:
    # Criteo's dense features are counts; the usual preprocessing is log(1 + x).
    return np.log1p(rng.exponential(3.0, size=(n, num_dense))).astype(np.float32)


_CDF_CACHE: Dict[Tuple[int, float], np.ndarray] = {}


def _zipf_cdf(n: int, alpha: float) -> np.ndarray:
    key = (int(n), float(alpha))
    if key not in _CDF_CACHE:
        c = np.cumsum(np.arange(1, n + 1, dtype=np.float64) ** (-float(alpha)))
        _CDF_CACHE[key] = c / c[-1]
    return _CDF_CACHE[key]


def _id_laws(tables: Sequence[TableSpec], alpha: float,
             id_support: str = "criteo") -> List[Tuple[np.ndarray, int]]:
    """(cumulative Zipf weights over the support, table rows to fold into) per table."""
    if id_support not in ("criteo", "table"):
        raise ValueError("id_support must be 'criteo' or 'table'")
    out = []
    for t in tables:
        n = max(t.rows, t.source_rows) if id_support == "criteo" else t.rows
        out.append((_zipf_cdf(n, alpha), t.rows))
    return out


def _draw_ids(rng: np.random.Generator, law: Tuple[np.ndarray, int], count: int) -> np.ndarray:
    cdf, rows = law
    raw = np.searchsorted(cdf, rng.random(count), side="right")
    raw = np.minimum(raw, cdf.shape[0] - 1).astype(np.int64)
    return raw % rows if cdf.shape[0] > rows else raw


class SyntheticCriteo:
    """An endless, deterministic stream of Criteo-shaped batches.

    ``stream`` separates independent streams of one task (1 = training, 2 = held-out)."""

    def __init__(self, tables: Sequence[TableSpec], *, teacher_seed: int, sample_seed: int,
                 stream: int, zipf_alpha: float = 1.05, id_support: str = "criteo",
                 pooling_factor: int = 1, pooling_law: str = "uniform",
                 pooling_alpha: float = 1.0, num_dense: int = NUM_DENSE,
                 positive_rate: float = 0.2, teacher: Optional["_Teacher"] = None):
        """``teacher``: reuse another stream's teacher (it must have been built from the same
        tables, alpha, support and teacher_seed); building one takes a few seconds.
        ``pooling_law``: how bag sizes are drawn when ``pooling_factor > 1`` (module docstring)."""
        if pooling_factor < 1:
            raise ValueError("pooling_factor must be >= 1")
        if pooling_law not in ("uniform", "zipf"):
            raise ValueError("pooling_law must be 'uniform' or 'zipf'")
        self.tables = list(tables)
        self.num_dense = num_dense
        self.pooling_factor = int(pooling_factor)
        self.pooling_law = pooling_law
        self.pooling_alpha = float(pooling_alpha)
        self.zipf_alpha = float(zipf_alpha)
        self.teacher = teacher or _Teacher(self.tables, num_dense, zipf_alpha, id_support,
                                           teacher_seed, positive_rate)
        self.laws = _id_laws(self.tables, zipf_alpha, id_support)
        self.rng = np.random.default_rng([int(teacher_seed), int(sample_seed), int(stream)])

    def batch(self, n: int) -> Batch:
        rng = self.rng
        dense = _draw_dense(rng, n, self.num_dense)
        ids, offsets = [], []
        for law in self.laws:
            if self.pooling_factor == 1:
                lengths = None
                count = n
            elif self.pooling_law == "zipf":
                cdf = _zipf_cdf(self.pooling_factor, self.pooling_alpha)
                lengths = np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64) + 1
                np.minimum(lengths, self.pooling_factor, out=lengths)
                count = int(lengths.sum())
            else:
                lengths = rng.integers(1, 2 * self.pooling_factor, size=n, dtype=np.int64)
                count = int(lengths.sum())
            ids.append(_draw_ids(rng, law, count))
            if lengths is None:
                offsets.append(np.arange(n, dtype=np.int64))
            else:
                offsets.append(np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64))
        prob = _sigmoid(self.teacher.logit(dense, ids, offsets, n))
        labels = (rng.random(n) < prob).astype(np.float32)
        return Batch(dense=dense, ids=ids, offsets=offsets, labels=labels,
                     prob=prob.astype(np.float32))
