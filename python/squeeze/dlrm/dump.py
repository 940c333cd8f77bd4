"""Writes chosen all-to-all blocks of a training run as raw little-endian float32 files.

A ``PayloadDump`` is passed to ``train(..., dump=...)``. At the chosen steps it writes, for every
chosen (owner, peer) pair of ranks, the forward block owner -> peer (the owner's pooled
embeddings for the peer's samples) and the backward block peer -> owner (the peer's gradients for
the owner's tables); both are [local batch, D_owner] with the owner's row layout. It records one
manifest entry per file (see ``entries``); tools/corpus/make_corpus.py writes them into
manifest.json. The files hold what the hooks see before any transform: the bytes NCCL would move.
"""

from __future__ import annotations

import hashlib
import os
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np
import torch

from .a2a import BlockLayout


def ring_pairs(ranks: int, hops: Sequence[int] = (1,)) -> List[Tuple[int, int]]:
    """(owner, peer) pairs: every rank with the rank ``hop`` after it, for each hop."""
    return [(r, (r + h) % ranks) for h in hops for r in range(ranks) if (r + h) % ranks != r]


class PayloadDump:
    def __init__(self, out_dir: str, label: str, seed: int, steps: Iterable[int],
                 pairs: Iterable[Tuple[int, int]], directions: Sequence[str] = ("fwd", "bwd"),
                 rel_root: Optional[str] = None):
        """``out_dir``/``label``/ receives the files; manifest paths are relative to
        ``rel_root`` (default ``out_dir``)."""
        self.out_dir = out_dir
        self.label = label
        self.seed = int(seed)
        self.steps: Set[int] = {int(s) for s in steps}
        self.pairs: Set[Tuple[int, int]] = {(int(a), int(b)) for a, b in pairs}
        self.directions = tuple(directions)
        self.rel_root = rel_root or out_dir
        self.step: Optional[int] = None
        self.entries: List[Dict] = []
        os.makedirs(os.path.join(out_dir, label), exist_ok=True)

    def begin_step(self, step: Optional[int]) -> None:
        self.step = step

    def __call__(self, direction: str, src: int, dst: int, block: torch.Tensor,
                 layout: BlockLayout) -> None:
        if self.step is None or self.step not in self.steps or direction not in self.directions:
            return
        owner, peer = (src, dst) if direction == "fwd" else (dst, src)
        if (owner, peer) not in self.pairs:
            return
        arr = np.ascontiguousarray(block.detach().cpu().numpy(), dtype="<f4")
        name = f"s{self.step:05d}_{direction}_r{src}_to_r{dst}.f32"
        path = os.path.join(self.out_dir, self.label, name)
        data = arr.tobytes()
        with open(path, "wb") as f:
            f.write(data)
        entry = {
            "file": os.path.relpath(path, self.rel_root),
            "config": self.label,
            "seed": self.seed,
            "step": int(self.step),
            "dtype": "float32",
            "byteorder": "little",
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        entry.update(layout.as_dict())
        self.entries.append(entry)
