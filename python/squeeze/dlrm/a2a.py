"""TorchRec's table-wise pooled-embedding all-to-all, emulated with R ranks in one process.

What TorchRec does (``PooledEmbeddingsAllToAll`` / ``alltoall_pooled`` with table-wise sharding):
every table lives on one rank; after the input distribution, rank r computes the pooled
embeddings of its tables for the *global* batch, concatenated in its table order, [B, D_r]; the
global batch is the concatenation of the ranks' local batches (rank p owns samples
[p*b, (p+1)*b)); ``all_to_all_single`` then sends to every peer p the contiguous [B_p, D_r]
row-major slice of peer p's samples, and rank p ends up with [B_p, D_1 + ... + D_R]. The backward
all-to-all sends the gradients of those pooled outputs back: rank p sends to rank r the [B_p, D_r]
slice of its gradient, and rank r stacks what it receives into the gradient of its [B, D_r].

This module moves exactly those blocks, and lets a hook change every block that crosses the
network (src != dst; the src == dst block is the local copy NCCL does not send over the network
and is never transformed):

* forward block  ``(src=r, dst=p)``: [B_p, D_r], the table owner's pooled outputs for p's samples;
  ``fwd_transform(r, p, block)`` replaces what the interaction on rank p sees;
* backward block ``(src=p, dst=r)``: [B_p, D_r], rank p's gradient for r's tables;
  ``bwd_transform(p, r, block)`` replaces the gradient that rank r's tables receive.

Both go through one ``torch.autograd.Function``. A block's row layout (``BlockLayout``) is its
table owner's: the row width D_r and each table's column range [begin, end) in it.

Table-to-rank assignment (deterministic):
* ``"size"`` (default), greedy by size like a planner's greedy partitioner: tables sorted by
  rows * dim (largest first, ties by table index), each placed on the rank with the smallest total
  rows * dim so far (ties: lowest rank). With the Criteo Kaggle sizes capped at 10^6 and 4 ranks:
  rank 0 gets two 10^6-row tables, ranks 1 and 2 one each plus the 286k- and 143k-row tables, and
  rank 3 the fifth 10^6-row table with the 19 others (widths 2, 2, 2 and 20 tables).
* ``"perf"``: balanced like TorchRec's default GreedyPerfPartitioner, whose table-wise cost
  estimate grows with the width (bytes looked up and sent per sample), not with the rows: tables
  sorted by (dim, rows) largest first (ties by index), each placed on the rank with the smallest
  (total dims, total rows) so far (ties: lowest rank). Gives every rank about F / R tables and
  spreads the large tables, where ``"size"`` gives the small tables to whichever rank holds the
  smallest large ones (with 10^6-row caps and 4 ranks: widths 128, 128, 128, 1280).
* ``"round_robin"``: table i on rank i % R.
Within a rank, tables are in table-index order (TorchRec keeps a shard group's table order).
The model sees the received columns permuted back to table order, so with identity hooks the
all-to-all is an exact no-op and training does not depend on R or the assignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .data import TableSpec

Transform = Callable[[int, int, torch.Tensor], torch.Tensor]
# dump(direction, src, dst, block, layout): sees each cross-rank block before its transform.
DumpHook = Callable[[str, int, int, torch.Tensor, "BlockLayout"], None]


@dataclass(frozen=True)
class TableSlice:
    """One table's place in a block's row: columns [begin, end) of the row."""

    index: int          # the table's feature position (0..F-1)
    name: str
    rows: int           # cardinality of the table
    dim: int
    begin: int
    end: int

    def as_dict(self) -> Dict:
        return {"index": self.index, "name": self.name, "rows": self.rows, "dim": self.dim,
                "begin": self.begin, "end": self.end}


@dataclass(frozen=True)
class BlockLayout:
    """Shape and row layout of one all-to-all block, row-major float32 [samples, row_width]."""

    direction: str      # "fwd" or "bwd"
    src: int
    dst: int
    owner: int          # the rank whose tables the columns are
    samples: int        # rows of the block (B of the batch owner)
    row_width: int      # D_owner, elements per row
    tables: Tuple[TableSlice, ...]

    @property
    def crosses_network(self) -> bool:
        return self.src != self.dst

    @property
    def shape(self) -> Tuple[int, int]:
        return (self.samples, self.row_width)

    def as_dict(self) -> Dict:
        return {"direction": self.direction, "src_rank": self.src, "dst_rank": self.dst,
                "owner_rank": self.owner, "local_copy": not self.crosses_network,
                "shape": [self.samples, self.row_width], "row_width": self.row_width,
                "tables": [t.as_dict() for t in self.tables]}


def assign_tables(tables: Sequence[TableSpec], ranks: int, policy: str = "size") -> List[List[int]]:
    """Table indices per rank (each list in table-index order). See the module docstring."""
    if ranks < 1:
        raise ValueError("ranks must be >= 1")
    owned: List[List[int]] = [[] for _ in range(ranks)]
    if policy == "size":
        load = [0] * ranks
        for i in sorted(range(len(tables)), key=lambda i: (-tables[i].rows * tables[i].dim, i)):
            r = min(range(ranks), key=lambda r: (load[r], r))
            owned[r].append(i)
            load[r] += tables[i].rows * tables[i].dim
    elif policy == "perf":
        dims = [0] * ranks
        rows = [0] * ranks
        for i in sorted(range(len(tables)), key=lambda i: (-tables[i].dim, -tables[i].rows, i)):
            r = min(range(ranks), key=lambda r: (dims[r], rows[r], r))
            owned[r].append(i)
            dims[r] += tables[i].dim
            rows[r] += tables[i].rows
    elif policy == "round_robin":
        for i in range(len(tables)):
            owned[i % ranks].append(i)
    else:
        raise ValueError("assignment policy must be 'size', 'perf' or 'round_robin'")
    return [sorted(o) for o in owned]


class TablewiseAllToAll:
    """R emulated ranks, local batch ``local_batch`` each (global batch R * local_batch)."""

    def __init__(self, tables: Sequence[TableSpec], ranks: int, local_batch: int,
                 assignment: str = "size", fwd_transform: Optional[Transform] = None,
                 bwd_transform: Optional[Transform] = None, dump: Optional[DumpHook] = None):
        self.tables = list(tables)
        self.ranks = int(ranks)
        self.local_batch = int(local_batch)
        self.owned = assign_tables(self.tables, self.ranks, assignment)
        self.assignment = assignment
        self.fwd_transform = fwd_transform
        self.bwd_transform = bwd_transform
        self.dump = dump
        self.width = [sum(self.tables[i].dim for i in o) for o in self.owned]  # D_r
        self.col0 = [sum(self.width[:r]) for r in range(self.ranks)]  # rank r's columns, rank-major
        self.total_width = sum(self.width)
        # Column permutation from rank-major order back to table order.
        rank_major: List[int] = []
        for o in self.owned:
            for i in o:
                t = self.tables[i]
                start = sum(self.tables[j].dim for j in range(i))
                rank_major.extend(range(start, start + t.dim))
        inv = [0] * len(rank_major)
        for pos, col in enumerate(rank_major):
            inv[col] = pos
        self._to_table_order = torch.tensor(inv, dtype=torch.int64)
        self._slices = []
        for o in self.owned:
            slices, c = [], 0
            for i in o:
                t = self.tables[i]
                slices.append(TableSlice(t.index, t.name, t.rows, t.dim, c, c + t.dim))
                c += t.dim
            self._slices.append(tuple(slices))

    @property
    def global_batch(self) -> int:
        return self.ranks * self.local_batch

    @property
    def to_table_order(self) -> torch.Tensor:
        """Column permutation: received[:, to_table_order] puts rank-major columns (rank 0's
        tables, then rank 1's, ...) in table order."""
        return self._to_table_order

    def owner_of(self, table_index: int) -> int:
        for r, o in enumerate(self.owned):
            if table_index in o:
                return r
        raise KeyError(table_index)

    def layout(self, direction: str, src: int, dst: int) -> BlockLayout:
        """Layout of the block ``src`` sends to ``dst`` (fwd: src owns the tables; bwd: dst)."""
        if direction not in ("fwd", "bwd"):
            raise ValueError("direction must be 'fwd' or 'bwd'")
        owner = src if direction == "fwd" else dst
        return BlockLayout(direction, src, dst, owner, self.local_batch, self.width[owner],
                           self._slices[owner])

    def blocks(self, direction: str, include_local: bool = False) -> List[BlockLayout]:
        return [self.layout(direction, s, d) for s in range(self.ranks) for d in range(self.ranks)
                if include_local or s != d]

    def __call__(self, pooled: Sequence[torch.Tensor]) -> torch.Tensor:
        """``pooled[t]``: table t's pooled embeddings for the global batch, [B, dim_t].
        Returns what the ranks receive, stacked in batch order and with columns in table order:
        [B, sum of dims] (rank p's received tensor is rows [p*b, (p+1)*b))."""
        if len(pooled) != len(self.tables):
            raise ValueError("one pooled tensor per table expected")
        sent = [torch.cat([pooled[i] for i in o], dim=1) if o else
                pooled[0].new_zeros((pooled[0].shape[0], 0)) for o in self.owned]
        for s in sent:
            if s.shape[0] != self.global_batch:
                raise ValueError(f"pooled batch {s.shape[0]} != global batch {self.global_batch}")
        received = ExchangeFunction.apply(self, *sent)  # rank-major columns
        return received.index_select(1, self._to_table_order)

    # The exchanges proper; called by ExchangeFunction.
    def _forward_exchange(self, sent: Sequence[torch.Tensor]) -> torch.Tensor:
        b = self.local_batch
        out = sent[0].new_empty((self.global_batch, self.total_width))
        for r in range(self.ranks):                    # table owner, sender
            c0, c1 = self.col0[r], self.col0[r] + self.width[r]
            for p in range(self.ranks):                # batch owner, receiver
                block = sent[r][p * b:(p + 1) * b]     # [B_p, D_r], contiguous
                if r != p and self.width[r] > 0:
                    block = self._hook("fwd", r, p, block, self.fwd_transform)
                out[p * b:(p + 1) * b, c0:c1] = block
        return out

    def _backward_exchange(self, grad: torch.Tensor) -> List[torch.Tensor]:
        b = self.local_batch
        grads = []
        for r in range(self.ranks):                    # table owner, receiver of gradients
            c0, c1 = self.col0[r], self.col0[r] + self.width[r]
            g = grad.new_empty((self.global_batch, self.width[r]))
            for p in range(self.ranks):                # batch owner, sender of gradients
                block = grad[p * b:(p + 1) * b, c0:c1].contiguous()  # what rank p sends to r
                if r != p and self.width[r] > 0:
                    block = self._hook("bwd", p, r, block, self.bwd_transform)
                g[p * b:(p + 1) * b] = block
            grads.append(g)
        return grads

    def _hook(self, direction: str, src: int, dst: int, block: torch.Tensor,
              transform: Optional[Transform]) -> torch.Tensor:
        return cross_network_block(block, self.layout(direction, src, dst), transform,
                                   self.dump)


def cross_network_block(block: torch.Tensor, layout: BlockLayout,
                        transform: Optional[Transform],
                        dump: Optional[DumpHook] = None) -> torch.Tensor:
    """What the receiver gets of one cross-rank block: the dump hook sees it first, then the
    transform replaces it (on a copy). The one definition of a block's trip over the network,
    for the emulated ranks here and the real ones of distributed.py."""
    direction, src, dst = layout.direction, layout.src, layout.dst
    if dump is not None:
        dump(direction, src, dst, block, layout)
    if transform is None:
        return block
    out = transform(src, dst, block.clone())
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(block.shape):
        raise ValueError(f"{direction}_transform({src}, {dst}) must return a tensor of shape "
                         f"{tuple(block.shape)}")
    return out.to(dtype=block.dtype)


class ExchangeFunction(torch.autograd.Function):
    """An all-to-all as an autograd step: ``exchange._forward_exchange(sent)`` (the senders'
    tensors, one per input) gives what is received, ``exchange._backward_exchange(grad)`` the
    gradient of each input. Used by the emulated ranks here and a real rank in distributed.py."""

    @staticmethod
    def forward(ctx, exchange, *sent: torch.Tensor) -> torch.Tensor:
        ctx.exchange = exchange
        with torch.no_grad():
            return exchange._forward_exchange(sent)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        with torch.no_grad():
            grads = ctx.exchange._backward_exchange(grad.contiguous())
        return (None, *grads)
