"""Shared checks: the bound of every element, computed independently in float64 (the rule of
tests/unit/codec_test_util.h), and the test seed."""
import os

import numpy as np


def seed(default: int = 13) -> int:
    """SQUEEZE_TEST_SEED or the default; tests print it so a failure can be replayed."""
    return int(os.environ.get("SQUEEZE_TEST_SEED", default))


def element_bounds(x: np.ndarray, mode: str, bound: float) -> np.ndarray:
    """Absolute bound of every element of the flat frame x: abs, rel over the frame's finite
    values, local over the finite values of the element's block of 32."""
    v = x.reshape(-1).astype(np.float64)
    fin = np.isfinite(v)
    if mode == "abs":
        return np.full(v.shape, float(bound))
    if mode == "rel":
        if not fin.any():
            return np.zeros(v.shape)
        return np.full(v.shape, bound * (v[fin].max() - v[fin].min()))
    assert mode == "local"
    n = v.shape[0]
    pad = (-n) % 32
    lo = np.where(fin, v, np.inf)
    hi = np.where(fin, v, -np.inf)
    lo = np.concatenate([lo, np.full(pad, np.inf)]).reshape(-1, 32).min(axis=1)
    hi = np.concatenate([hi, np.full(pad, -np.inf)]).reshape(-1, 32).max(axis=1)
    eb = np.where(lo <= hi, bound * (hi - lo), 0.0)
    return np.repeat(eb, 32)[:n]


def assert_within_bound(x: np.ndarray, y: np.ndarray, mode: str, bound: float) -> None:
    """Every finite element within its bound; non-finite and zero-bound elements bit-exact."""
    assert x.shape == y.shape and x.dtype == y.dtype
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    eb = element_bounds(xf, mode, bound)
    a = xf.astype(np.float64)
    b = yf.astype(np.float64)
    exact = ~np.isfinite(a) | (eb == 0.0)
    bits = xf.view(np.uint8).reshape(xf.shape[0], -1) == yf.view(np.uint8).reshape(xf.shape[0], -1)
    bad_exact = np.flatnonzero(exact & ~bits.all(axis=1))
    assert bad_exact.size == 0, f"{bad_exact.size} non-finite/zero-bound elements changed"
    with np.errstate(invalid="ignore"):
        err = np.abs(a - b)
    bad = np.flatnonzero(~exact & ~(err <= eb))
    assert bad.size == 0, (f"{bad.size} elements outside the bound, first {bad[0]}: "
                           f"x={a[bad[0]]} y={b[bad[0]]} eb={eb[bad[0]]}")
