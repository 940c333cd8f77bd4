"""Held-out metrics in numpy: rank-based AUC (ties get their average rank) and logloss."""

from __future__ import annotations

import numpy as np


def auc(scores, labels) -> float:
    """Area under the ROC curve by the Mann-Whitney U statistic: the probability that a random
    positive scores above a random negative, a tie counting one half. NaN if a class is empty."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel() > 0.5
    n = s.shape[0]
    n_pos = int(y.sum())
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    first = np.r_[True, ss[1:] != ss[:-1]]        # first element of each run of equal scores
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], n]                   # exclusive
    avg_rank = (starts + 1 + ends) / 2.0          # mean of 1-based ranks start+1 .. end
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = avg_rank[np.cumsum(first) - 1]
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def logloss(logits, labels, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy of sigmoid(logits), probabilities clipped to [eps, 1 - eps]."""
    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    p = np.clip(1.0 / (1.0 + np.exp(-z)), eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))
