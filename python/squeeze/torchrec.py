"""Squeeze where TorchRec's QComms codecs plug in.

``SqueezeQCommsCodec`` has the shape of TorchRec's ``QuantizedCommCodec`` (torchrec/distributed/
types.py: ``encode``, ``decode``, ``quantized_dtype``, ``calc_quantized_size``,
``create_context``, ``padded_size``), so it can stand in a ``QuantizedCommCodecs(forward=...,
backward=...)`` of a pooled-embedding all-to-all (``qcomms_config``-free: pass the object in a
``QuantizedCommCodecs`` to the sharder's ``qcomm_codecs_registry``). It does not shrink the
tensor: ``encode`` applies Squeeze's exact round trip to what the all-to-all will carry, cut per
peer and per NCCL step as the plugin cuts it (squeeze/frames.py), and returns float32 values,
which the collective then moves unchanged; ``decode`` is the identity. The values every peer
receives are bit for bit what the plugin's receivers would write, so a job can measure the
accuracy of the plugin's compression on any backend (gloo, CPU) without the plugin.

The tensor ``encode`` sees is the sender's flat all-to-all input, the peers' slices one after the
other. Where each peer's slice ends comes from the context (``split_sizes``, elements per peer,
in rank order), else from ``world_size`` (equal slices: TorchRec's forward pooled all-to-all with
equal batches per rank, ``[B_global, D_local]`` flattened), else the whole tensor is one slice.
The backward gradients' slices are ``B_local * D_rank_sum`` per rank, which TorchRec does not
hand the codec: set them in the context (``ctx.split_sizes``) for exact framing. The slice of the
sender itself (``rank``) stays local in NCCL and is left untouched.

Torch is imported lazily; TorchRec is never needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import codec
from .frames import CHUNK_BYTES, MIN_BYTES, Link, LinkStats


@dataclass
class SqueezeQCommsContext:
    """Carries the per-peer split of one encode (elements per peer, rank order) and, after it,
    what the encode did (``stats``: input and wire bytes over the slices that were sent)."""

    split_sizes: Optional[List[int]] = None
    stats: LinkStats = field(default_factory=LinkStats)
    # TorchRec reads this attribute after padded_size (None: no padding).
    padded_dim_sum_per_rank: Optional[List[int]] = None


class SqueezeQCommsCodec:
    """A TorchRec-shaped QComms codec applying Squeeze's round trip (see the module docstring).

    ``mode`` / ``bound`` / ``caps``: as codec.compress; ``rank``: the sender's rank (its own
    slice is not transformed), None for none; ``history``: each peer's slices form a stream across
    calls (the plugin's host path) when True, self-contained frames (its GPU path) when False."""

    def __init__(self, mode: str = codec.DEFAULT_MODE, bound: float = codec.DEFAULT_LOCAL_BOUND,
                 caps: int = codec.CAPS_ALL, world_size: Optional[int] = None,
                 rank: Optional[int] = None, chunk_bytes: int = CHUNK_BYTES,
                 min_bytes: int = MIN_BYTES, history: bool = False):
        codec._load()  # fail early, with LibraryNotFound, when the library is missing
        if mode not in codec.MODES:
            raise ValueError(f"mode must be one of {sorted(codec.MODES)}")
        self.mode, self.bound, self.caps = mode, float(bound), int(caps)
        self.world_size, self.rank = world_size, rank
        self.chunk_bytes, self.min_bytes, self.history = chunk_bytes, min_bytes, history
        self._links: Dict[int, Link] = {}
        self.stats = LinkStats()  # over every encode

    # -- TorchRec's interface -------------------------------------------------------------------

    @property
    def quantized_dtype(self):
        import torch
        return torch.float32

    def create_context(self) -> SqueezeQCommsContext:
        return SqueezeQCommsContext()

    def calc_quantized_size(self, input_len: int,
                            ctx: Optional[SqueezeQCommsContext] = None) -> int:
        return int(input_len)

    def padded_size(self, input_tensor, dim_per_rank: List[int], my_rank: int,
                    qcomm_ctx: Optional[SqueezeQCommsContext]) -> Tuple[int, int]:
        dim_sum = input_tensor.shape[0] if input_tensor.dim() == 1 else input_tensor.shape[1]
        return int(dim_sum), 0

    def encode(self, input_tensor, ctx: Optional[SqueezeQCommsContext] = None):
        import torch
        if input_tensor.dtype not in (torch.float32, torch.float16):
            # Integers and everything else travel bit-exact, as the plugin sends them.
            return input_tensor
        x = input_tensor.detach().contiguous().cpu().numpy().reshape(-1)
        splits = self._splits(x.shape[0], ctx)
        out = np.empty_like(x)
        begin = 0
        sums = LinkStats()
        for peer, n in enumerate(splits):
            piece = x[begin:begin + n]
            if peer == self.rank or n == 0:
                out[begin:begin + n] = piece
            else:
                out[begin:begin + n] = self._link(peer).round_trip(piece, stats=sums)
            begin += n
        self.stats.add(sums)
        if ctx is not None:
            ctx.stats.add(sums)
        return torch.from_numpy(out).reshape(input_tensor.shape).to(input_tensor.device)

    def decode(self, input_grad, ctx: Optional[SqueezeQCommsContext] = None):
        return input_grad

    # -- helpers --------------------------------------------------------------------------------

    def _splits(self, n: int, ctx: Optional[SqueezeQCommsContext]) -> Sequence[int]:
        if ctx is not None and ctx.split_sizes is not None:
            if sum(ctx.split_sizes) != n:
                raise ValueError(f"split_sizes sum to {sum(ctx.split_sizes)}, tensor has {n}")
            return list(ctx.split_sizes)
        if self.world_size:
            if n % self.world_size:
                raise ValueError(f"{n} elements do not split into {self.world_size} equal slices;"
                                 " set ctx.split_sizes")
            return [n // self.world_size] * self.world_size
        return [n]

    def _link(self, peer: int) -> Link:
        if peer not in self._links:
            self._links[peer] = Link(self.mode, self.bound, self.caps, self.chunk_bytes,
                                     self.min_bytes, history=self.history)
        return self._links[peer]

    def close(self) -> None:
        for link in self._links.values():
            link.close()
        self._links.clear()


def qcomm_codecs(forward: Optional[SqueezeQCommsCodec] = None,
                 backward: Optional[SqueezeQCommsCodec] = None):
    """A TorchRec ``QuantizedCommCodecs(forward, backward)`` when TorchRec is installed (missing
    directions stay TorchRec's no-op), else a plain object with the same two attributes."""
    try:
        from torchrec.distributed.types import QuantizedCommCodecs  # type: ignore
    except ImportError:
        class QuantizedCommCodecs:  # noqa: N801 - TorchRec's name
            def __init__(self, forward=None, backward=None):
                self.forward, self.backward = forward, backward
        return QuantizedCommCodecs(forward, backward)
    kw = {}
    if forward is not None:
        kw["forward"] = forward
    if backward is not None:
        kw["backward"] = backward
    return QuantizedCommCodecs(**kw)
