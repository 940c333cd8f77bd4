"""What the plugin does to one peer's slice of an all-to-all, exactly, in one process.

NCCL sends a peer's contiguous slice of an all-to-all (``all_to_all_single``) as consecutive
point-to-point steps of ``NCCL_P2P_NET_CHUNKSIZE`` bytes (128 KiB by default), the last one
shorter; the plugin compresses each step on its own into one frame (docs/FORMAT.md), except a
step below ``NCCL_SQUEEZE_MIN_BYTES`` (4096), which passes bit-exact. On the host path the
frames of one connection form a stream: with the history capability a frame may refer to
units of the connection's last 1 MiB of input (plugin/pipeline/comm.cc, ``StreamEncoder``).

``Link`` is one direction of one connection (one sender, one receiver): ``round_trip(x)`` cuts
``x`` (the slice, any float32/float16 array, C order) into those steps, compresses and
decompresses each through the codec, and returns what the receiver writes into NCCL's buffer,
with the byte counts (input, on the wire) accumulated in ``link.stats``.

    link = Link(mode="local", bound=1.96e-3)
    y = link.round_trip(x)          # same shape and dtype as x
    link.stats.ratio                # input bytes / wire bytes so far

With a row layout (``codec.Layout``: the tables of a row of the slice), ``Link`` does what the
plugin does with ``NCCL_SQUEEZE_LAYOUT`` (docs/CONFIG.md, "Row layouts"): the layout where every
step starts at a row (a row's bytes divide 4 KiB), records per vector in local mode where tables
of one width have vectors whose bytes divide 4 KiB, else the smallest table bound for the whole
frame (``plugin_layout``). ``exact_columns=True`` instead gives every step the layout from its
true first column (what the plugin would do if NCCL told it where a step starts in the message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from . import codec

CHUNK_BYTES = 128 * 1024    # NCCL_P2P_NET_CHUNKSIZE default
MIN_BYTES = 4096            # NCCL_SQUEEZE_MIN_BYTES default


def plugin_layout(layout: "codec.Layout", itemsize: int, mode: str):
    """(layout or None, bound or None): what the plugin applies for ``layout`` to frames of
    ``itemsize``-byte elements in ``mode`` (codec.layout_placement, the plugin's rule): the layout
    itself, one table of the common width (local records per vector), or None with the smallest
    table bound (None: no bounds in the layout, the mode's bound stands)."""
    smallest = min(layout.bounds) if layout.bounds is not None else None
    where = codec.layout_placement(layout.cols, itemsize, mode)
    if where == "tables":
        return layout, None
    if where == "vectors":
        return codec.Layout([layout.cols[0]], None if smallest is None else [smallest]), None
    return None, smallest


@dataclass
class LinkStats:
    input_bytes: int = 0
    wire_bytes: int = 0          # frames + bit-exact steps
    frames: int = 0
    passthrough_steps: int = 0   # steps below min_bytes
    outliers: int = 0
    history_ref_units: int = 0
    frame_ratios: List[float] = field(default_factory=list)  # input / frame, per frame

    @property
    def ratio(self) -> float:
        return self.input_bytes / self.wire_bytes if self.wire_bytes else 1.0

    def add(self, other: "LinkStats") -> None:
        self.input_bytes += other.input_bytes
        self.wire_bytes += other.wire_bytes
        self.frames += other.frames
        self.passthrough_steps += other.passthrough_steps
        self.outliers += other.outliers
        self.history_ref_units += other.history_ref_units


def steps(nbytes: int, chunk_bytes: int = CHUNK_BYTES):
    """(begin, end) byte ranges of the steps NCCL cuts a message of nbytes into."""
    return [(b, min(nbytes, b + chunk_bytes)) for b in range(0, nbytes, chunk_bytes)]


class Link:
    """One direction of one connection through the plugin (see the module docstring).

    ``history``: frames refer to earlier frames of the link, as on the plugin's host path
    (default); False gives self-contained frames, as the GPU path sends. ``keep_frame_ratios``
    records input/frame of every frame in ``stats.frame_ratios``."""

    def __init__(self, mode: str = codec.DEFAULT_MODE, bound: float = codec.DEFAULT_LOCAL_BOUND,
                 caps: int = codec.CAPS_ALL, chunk_bytes: int = CHUNK_BYTES,
                 min_bytes: int = MIN_BYTES, history: bool = True,
                 window_bytes: int = codec.DEFAULT_WINDOW_BYTES, keep_frame_ratios: bool = False,
                 layout: Optional[codec.Layout] = None, exact_columns: bool = False):
        if chunk_bytes <= 0:
            raise ValueError("chunk_bytes must be positive")
        self.mode, self.bound = mode, float(bound)
        self.caps = int(caps) if history else int(caps) & ~codec.CAP_HISTORY
        self.chunk_bytes, self.min_bytes = int(chunk_bytes), int(min_bytes)
        self.history = bool(history) and bool(self.caps & codec.CAP_HISTORY)
        self.keep_frame_ratios = keep_frame_ratios
        self.layout, self.exact_columns = layout, bool(exact_columns)
        self.stats = LinkStats()
        self._enc = codec.StreamEncoder(window_bytes) if self.history else None
        self._dec = codec.StreamDecoder(window_bytes) if self.history else None

    def round_trip(self, x: np.ndarray, dtype: Optional[str] = None,
                   stats: Optional[LinkStats] = None) -> np.ndarray:
        """What the receiver gets for the slice ``x``; ``dtype`` as codec.compress. Counts into
        ``self.stats`` and ``stats`` when given."""
        x = np.ascontiguousarray(x)
        out = np.empty_like(x)
        src = x.reshape(-1).view(np.uint8)
        dst = out.reshape(-1).view(np.uint8)
        dt = dtype or codec._dtype_of(x, None)
        sums = LinkStats()
        lay, bound = None, self.bound
        if self.layout is not None:
            if self.exact_columns:
                lay = self.layout
            else:
                lay, smallest = plugin_layout(self.layout, x.itemsize, self.mode)
                bound = smallest if lay is None and smallest is not None else self.bound
        for b, e in steps(src.shape[0], self.chunk_bytes):
            piece = src[b:e]
            sums.input_bytes += e - b
            if e - b < self.min_bytes:  # bit-exact, as the plugin passes small messages
                dst[b:e] = piece
                sums.wire_bytes += e - b
                sums.passthrough_steps += 1
                continue
            step_layout = lay.at(b // x.itemsize) if lay is not None else None
            if self._enc is not None:
                frame, st = self._enc.compress(piece, self.mode, bound, self.caps, dt,
                                               with_stats=True, layout=step_layout)
                got = self._dec.decompress_into(frame, dst[b:e])
            else:
                frame, st = codec.compress(piece, self.mode, bound, self.caps, dt,
                                           with_stats=True, layout=step_layout)
                got = codec.decompress_into(frame, dst[b:e])
            if got != e - b:
                raise codec.SqueezeError(codec.CORRUPT_FRAME, "round_trip: size changed")
            sums.wire_bytes += len(frame)
            sums.frames += 1
            sums.outliers += st.outliers
            sums.history_ref_units += st.history_ref_units
            if self.keep_frame_ratios:
                self.stats.frame_ratios.append((e - b) / len(frame))
        self.stats.add(sums)
        if stats is not None:
            stats.add(sums)
        return out

    def close(self) -> None:
        for s in (self._enc, self._dec):
            if s is not None:
                s.close()
        self._enc = self._dec = None
