"""Training of the project's DLRM with one process per rank: real all-to-alls over gloo.

train.py emulates R ranks in one process (a2a.py moves the blocks); this module runs the same
model, data and optimizers as R processes joined by ``torch.distributed`` (gloo, CPU), as a
TorchRec job with table-wise sharding and DDP does, to confirm that the emulation is what a
multi-rank job computes:

* every rank builds the whole model from the seed (the same initial weights everywhere) and
  keeps the tables the sharding plan (a2a.assign_tables) gives it, plus a replica of the MLPs;
* every rank draws the same global batch; it looks up its tables for all B samples and keeps its
  own local batch of dense features and labels (rank p: samples [p*b, (p+1)*b));
* forward: ``all_to_all_single`` sends peer p the [b, D_r] slice of p's samples; each block that
  crosses the network goes through the forward transform on the sender (the codec's round trip:
  what the receiver decodes), through a2a.cross_network_block, the one definition both engines
  use; the receiver stacks the blocks into [b, D_1 + ... + D_R] and puts the columns in table
  order;
* backward: the gradient of those columns goes back the same way (rank p sends rank r the
  [b, D_r] slice, through the backward transform), and rank r's tables get [B, D_r];
* the MLPs' gradients are summed over the ranks (``all_reduce``) and divided by R, as DDP does;
  each rank's loss is the mean over its local batch.

With identity transforms the result equals train.train's up to floating-point summation order
(the MLP gradients are sums over local batches, then over ranks, instead of one sum over the
global batch): the losses agree to about 1e-6 at first and drift apart slowly, like two runs on
different thread counts. The held-out logits are gathered on rank 0 in the held-out set's order.

    from squeeze.dlrm.distributed import train_distributed
    result = train_distributed(PRESETS["quick"], seed=1, make_hooks=factory)

``make_hooks(rank)`` (picklable: the ranks are spawned processes) returns ``(fwd, bwd, dump)``
for that rank, each optional: transforms called as ``fwd(src, dst, block)`` for the blocks the
rank sends, and a dump hook with ``begin_step`` as train.train's. A transform with a ``counts()``
method (a dict of numbers, nested dicts and lists of numbers) has them summed over the ranks
into ``result["transform_counts"]["fwd" / "bwd"]``.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from .a2a import ExchangeFunction, TablewiseAllToAll, cross_network_block
from .data import make_tables
from .model import DLRM
from .train import (Config, LossLog, _tensors, begin_dump_step, make_data, make_optimizers,
                    run_result, step_optimizers, training_batches)

HooksFactory = Callable[[int], tuple]


def train_distributed(config: Config, seed: int, make_hooks: Optional[HooksFactory] = None,
                      log: Optional[Callable[[str], None]] = None,
                      timeout_s: float = 1800.0) -> Dict:
    """Spawns ``config.ranks`` processes (gloo over a rendezvous file), trains, returns rank 0's
    result (the keys of train.train's, plus ``engine`` and ``transform_counts``). A rank that
    fails stops the others (torch.multiprocessing.spawn), and a collective that waits longer
    than ``timeout_s`` fails with gloo's timeout error. ``log`` sees rank 0's progress lines."""
    import torch.multiprocessing as mp
    if config.ranks < 2:
        raise ValueError("a distributed run needs at least 2 ranks")
    with tempfile.TemporaryDirectory(prefix="squeeze-dist-") as d:
        rendezvous = "file://" + os.path.join(d, "rendezvous")
        result_path = os.path.join(d, "result.json")
        mp.spawn(_rank_main, args=(config, seed, make_hooks, rendezvous, result_path,
                                   timeout_s, log is not None),
                 nprocs=config.ranks, join=True)
        with open(result_path) as f:
            result = json.load(f)
    if log is not None:
        for line in result.pop("log_lines", []):
            log(line)
    result.pop("log_lines", None)
    return result


def _rank_main(rank: int, config: Config, seed: int, make_hooks: Optional[HooksFactory],
               rendezvous: str, result_path: str, timeout_s: float, keep_log: bool) -> None:
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    dist.init_process_group("gloo", init_method=rendezvous, rank=rank,
                            world_size=config.ranks,
                            timeout=datetime.timedelta(seconds=timeout_s))
    try:
        result = _train_rank(rank, config, seed, make_hooks, keep_log)
        if rank == 0:
            tmp = result_path + ".part"
            with open(tmp, "w") as f:
                json.dump(result, f)
            os.replace(tmp, result_path)
    finally:
        dist.destroy_process_group()


class _Exchange:
    """The pooled-embedding all-to-all of one rank (through a2a.ExchangeFunction): [B, D_rank]
    of its tables in, [b, sum D] (rank-major columns) out; the backward sends the gradient
    slices back to their owners."""

    def __init__(self, plan: TablewiseAllToAll, rank: int, fwd, bwd, dump):
        self.plan, self.rank = plan, rank
        self.fwd, self.bwd, self.dump = fwd, bwd, dump
        self.b = plan.local_batch
        self.width = plan.width

    def _forward_exchange(self, sent_by_input) -> torch.Tensor:
        (sent,) = sent_by_input
        b, r, w = self.b, self.rank, self.width
        pieces = []
        for p in range(self.plan.ranks):             # the batch owner, receiver
            block = sent[p * b:(p + 1) * b]
            if p != r and w[r] > 0:
                block = cross_network_block(block, self.plan.layout("fwd", r, p), self.fwd,
                                            self.dump)
            pieces.append(block.reshape(-1))
        out = sent.new_empty(b * sum(w))
        dist.all_to_all_single(out, torch.cat(pieces), output_split_sizes=[b * d for d in w],
                               input_split_sizes=[b * w[r]] * self.plan.ranks)
        parts = torch.split(out, [b * d for d in w])
        return torch.cat([part.view(b, d) for part, d in zip(parts, w)], dim=1)

    def _backward_exchange(self, grad: torch.Tensor) -> List[torch.Tensor]:
        b, r, w = self.b, self.rank, self.width
        pieces = []
        for s in range(self.plan.ranks):             # the table owner, receiver of gradients
            c0 = self.plan.col0[s]
            block = grad[:, c0:c0 + w[s]].contiguous()
            if s != r and w[s] > 0:
                block = cross_network_block(block, self.plan.layout("bwd", r, s), self.bwd,
                                            self.dump)
            pieces.append(block.reshape(-1))
        out = grad.new_empty(self.plan.global_batch * w[r])
        dist.all_to_all_single(out, torch.cat(pieces),
                               output_split_sizes=[b * w[r]] * self.plan.ranks,
                               input_split_sizes=[b * d for d in w])
        return [out.view(self.plan.global_batch, w[r])]   # rows in batch order


def _train_rank(rank: int, config: Config, seed: int, make_hooks: Optional[HooksFactory],
                keep_log: bool) -> Dict:
    t0 = time.perf_counter()
    lines: List[str] = []
    say = (lambda m: lines.append(m)) if (keep_log and rank == 0) else (lambda _m: None)
    fwd, bwd, dump = make_hooks(rank) if make_hooks is not None else (None, None, None)
    torch.manual_seed(seed)
    tables = make_tables(config.num_tables, config.max_rows, config.dim, config.mixed_dims)
    model = DLRM(tables, bottom=config.bottom, top=config.top,
                 interaction="cat" if config.mixed_dims else "dot", seed=seed)
    plan = TablewiseAllToAll(tables, config.ranks, config.local_batch, config.assignment)
    if any(w == 0 for w in plan.width):
        # A rank without tables would have no backward all-to-all to join.
        raise ValueError(f"every rank needs a table: widths {plan.width}")
    own = plan.owned[rank]
    exchange = _Exchange(plan, rank, fwd, bwd, dump)
    train_data, eval_batches = make_data(config, tables, seed)
    dense_params = model.dense_parameters()
    sparse_opt, dense_opt = make_optimizers(config, [model.embs[i].weight for i in own],
                                            dense_params)
    b, gb, R = config.local_batch, config.global_batch, config.ranks
    mine = slice(rank * b, (rank + 1) * b)
    order = plan.to_table_order
    setup_s = time.perf_counter() - t0
    say(f"{config.name}: {R} processes (gloo), widths D_r {plan.width}, {config.steps} steps, "
        f"setup {setup_s:.1f}s")

    def exchanged(ids, offsets) -> torch.Tensor:
        sent = torch.cat([model.embs[i](ids[i], offsets[i]) for i in own], dim=1)
        return ExchangeFunction.apply(exchange, sent).index_select(1, order)

    t_train = time.perf_counter()
    losses = LossLog(config, say)
    for step, (dense, ids, offsets, labels) in training_batches(config, train_data, dump):
        logits = model.head(dense[mine], exchanged(ids, offsets))
        loss_sum = F.binary_cross_entropy_with_logits(logits, labels[mine], reduction="sum")
        (loss_sum / b).backward()
        with torch.no_grad():
            for p in dense_params:                    # DDP: the mean over the ranks
                dist.all_reduce(p.grad)
                p.grad.div_(R)
        step_optimizers(dense_opt, sparse_opt)
        total = loss_sum.detach().reshape(1).to(torch.float64)
        dist.all_reduce(total)
        losses.add(step, float(total) / gb)
    train_s = time.perf_counter() - t_train

    t_eval = time.perf_counter()
    begin_dump_step(dump, None)
    if not config.eval_transform:
        exchange.fwd = None
    local = []
    with torch.no_grad():
        for batch in eval_batches:
            dense, ids, offsets, _ = _tensors(batch)
            local.append(model.head(dense[mine], exchanged(ids, offsets)))
    local_logits = torch.stack(local)                 # [batches, b]
    gathered = [torch.empty_like(local_logits) for _ in range(R)]
    dist.all_gather(gathered, local_logits)
    # Held-out order: batch k's rank-p samples are rows k*B + p*b ...
    logits = torch.stack(gathered, dim=1).reshape(-1).numpy()
    eval_s = time.perf_counter() - t_eval

    counts = {}
    for key, t in (("fwd", fwd), ("bwd", bwd)):
        mine_counts = t.counts() if t is not None and hasattr(t, "counts") else None
        everyone: List[Optional[Dict]] = [None] * R
        dist.all_gather_object(everyone, mine_counts)
        counts[key] = _sum_counts(everyone)
        if t is not None and hasattr(t, "close"):
            t.close()
    if rank != 0:
        return {}
    labels = np.concatenate([x.labels for x in eval_batches])
    prob = np.concatenate([x.prob for x in eval_batches])
    result = run_result(config, seed, logits, labels, prob, losses, plan,
                        dict(setup_seconds=setup_s, train_seconds=train_s, eval_seconds=eval_s,
                             wall_seconds=time.perf_counter() - t0), say)
    result["engine"] = f"gloo x {R} processes"
    result["transform_counts"] = counts
    result["log_lines"] = lines
    return result


def _sum_counts(parts: List[Optional[Dict]]):
    """Sums the ranks' counts: numbers add, dicts add key by key, lists element by element."""
    present = [p for p in parts if p is not None]
    if not present:
        return None

    def add(a, b):
        if isinstance(a, dict):
            out = dict(a)
            for k, v in b.items():
                out[k] = add(out[k], v) if k in out else v
            return out
        if isinstance(a, list):
            return [add(x, y) for x, y in zip(a, b)]
        return a + b

    total = present[0]
    for p in present[1:]:
        total = add(total, p)
    return total
