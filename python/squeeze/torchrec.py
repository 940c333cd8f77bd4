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
in rank order), else from ``dim_sum_per_rank`` (the backward gradients: ``[B_local,
D_global_sum]`` regrouped by rank, so rank r's slice is ``B_local * dim_sum_per_rank[r]``; TorchRec
does not hand the codec these sizes, so set them from the sharding plan), else from
``world_size`` (equal slices: TorchRec's forward pooled all-to-all with equal batches per rank,
``[B_global, D_local]`` flattened), else the whole tensor is one slice. The slice of the
sender itself (``rank``) stays local in NCCL and is left untouched.

Row layouts and the adaptive bound (docs/CONFIG.md, "Row layouts"): ``table_layout`` makes a
``codec.Layout`` of a rank's tables (``TableSpec``: name, dim, rows) with each table's bound from
its class (the SC'24 paper's, ``codec.class_bound``) and per-name overrides; the codec takes one
``layout`` for every peer (the forward pooled embeddings: the sender's own tables) or ``layouts``
per peer (the backward gradients: the receiver's tables), and a ``schedule`` whose iteration
``set_iteration`` moves. ``register_layout`` hands the plugin the same layout and
``set_iteration`` its iteration, through the plugin's control API.

Torch is imported lazily; TorchRec is never needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import codec
from .frames import CHUNK_BYTES, MIN_BYTES, Link, LinkStats


@dataclass(frozen=True)
class TableSpec:
    """One embedding table of a sharding plan: its name, dim and rows (cardinality)."""
    name: str
    dim: int
    rows: int = 0


def table_bounds(tables: Sequence[TableSpec], bound: float, classes: bool = True,
                 overrides: Optional[Dict[str, float]] = None) -> List[float]:
    """Each table's bound: ``overrides[name]`` when given, else its class (``codec.class_bound``)
    with ``classes``, else ``bound``."""
    overrides = overrides or {}
    return [float(overrides[t.name]) if t.name in overrides
            else codec.class_bound(t.rows, bound) if classes else float(bound) for t in tables]


def table_layout(tables: Sequence[TableSpec], bound: float, classes: bool = True,
                 overrides: Optional[Dict[str, float]] = None) -> codec.Layout:
    """The layout of rows made of ``tables`` in order, each with its bound (table_bounds)."""
    return codec.Layout([int(t.dim) for t in tables],
                        table_bounds(tables, bound, classes, overrides))


def layout_text(tables: Sequence[TableSpec], bound: float, classes: bool = True,
                overrides: Optional[Dict[str, float]] = None) -> str:
    """NCCL_SQUEEZE_LAYOUT's syntax for the same layout (every bound explicit, so the plugin's
    own TABLE_CLASSES does not matter)."""
    bounds = table_bounds(tables, bound, classes, overrides)
    return ",".join(f"{int(t.dim)}@{int(t.rows)}={b:.6g}" for t, b in zip(tables, bounds))


def plugin_layout_for_plan(plan: Dict[int, Sequence[TableSpec]]
                           ) -> Tuple[Optional[List[TableSpec]], bool, str]:
    """The tables the plugin's one process-wide layout may describe for a sharding plan (rank ->
    its tables in the order of its pooled output): every rank's rows when all ranks hold the same
    dims in the same order (forward and backward rows alike; per_table True), else one vector
    width when every table has it (local records per vector, one bound; per_table False), else
    none. Returns (tables or None, per_table, why)."""
    dims = {r: [int(t.dim) for t in ts] for r, ts in plan.items()}
    first = next(iter(plan.values()))
    if all(d == dims[next(iter(dims))] for d in dims.values()):
        return list(first), True, "every rank's rows have the same tables: both directions"
    widths = {d for ds in dims.values() for d in ds}
    if len(widths) == 1:
        w = widths.pop()
        return [TableSpec("vector", w, 0)], False, (
            f"ranks hold different tables, all of dim {w}: records per vector (local mode)")
    return None, False, ("ranks hold different tables of different dims: the plugin's one "
                         "layout cannot describe both directions")


def _plugin_lib(plugin_path: Optional[str]):
    import ctypes
    from .plugin import find_plugin
    lib = ctypes.CDLL(str(find_plugin(plugin_path)))
    lib.squeeze_set_layout.argtypes = [ctypes.c_char_p]
    lib.squeeze_set_layout.restype = ctypes.c_int
    lib.squeeze_set_iteration.argtypes = [ctypes.c_uint64]
    lib.squeeze_set_iteration.restype = None
    return lib


def register_layout(plan: Dict[int, Sequence[TableSpec]], bound: float, classes: bool = True,
                    overrides: Optional[Dict[str, float]] = None,
                    plugin_path: Optional[str] = None) -> Optional[str]:
    """Registers with the loaded plugin (squeeze_set_layout) the layout that fits ``plan`` (see
    plugin_layout_for_plan); returns the text registered, or None when none fits (nothing is
    changed). Raises RuntimeError when the plugin refuses it."""
    tables, per_table, _ = plugin_layout_for_plan(plan)
    if tables is None:
        return None
    # Vectors of unknown tables get the bound itself (the tight class): never looser than asked.
    text = layout_text(tables, bound, classes and per_table, overrides if per_table else None)
    if _plugin_lib(plugin_path).squeeze_set_layout(text.encode()) != 0:
        raise RuntimeError(f"squeeze_set_layout refused {text!r} (see the NCCL WARN line)")
    return text


def set_plugin_iteration(iteration: int, plugin_path: Optional[str] = None) -> None:
    """The plugin's schedule iteration (squeeze_set_iteration), e.g. once per training step."""
    _plugin_lib(plugin_path).squeeze_set_iteration(int(iteration))


class PassThroughQCommsCodec:
    """A direction Squeeze leaves alone: every method is the identity (SqueezeQCommsCodec
    overrides ``encode`` and ``create_context``). TorchRec's own
    ``NoOpQuantizedCommCodec`` cannot stand in for it: its ``quantized_dtype`` is a method, not a
    property, and TorchRec 1.9's planner (``build_sharder_data``) passes it to ``torch.tensor(...,
    dtype=...)``, which raises ``TypeError`` for a registry whose backward was left out."""

    @property
    def quantized_dtype(self):
        import torch
        return torch.float32

    def create_context(self) -> None:
        return None

    def calc_quantized_size(self, input_len: int, ctx=None) -> int:
        return int(input_len)

    def padded_size(self, input_tensor, dim_per_rank: List[int], my_rank: int,
                    qcomm_ctx=None) -> Tuple[int, int]:
        dim_sum = input_tensor.shape[0] if input_tensor.dim() == 1 else input_tensor.shape[1]
        return int(dim_sum), 0

    def encode(self, input_tensor, ctx=None):
        return input_tensor

    def decode(self, input_grad, ctx=None):
        return input_grad


@dataclass
class SqueezeQCommsContext:
    """Carries the per-peer split of one encode (elements per peer, rank order) and, after it,
    what the encode did (``stats``: input and wire bytes over the slices that were sent)."""

    split_sizes: Optional[List[int]] = None
    stats: LinkStats = field(default_factory=LinkStats)
    # TorchRec reads this attribute after padded_size (None: no padding).
    padded_dim_sum_per_rank: Optional[List[int]] = None


class SqueezeQCommsCodec(PassThroughQCommsCodec):
    """A TorchRec-shaped QComms codec applying Squeeze's round trip (see the module docstring).

    ``mode`` / ``bound`` / ``caps``: as codec.compress; ``rank``: the sender's rank (its own
    slice is not transformed), None for none; ``history``: each peer's slices form a stream across
    calls (the plugin's host path) when True, self-contained frames (its GPU path) when False.
    ``dim_sum_per_rank``: each rank's pooled width (its tables' dims summed), which cuts a
    backward gradient into the ranks' slices (may be set after construction, once the sharding
    plan is known). ``layout``: the rows of every peer's slice (``layouts``: per peer, which
    wins), applied as the plugin applies it (``exact_columns``: from every step's true column
    instead, see squeeze/frames.py); ``schedule`` ("constant", "step", "linear"), ``schedule_iters``,
    ``schedule_start``: the bound's factor at the iteration ``set_iteration`` gave."""

    def __init__(self, mode: str = codec.DEFAULT_MODE, bound: float = codec.DEFAULT_LOCAL_BOUND,
                 caps: int = codec.CAPS_ALL, world_size: Optional[int] = None,
                 rank: Optional[int] = None,
                 dim_sum_per_rank: Optional[Sequence[int]] = None, chunk_bytes: int = CHUNK_BYTES,
                 min_bytes: int = MIN_BYTES, history: bool = False,
                 layout: Optional[codec.Layout] = None,
                 layouts: Optional[Dict[int, codec.Layout]] = None, exact_columns: bool = False,
                 schedule: str = "constant", schedule_iters: int = 65536,
                 schedule_start: float = 2.0):
        codec._load()  # fail early, with LibraryNotFound, when the library is missing
        if mode not in codec.MODES:
            raise ValueError(f"mode must be one of {sorted(codec.MODES)}")
        self.mode, self.bound, self.caps = mode, float(bound), int(caps)
        self.world_size, self.rank = world_size, rank
        self.dim_sum_per_rank = list(dim_sum_per_rank) if dim_sum_per_rank is not None else None
        self.chunk_bytes, self.min_bytes, self.history = chunk_bytes, min_bytes, history
        self._links: Dict[int, Link] = {}
        self.stats = LinkStats()  # over every encode
        self.layout, self.layouts, self.exact_columns = layout, dict(layouts or {}), exact_columns
        if schedule not in codec.SCHEDULES:
            raise ValueError(f"schedule must be one of {sorted(codec.SCHEDULES)}")
        self.schedule, self.schedule_iters = schedule, int(schedule_iters)
        self.schedule_start = float(schedule_start)
        self.iteration = 0

    def set_iteration(self, iteration: int) -> None:
        """The training iteration the schedule is at (from the next encode on)."""
        self.iteration = int(iteration)

    @property
    def factor(self) -> float:
        """The schedule's factor at the current iteration."""
        return codec.schedule_factor(self.schedule, self.iteration, self.schedule_iters,
                                     self.schedule_start)

    # -- TorchRec's interface -------------------------------------------------------------------

    def create_context(self) -> SqueezeQCommsContext:
        return SqueezeQCommsContext()

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

    # -- helpers --------------------------------------------------------------------------------

    def _splits(self, n: int, ctx: Optional[SqueezeQCommsContext]) -> Sequence[int]:
        if ctx is not None and ctx.split_sizes is not None:
            if sum(ctx.split_sizes) != n:
                raise ValueError(f"split_sizes sum to {sum(ctx.split_sizes)}, tensor has {n}")
            return list(ctx.split_sizes)
        if self.dim_sum_per_rank:
            d = sum(self.dim_sum_per_rank)
            if d <= 0 or n % d:
                raise ValueError(f"{n} elements are not rows of the ranks' widths "
                                 f"{self.dim_sum_per_rank} (sum {d})")
            return [n // d * w for w in self.dim_sum_per_rank]
        if self.world_size:
            if n % self.world_size:
                raise ValueError(f"{n} elements do not split into {self.world_size} equal slices;"
                                 " set ctx.split_sizes")
            return [n // self.world_size] * self.world_size
        return [n]

    def _link(self, peer: int) -> Link:
        if peer not in self._links:
            self._links[peer] = Link(self.mode, self.bound, self.caps, self.chunk_bytes,
                                     self.min_bytes, history=self.history,
                                     exact_columns=self.exact_columns)
        link = self._links[peer]
        # The bounds of this encode: the schedule's factor times the configured ones.
        f = self.factor
        link.bound = self.bound * f
        lay = self.layouts.get(peer, self.layout)
        if lay is not None and lay.bounds is not None:
            lay = codec.Layout(lay.cols, [b * f for b in lay.bounds], lay.start_col)
        link.layout = lay
        return link

    def close(self) -> None:
        for link in self._links.values():
            link.close()
        self._links.clear()


def qcomm_codecs(forward: Optional[SqueezeQCommsCodec] = None,
                 backward: Optional[SqueezeQCommsCodec] = None):
    """A TorchRec ``QuantizedCommCodecs(forward, backward)`` when TorchRec is installed, else a
    plain object with the same two attributes; a missing direction is a PassThroughQCommsCodec."""
    forward = forward if forward is not None else PassThroughQCommsCodec()
    backward = backward if backward is not None else PassThroughQCommsCodec()
    try:
        from torchrec.distributed.types import QuantizedCommCodecs  # type: ignore
    except ImportError:
        class QuantizedCommCodecs:  # noqa: N801 - TorchRec's name
            def __init__(self, forward=None, backward=None):
                self.forward, self.backward = forward, backward
        return QuantizedCommCodecs(forward, backward)
    return QuantizedCommCodecs(forward=forward, backward=backward)
