"""Training of the project's DLRM through the emulated all-to-all, deterministic per seed.

    from squeeze.dlrm.train import PRESETS, train
    result = train(PRESETS["quick"], seed=1, fwd_transform=f, bwd_transform=g)
    result["auc"], result["logloss"]

Semantics of one step (what 4 TorchRec ranks with DDP do, in one process): the global batch is
R local batches; the tables' pooled outputs go through the emulated all-to-all (a2a.py); each
rank's loss is the mean BCE over its local batch, so the gradient that the backward all-to-all
carries is d(sum of losses over rank p's samples / local batch)/d(pooled); dense (MLP) gradients
are averaged over the ranks (DDP's all-reduce). Tables: row-wise Adagrad on sparse gradients
(or plain SGD); MLPs: Adagrad (or Adam).

Determinism: torch.manual_seed, numpy Generators seeded from (teacher_seed, seed, stream), a fixed
thread count (``config.threads``) and ``torch.use_deterministic_algorithms(True)``. Two runs with
the same config and seed on one machine give bit-identical losses and AUC (tests check it); a
different thread count or machine may not.

The held-out set is the same for every seed (it depends on ``teacher_seed`` only), so runs of a
study are compared on the same samples. ``config.eval_transform`` (default True) sends the
held-out forward passes through ``fwd_transform`` too, as a plugin compressing every all-to-all
of the job would; False scores the model on exact embeddings (the SC'24 artifact's choice).

Command line (prints a JSON result): ``python -m squeeze.dlrm.train --preset quick --seed 1``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .a2a import TablewiseAllToAll, Transform
from .data import Batch, SyntheticCriteo, make_tables
from .metrics import auc, logloss
from .model import DLRM, SparseRowwiseAdagrad, SparseSGD


@dataclass(frozen=True)
class Config:
    """A training run. The defaults are the study configuration (dim 64, 26 tables of 3 to 10^6
    rows, 4 ranks x 512 samples, one epoch of ~3M samples)."""

    name: str = "study"
    num_tables: int = 26
    max_rows: int = 1_000_000
    dim: int = 64                        # width of every table (ignored with mixed_dims)
    mixed_dims: bool = False             # 16/32/64/128 by table size, concatenation interaction
    bottom_hidden: Tuple[int, ...] = (512, 256)   # then `dim` (dot) or 64 (mixed)
    top: Tuple[int, ...] = (512, 256, 1)
    ranks: int = 4
    local_batch: int = 512
    train_samples: int = 3_000_000       # steps = train_samples // (ranks * local_batch)
    eval_samples: int = 262_144
    zipf_alpha: float = 1.05
    id_support: str = "criteo"           # see data.py
    pooling_factor: int = 1
    pooling_law: str = "uniform"         # bag sizes when pooling_factor > 1, see data.py
    teacher_seed: int = 1234             # the task; the run's seed varies init and sample order
    assignment: str = "size"             # table-to-rank policy, see a2a.py
    sparse_optimizer: str = "rowwise_adagrad"   # tables: or "sgd" (facebookresearch/dlrm)
    sparse_lr: float = 0.05
    dense_lr: float = 0.01
    dense_optimizer: str = "adagrad"     # or "adam"
    threads: int = 1                     # 1: robust when other jobs share the cores (2 OpenMP
                                         # threads on 2 busy cores ran 2x slower, see README)
    log_every: int = 50
    eval_transform: bool = True

    @property
    def global_batch(self) -> int:
        return self.ranks * self.local_batch

    @property
    def steps(self) -> int:
        return max(1, self.train_samples // self.global_batch)

    @property
    def bottom(self) -> Tuple[int, ...]:
        return tuple(self.bottom_hidden) + (64 if self.mixed_dims else self.dim,)


PRESETS: Dict[str, Config] = {
    "study": Config(),
    # About a minute on 2 cores: smaller tables and 1/10 of the samples.
    "quick": Config(name="quick", max_rows=100_000, train_samples=300_000, eval_samples=65_536),
    # For tests: seconds.
    "tiny": Config(name="tiny", max_rows=1_000, dim=8, bottom_hidden=(32, 16), top=(32, 16, 1),
                   local_batch=64, train_samples=64 * 4 * 12, eval_samples=4_096, log_every=4,
                   id_support="table"),
}


def preset(name: str, **overrides) -> Config:
    return dataclasses.replace(PRESETS[name], **overrides)


def _tensors(b: Batch):
    return (torch.from_numpy(b.dense), [torch.from_numpy(x) for x in b.ids],
            [torch.from_numpy(x) for x in b.offsets], torch.from_numpy(b.labels))


def begin_dump_step(dump, step: Optional[int]) -> None:
    """Tells a dump hook with ``begin_step`` (train's ``dump``) the step the next blocks belong
    to: 1-based in training, None for the held-out evaluation."""
    if dump is not None and hasattr(dump, "begin_step"):
        dump.begin_step(step)


def training_batches(config: Config, train_data, dump):
    """Each training step's number and its global batch as tensors, the dump told the step
    first: the steps of both engines (this module's and distributed.py's)."""
    for step in range(1, config.steps + 1):
        begin_dump_step(dump, step)
        yield step, _tensors(train_data.batch(config.global_batch))


def step_optimizers(dense_opt, sparse_opt) -> None:
    """One optimizer step of both parameter sets, then their gradients cleared."""
    dense_opt.step()
    sparse_opt.step()
    dense_opt.zero_grad(set_to_none=True)
    sparse_opt.zero_grad()


def train(config: Config, seed: int, fwd_transform: Optional[Transform] = None,
          bwd_transform: Optional[Transform] = None, dump=None,
          log: Optional[Callable[[str], None]] = None) -> Dict:
    """Trains one model and scores it on the held-out set.

    ``dump``: an object called as ``dump(direction, src, dst, block, layout)`` on every cross-rank
    block before its transform (see a2a.py); if it has ``begin_step(step)``, that is called with
    the step number (1-based) before each training step and with None before the evaluation.
    Returns a dict: auc, logloss, teacher_auc, loss_curve, loss_per_step, steps, timings, ..."""
    t0 = time.perf_counter()
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(config, seed, fwd_transform, bwd_transform, dump, log, t0)
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)


def make_data(config: Config, tables, seed: int) -> Tuple[SyntheticCriteo, List[Batch]]:
    """The run's training stream (depends on the seed) and its held-out batches (the same for
    every seed), global batches of ``config.global_batch`` samples."""
    data_kw = dict(zipf_alpha=config.zipf_alpha, id_support=config.id_support,
                   pooling_factor=config.pooling_factor, pooling_law=config.pooling_law)
    train_data = SyntheticCriteo(tables, teacher_seed=config.teacher_seed, sample_seed=seed,
                                 stream=1, **data_kw)
    eval_data = SyntheticCriteo(tables, teacher_seed=config.teacher_seed, sample_seed=0,
                                stream=2, teacher=train_data.teacher, **data_kw)
    gb = config.global_batch
    return train_data, [eval_data.batch(gb) for _ in range(max(1, config.eval_samples // gb))]


def make_optimizers(config: Config, embedding_params, dense_params):
    """(sparse optimizer of the tables given, dense optimizer of the MLPs) from the config."""
    if config.sparse_optimizer == "rowwise_adagrad":
        sparse_opt = SparseRowwiseAdagrad(embedding_params, lr=config.sparse_lr)
    elif config.sparse_optimizer == "sgd":
        sparse_opt = SparseSGD(embedding_params, lr=config.sparse_lr)
    else:
        raise ValueError("sparse_optimizer must be 'rowwise_adagrad' or 'sgd'")
    if config.dense_optimizer == "adagrad":
        dense_opt = torch.optim.Adagrad(dense_params, lr=config.dense_lr)
    elif config.dense_optimizer == "adam":
        dense_opt = torch.optim.Adam(dense_params, lr=config.dense_lr)
    else:
        raise ValueError("dense_optimizer must be 'adagrad' or 'adam'")
    return sparse_opt, dense_opt


def _train(config: Config, seed: int, fwd_transform, bwd_transform, dump, log, t0) -> Dict:
    say = log or (lambda _msg: None)
    torch.manual_seed(seed)
    tables = make_tables(config.num_tables, config.max_rows, config.dim, config.mixed_dims)
    model = DLRM(tables, bottom=config.bottom, top=config.top,
                 interaction="cat" if config.mixed_dims else "dot", seed=seed)
    a2a = TablewiseAllToAll(tables, config.ranks, config.local_batch, config.assignment,
                            fwd_transform, bwd_transform, dump)
    train_data, eval_batches = make_data(config, tables, seed)
    gb = config.global_batch
    sparse_opt, dense_opt = make_optimizers(config, model.embedding_parameters(),
                                            model.dense_parameters())
    dense_params = model.dense_parameters()
    setup_s = time.perf_counter() - t0
    say(f"{config.name}: {len(tables)} tables, {sum(t.rows for t in tables):,} rows, dims "
        f"{sorted({t.dim for t in tables})}, {config.ranks} ranks x {config.local_batch}, "
        f"{config.steps} steps, widths D_r {a2a.width}, setup {setup_s:.1f}s")

    t_train = time.perf_counter()
    losses = LossLog(config, say)
    for step, (dense, ids, offsets, labels) in training_batches(config, train_data, dump):
        received = a2a(model.pooled(ids, offsets))
        logits = model.head(dense, received)
        loss_sum = F.binary_cross_entropy_with_logits(logits, labels, reduction="sum")
        # Each rank's loss is the mean over its local batch; DDP averages dense gradients.
        (loss_sum / config.local_batch).backward()
        with torch.no_grad():
            for p in dense_params:
                p.grad.div_(config.ranks)
        step_optimizers(dense_opt, sparse_opt)
        losses.add(step, float(loss_sum.detach()) / gb)
    train_s = time.perf_counter() - t_train

    t_eval = time.perf_counter()
    begin_dump_step(dump, None)
    saved = a2a.fwd_transform
    if not config.eval_transform:
        a2a.fwd_transform = None
    all_logits, all_labels, all_prob = [], [], []
    with torch.no_grad():
        for b in eval_batches:
            dense, ids, offsets, labels = _tensors(b)
            all_logits.append(model.head(dense, a2a(model.pooled(ids, offsets))).numpy())
            all_labels.append(b.labels)
            all_prob.append(b.prob)
    a2a.fwd_transform = saved
    eval_s = time.perf_counter() - t_eval
    return run_result(config, seed, np.concatenate(all_logits), np.concatenate(all_labels),
                      np.concatenate(all_prob), losses, a2a,
                      dict(setup_seconds=setup_s, train_seconds=train_s, eval_seconds=eval_s,
                           wall_seconds=time.perf_counter() - t0), say)


class LossLog:
    """The training loss per step (global batch mean) and its mean every ``log_every`` steps."""

    def __init__(self, config: Config, say: Callable[[str], None]):
        self.config, self.say = config, say
        self.per_step: List[float] = []
        self.curve: List[Tuple[int, float]] = []
        self.t0 = time.perf_counter()

    def add(self, step: int, loss: float) -> None:
        self.per_step.append(loss)
        if step % self.config.log_every == 0 or step == self.config.steps:
            window = self.per_step[-(step - (self.curve[-1][0] if self.curve else 0)):]
            self.curve.append((step, float(np.mean(window))))
            el = time.perf_counter() - self.t0
            self.say(f"step {step}/{self.config.steps} loss {self.curve[-1][1]:.5f} "
                     f"({1000 * el / step:.0f} ms/step, {el:.0f}s)")


def run_result(config: Config, seed: int, logits, labels, teacher_prob, losses: LossLog,
               plan: TablewiseAllToAll, seconds: Dict[str, float],
               say: Callable[[str], None]) -> Dict:
    """A run's result: held-out scores in the held-out set's order, the loss log, timings."""
    z = np.asarray(logits).astype(np.float64)
    y = np.asarray(labels)
    teacher_p = np.asarray(teacher_prob).astype(np.float64)
    result = {
        "config": dataclasses.asdict(config),
        "seed": int(seed),
        "auc": auc(z, y),
        "logloss": logloss(z, y),
        "teacher_auc": auc(teacher_p, y),
        "eval_samples": int(y.shape[0]),
        "eval_positive_rate": float(y.mean()),
        "steps": config.steps,
        "train_samples": config.steps * config.global_batch,
        "loss_curve": losses.curve,
        "loss_per_step": losses.per_step,
        **seconds,
        "ms_per_step": 1000.0 * seconds["train_seconds"] / config.steps,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "rank_tables": plan.owned,
        "rank_widths": plan.width,
    }
    say(f"{config.name} seed {seed}: auc {result['auc']:.5f} logloss {result['logloss']:.5f} "
        f"(teacher auc {result['teacher_auc']:.5f}), train {seconds['train_seconds']:.0f}s, "
        f"eval {seconds['eval_seconds']:.0f}s")
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train the project's DLRM (emulated all-to-all).")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="study")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a Config field (int/float/bool/str), e.g. --set dim=32")
    ap.add_argument("--json", default=None, help="write the result here")
    ap.add_argument("--curve", action="store_true", help="keep loss_per_step in the printout")
    args = ap.parse_args(argv)
    cfg = PRESETS[args.preset]
    cfg = dataclasses.replace(cfg, **parse_overrides(cfg, args.set))
    res = train(cfg, args.seed, log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if not args.curve:
        res = {k: v for k, v in res.items() if k != "loss_per_step"}
    print(json.dumps(res))
    return 0


def parse_overrides(cfg: Config, items) -> Dict:
    out = {}
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    for item in items:
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"unknown Config field {key!r}")
        cur = getattr(cfg, key)
        if isinstance(cur, bool):
            out[key] = value.lower() in ("1", "true", "yes", "on")
        elif isinstance(cur, int):
            out[key] = int(value)
        elif isinstance(cur, float):
            out[key] = float(value)
        elif isinstance(cur, tuple):
            out[key] = tuple(int(x) for x in value.split(",") if x)
        else:
            out[key] = value
    return out


if __name__ == "__main__":
    sys.exit(main())
