import itertools

import numpy as np
import pytest

from squeeze.dlrm.metrics import auc, logloss


def brute_auc(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y > 0.5]
    neg = [s for s, y in zip(scores, labels) if y <= 0.5]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(6))
def test_auc_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 300
    # Few distinct scores, so many ties (within and across the classes).
    scores = rng.integers(0, 12 if seed % 2 else 1000, size=n).astype(np.float32) / 7
    labels = (rng.random(n) < 0.3).astype(np.float32)
    assert auc(scores, labels) == pytest.approx(brute_auc(scores, labels), abs=1e-12)


def test_auc_edge_cases():
    assert auc([0.1, 0.2, 0.3], [0, 1, 1]) == 1.0
    assert auc([0.3, 0.2, 0.1], [0, 1, 1]) == 0.0
    assert auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5
    assert np.isnan(auc([0.1, 0.2], [1, 1]))


def test_logloss():
    assert logloss([0.0, 0.0], [0, 1]) == pytest.approx(np.log(2.0))
    assert logloss([50.0], [1]) == pytest.approx(0.0, abs=1e-6)
    assert logloss([50.0], [0]) == pytest.approx(-np.log(1e-7), rel=1e-6)  # clipped
