"""DLRM in plain PyTorch (CPU), as facebookresearch/dlrm, plus a mixed-width variant.

* bottom MLP 13-512-256-D (ReLU after every layer, as dlrm_s_pytorch.py);
* one ``nn.EmbeddingBag`` (sum pooling, ``sparse=True``) per table, so a step touches only the
  rows it looked up and 10^6-row tables train fast on a CPU;
* interaction: pairwise dot products of the 27 vectors (dense output + 26 pooled embeddings),
  strictly lower triangle, concatenated with the dense output (dlrm's ``interaction_op="dot"``);
  or, for tables of different widths, a concatenation of the dense output and every pooled vector;
* top MLP 512-256-1 (logit; the loss is BCE-with-logits).

The sparse part and the dense part are separate calls (``pooled`` and ``head``) so that the
emulated all-to-all (a2a.py) can sit between them, where TorchRec's sits.

Initialisation follows dlrm_s_pytorch.py: embedding rows uniform in +-sqrt(1/rows) (so a 10^6-row
table starts at +-0.001, a 3-row table at +-0.58), linear weights normal(0, sqrt(2/(in+out))),
biases normal(0, sqrt(1/out)).
"""

from __future__ import annotations

import math
from typing import List, Sequence

import numpy as np
import torch
from torch import nn

from .data import TableSpec


def _mlp(sizes: Sequence[int], in_features: int, last_relu: bool,
         gen: torch.Generator) -> nn.Sequential:
    layers: List[nn.Module] = []
    for i, out in enumerate(sizes):
        lin = nn.Linear(in_features, out)
        with torch.no_grad():
            lin.weight.normal_(0.0, math.sqrt(2.0 / (in_features + out)), generator=gen)
            lin.bias.normal_(0.0, math.sqrt(1.0 / out), generator=gen)
        layers.append(lin)
        if last_relu or i + 1 < len(sizes):
            layers.append(nn.ReLU())
        in_features = out
    return nn.Sequential(*layers)


class DLRM(nn.Module):
    """``interaction="dot"`` needs every table and the bottom MLP's output to share one width;
    ``"cat"`` accepts any widths. ``bottom`` lists the hidden sizes and the output width."""

    def __init__(self, tables: Sequence[TableSpec], *, num_dense: int = 13,
                 bottom: Sequence[int] = (512, 256, 64), top: Sequence[int] = (512, 256, 1),
                 interaction: str = "dot", seed: int = 0):
        super().__init__()
        if top[-1] != 1:
            raise ValueError("the top MLP must end with 1")
        self.tables = list(tables)
        self.interaction = interaction
        gen = torch.Generator().manual_seed(int(seed))
        self.embs = nn.ModuleList()
        for t in self.tables:
            bag = nn.EmbeddingBag(t.rows, t.dim, mode="sum", sparse=True)
            bound = math.sqrt(1.0 / t.rows)
            with torch.no_grad():
                bag.weight.uniform_(-bound, bound, generator=gen)
            self.embs.append(bag)
        self.bottom = _mlp(bottom, num_dense, last_relu=True, gen=gen)
        d = bottom[-1]
        f = len(self.tables)
        if interaction == "dot":
            if any(t.dim != d for t in self.tables):
                raise ValueError("dot interaction needs every table width == bottom[-1]; "
                                 "use interaction='cat' for mixed widths")
            li, lj = np.tril_indices(f + 1, k=-1)  # strictly lower triangle, row by row
            flat = (li * (f + 1) + lj).astype(np.int64)
            self.register_buffer("_tril", torch.from_numpy(flat), persistent=False)
            top_in = d + (f + 1) * f // 2
        elif interaction == "cat":
            top_in = d + sum(t.dim for t in self.tables)
        else:
            raise ValueError("interaction must be 'dot' or 'cat'")
        self.top = _mlp(top, top_in, last_relu=False, gen=gen)

    def embedding_parameters(self) -> List[nn.Parameter]:
        return [e.weight for e in self.embs]

    def dense_parameters(self) -> List[nn.Parameter]:
        return list(self.bottom.parameters()) + list(self.top.parameters())

    def pooled(self, ids: Sequence[torch.Tensor], offsets: Sequence[torch.Tensor]
               ) -> List[torch.Tensor]:
        """Pooled embedding of every table over the batch: [B, dim_t] each."""
        return [e(i, o) for e, i, o in zip(self.embs, ids, offsets)]

    def head(self, dense: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """Logits [B] from the dense features and all tables' pooled embeddings, concatenated
        in table order ([B, sum of dims])."""
        x = self.bottom(dense)
        if self.interaction == "dot":
            b, d = x.shape
            t = torch.cat([x.unsqueeze(1), pooled.view(b, -1, d)], dim=1)  # [B, F+1, D]
            z = torch.bmm(t, t.transpose(1, 2)).reshape(b, -1)
            r = torch.cat([x, z.index_select(1, self._tril)], dim=1)
        else:
            r = torch.cat([x, pooled], dim=1)
        return self.top(r).squeeze(1)


class SparseRowwiseAdagrad:
    """Row-wise Adagrad on the sparse gradients of embedding tables (TorchRec's default fused
    optimizer for tables): one accumulator per row, the mean of the squared gradient over the row.
    Only the rows in a step's gradient are read or written."""

    def __init__(self, params: Sequence[nn.Parameter], lr: float, eps: float = 1e-8):
        self.params = list(params)
        self.lr = float(lr)
        self.eps = float(eps)
        self.state = [torch.zeros(p.shape[0], dtype=torch.float32) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        for p, acc in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = p.grad.coalesce()
            rows = g.indices()[0]
            vals = g.values()
            a = acc.index_select(0, rows) + vals.pow(2).mean(dim=1)
            acc.index_copy_(0, rows, a)
            upd = vals * (self.lr / (a.sqrt() + self.eps)).unsqueeze(1)
            p.index_add_(0, rows, -upd)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


class SparseSGD:
    """Plain SGD on the sparse gradients of embedding tables (facebookresearch/dlrm's optimizer):
    a row moves by lr x its gradient, so rarely seen rows stay near their initial values."""

    def __init__(self, params: Sequence[nn.Parameter], lr: float):
        self.params = list(params)
        self.lr = float(lr)

    @torch.no_grad()
    def step(self) -> None:
        for p in self.params:
            if p.grad is None:
                continue
            g = p.grad.coalesce()
            p.index_add_(0, g.indices()[0], g.values(), alpha=-self.lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None
