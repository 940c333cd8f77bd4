#!/usr/bin/env python3
"""DLRM training on TorchRec with synthetic Criteo-like data, for trying Squeeze on a real job.

The embedding tables are sharded across ranks (table-wise by default), so every step runs the
pooled-embedding all-to-all that Squeeze compresses: forward (pooled embeddings, float32) and
backward (their gradients, float32). The index and length all-to-alls of the input distribution
carry integers and must arrive bit-exact.

Nothing in this script knows about the plugin: it is switched on by the environment alone (see
launch.sh). Run it twice, with and without Squeeze, and compare the RESULT lines. Where NCCL cannot
run (gloo on CPU), `--qcomms squeeze` measures the accuracy cost instead: Squeeze's exact round trip
(squeeze.torchrec.SqueezeQCommsCodec, the repository's python/ package and libsqueeze_c.so) is
applied in TorchRec's QComms hook of the pooled all-to-all, cut per peer and per 128 KiB step as
the plugin cuts it, so every rank receives the values the plugin's receivers would write.

The data needs no download: 13 dense features and 26 categorical features whose table sizes follow
the Criteo Kaggle cardinalities (capped by --max-table-rows), ids drawn from a Zipf distribution
(a few hot rows, a long tail, as in real click logs), and labels drawn from a fixed hidden "teacher"
(a random weight per id plus a linear term on the dense features), so the model has something real
to learn and the held-out AUC means something. The teacher's own AUC on the held-out set is printed
as the upper bound.

Run it through torchrun (launch.sh does): one process per GPU with --backend nccl, or CPU
processes with --backend gloo.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor
from torchrec.distributed import DistributedModelParallel
from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
from torchrec.distributed.planner import EmbeddingShardingPlanner, Topology
from torchrec.distributed.planner.storage_reservations import FixedPercentageStorageReservation
from torchrec.distributed.planner.types import ParameterConstraints
from torchrec.distributed.types import ShardingType
from torchrec.optim.keyed import CombinedOptimizer, KeyedOptimizerWrapper
from torchrec.optim.optimizers import in_backward_optimizer_filter
from torchrec.optim.rowwise_adagrad import RowWiseAdagrad

try:  # torch's own name for it; torchrec's wrapper of the same name is deprecated
    from torch.distributed.optim import _apply_optimizer_in_backward as apply_optimizer_in_backward
except ImportError:  # pragma: no cover - older torch
    from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward

try:
    from torchrec.models.dlrm import DLRM
except ImportError:  # pragma: no cover - torchrec without the model zoo
    DLRM = None

# Cardinalities of the 26 categorical features of the Criteo Kaggle display-advertising data set.
# Only the sizes are used (capped by --max-table-rows); the data itself is synthetic.
CRITEO_KAGGLE_CARDINALITIES = [
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
    27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572,
]  # fmt: skip
NUM_DENSE_CRITEO = 13

SHARDING_TYPES = {
    "table_wise": ShardingType.TABLE_WISE,
    "column_wise": ShardingType.COLUMN_WISE,
    "row_wise": ShardingType.ROW_WISE,
    "table_row_wise": ShardingType.TABLE_ROW_WISE,
}


def log(msg: str, all_ranks: bool = False) -> None:
    rank = dist.get_rank() if dist.is_initialized() else 0
    if all_ranks or rank == 0:
        print(f"[rank {rank}] {msg}", flush=True)


def parse_int_list(text: str) -> List[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backend", choices=["nccl", "gloo"], default=None,
                   help="process-group backend (default: nccl when CUDA is available, else gloo)")
    p.add_argument("--steps", type=int, default=300, help="training steps")
    p.add_argument("--batch-size", type=int, default=2048, help="samples per rank per step")
    p.add_argument("--log-every", type=int, default=25, help="log loss and throughput every N steps")
    p.add_argument("--eval-batches", type=int, default=20, help="held-out batches per rank")
    p.add_argument("--num-sparse", type=int, default=26, help="categorical features (tables)")
    p.add_argument("--num-dense", type=int, default=NUM_DENSE_CRITEO, help="dense features")
    p.add_argument("--max-table-rows", type=int, default=None,
                   help="cap on rows per table (default: 1,000,000 on GPU, 100,000 on CPU)")
    p.add_argument("--embedding-dim", type=int, default=64,
                   help="embedding dimension of every table (DLRM needs one common width)")
    p.add_argument("--mixed-dims", action="store_true",
                   help="give tables different widths (16/32/64/128 by size); uses a "
                        "concatenation interaction instead of DLRM's dot products")
    p.add_argument("--pooling-factor", type=int, default=1,
                   help="mean ids per bag (1 = one-hot, as in Criteo)")
    p.add_argument("--zipf-alpha", type=float, default=1.15, help="Zipf exponent of the ids (>1)")
    p.add_argument("--dense-arch", type=parse_int_list, default=None,
                   help="dense MLP sizes (default 512,256,<embedding-dim>)")
    p.add_argument("--over-arch", type=parse_int_list, default=[512, 256, 1],
                   help="over-arch MLP sizes, the last must be 1")
    p.add_argument("--sharding", choices=sorted(SHARDING_TYPES), default="table_wise",
                   help="how the planner may shard the tables (table_wise: each table on one "
                        "rank, pooled output by all-to-all)")
    p.add_argument("--sparse-lr", type=float, default=0.05, help="row-wise Adagrad, embeddings")
    p.add_argument("--dense-lr", type=float, default=0.01, help="Adagrad, MLPs")
    p.add_argument("--qcomms",
                   choices=["none", "fp16", "bf16", "fp16-bf16", "int8", "fp8", "squeeze"],
                   default="none",
                   help="TorchRec's own quantized comms, for comparison with Squeeze "
                        "(fp16-bf16 = FP16 forward, BF16 backward, TorchRec's recommendation); "
                        "squeeze = Squeeze's round trip in the same hook (--squeeze-*)")
    p.add_argument("--squeeze-mode", choices=["local", "rel", "abs"], default="local",
                   help="--qcomms squeeze: the bound's mode (default local, the plugin's)")
    p.add_argument("--squeeze-bound", type=float, default=1e-2,
                   help="--qcomms squeeze: the bound (default 1e-2, the plugin's)")
    p.add_argument("--squeeze-directions", choices=["forward", "both"], default="both",
                   help="--qcomms squeeze: the pooled embeddings only, or their gradients too "
                        "(the plugin compresses both)")
    p.add_argument("--squeeze-history", action="store_true",
                   help="--qcomms squeeze: each (peer, direction) a stream whose frames may refer "
                        "to earlier ones, as the plugin's host path sends them (default: "
                        "self-contained frames, as its GPU path sends them)")
    p.add_argument("--one-host-per-rank", action="store_true",
                   help="give every rank its own NCCL_HOSTID so that NCCL sends even same-node "
                        "traffic over the network (through Squeeze): a test on one machine")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--json-out", default=None, help="rank 0 writes the final results here")
    args = p.parse_args(argv)
    if args.over_arch[-1] != 1:
        p.error("--over-arch must end with 1")
    if args.zipf_alpha <= 1.0:
        p.error("--zipf-alpha must be > 1")
    if args.num_sparse < 1 or args.num_dense < 1 or args.pooling_factor < 1:
        p.error("--num-sparse, --num-dense and --pooling-factor must be >= 1")
    return args


@dataclass
class Table:
    name: str
    feature: str
    rows: int
    dim: int


def make_tables(args: argparse.Namespace) -> List[Table]:
    tables = []
    for i in range(args.num_sparse):
        rows = CRITEO_KAGGLE_CARDINALITIES[i % len(CRITEO_KAGGLE_CARDINALITIES)]
        rows = max(2, min(rows, args.max_table_rows))
        if args.mixed_dims:
            dim = 16 if rows < 1_000 else 32 if rows < 20_000 else 64 if rows < 500_000 else 128
        else:
            dim = args.embedding_dim
        tables.append(Table(name=f"t_cat_{i}", feature=f"cat_{i}", rows=rows, dim=dim))
    return tables


class SyntheticCriteo:
    """Batches of Criteo-shaped data with labels from a fixed hidden teacher.

    Every rank builds the same teacher (seeded by --seed alone) and draws its own samples (seeded by
    seed, stream and rank), so ranks see different data from one distribution."""

    def __init__(self, args: argparse.Namespace, tables: List[Table], stream: int, rank: int):
        self.args = args
        self.tables = tables
        teacher = np.random.default_rng([args.seed, 7])
        # One weight per id; hot (low) ids matter most because they are seen most.
        self.id_weights = [teacher.standard_normal(t.rows).astype(np.float32) for t in tables]
        self.dense_weights = (teacher.standard_normal(args.num_dense) /
                              math.sqrt(args.num_dense)).astype(np.float32)
        self.sparse_scale = 2.5 / math.sqrt(len(tables))
        self.bias = -1.0  # about a 20% positive rate, click-log like
        self.rng = np.random.default_rng([args.seed, stream, rank])

    def batch(self, batch_size: int) -> Tuple[np.ndarray, List[np.ndarray], List[np.ndarray],
                                              np.ndarray, np.ndarray]:
        rng = self.rng
        pf = self.args.pooling_factor
        # Criteo's dense features are counts; the usual preprocessing is log(1 + x).
        dense = np.log1p(rng.exponential(3.0, size=(batch_size, self.args.num_dense)))
        dense = dense.astype(np.float32)
        logit = dense @ self.dense_weights + self.bias
        lengths_per_table, ids_per_table = [], []
        sparse_term = np.zeros(batch_size, dtype=np.float32)
        for table, weights in zip(self.tables, self.id_weights):
            if pf == 1:
                lengths = np.ones(batch_size, dtype=np.int64)
            else:
                lengths = rng.integers(1, 2 * pf, size=batch_size, dtype=np.int64)
            ids = (rng.zipf(self.args.zipf_alpha, size=int(lengths.sum())) - 1) % table.rows
            ids = ids.astype(np.int64)
            # Mean teacher weight over each bag.
            bag_of = np.repeat(np.arange(batch_size), lengths)
            sums = np.bincount(bag_of, weights=weights[ids], minlength=batch_size)
            sparse_term += (sums / lengths).astype(np.float32)
            lengths_per_table.append(lengths)
            ids_per_table.append(ids)
        logit = logit + self.sparse_scale * sparse_term
        prob = 1.0 / (1.0 + np.exp(-logit))
        labels = (rng.random(batch_size) < prob).astype(np.float32)
        return dense, ids_per_table, lengths_per_table, labels, prob.astype(np.float32)


def to_device_batch(tables: List[Table], dense: np.ndarray, ids: List[np.ndarray],
                    lengths: List[np.ndarray], labels: np.ndarray,
                    device: torch.device) -> Tuple[torch.Tensor, KeyedJaggedTensor, torch.Tensor]:
    kjt = KeyedJaggedTensor.from_lengths_sync(
        keys=[t.feature for t in tables],
        values=torch.from_numpy(np.concatenate(ids)),
        lengths=torch.from_numpy(np.concatenate(lengths)),
    )
    return (torch.from_numpy(dense).to(device), kjt.to(device),
            torch.from_numpy(labels).to(device))


def mlp(sizes: List[int], in_features: int, last_activation: bool) -> nn.Sequential:
    layers: List[nn.Module] = []
    for i, out_features in enumerate(sizes):
        layers.append(nn.Linear(in_features, out_features))
        if last_activation or i + 1 < len(sizes):
            layers.append(nn.ReLU())
        in_features = out_features
    return nn.Sequential(*layers)


class ConcatDLRM(nn.Module):
    """DLRM with a concatenation interaction, for tables of different widths (DLRM's pairwise dot
    products need one common width). Same sparse part, so the same all-to-alls."""

    def __init__(self, ebc: EmbeddingBagCollection, num_dense: int, dense_arch: List[int],
                 over_arch: List[int]):
        super().__init__()
        self.sparse_arch = ebc
        self.dense_arch = mlp(dense_arch, num_dense, last_activation=True)
        pooled_width = sum(c.embedding_dim for c in ebc.embedding_bag_configs())
        self.over_arch = mlp(over_arch, dense_arch[-1] + pooled_width, last_activation=False)

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> torch.Tensor:
        pooled = self.sparse_arch(sparse).values()
        return self.over_arch(torch.cat([self.dense_arch(dense), pooled], dim=1))


class TrainModel(nn.Module):
    """Model plus loss, so DistributedModelParallel wraps the whole step's forward."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.loss_fn = nn.BCEWithLogitsLoss()

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor,
                labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(dense, sparse).squeeze(-1)
        return self.loss_fn(logits, labels), logits.detach()


def build_model(args: argparse.Namespace, tables: List[Table]) -> Tuple[TrainModel, str]:
    ebc = EmbeddingBagCollection(
        tables=[EmbeddingBagConfig(name=t.name, embedding_dim=t.dim, num_embeddings=t.rows,
                                   feature_names=[t.feature]) for t in tables],
        device=torch.device("meta"),  # DistributedModelParallel materialises only local shards
    )
    dims = {t.dim for t in tables}
    if DLRM is not None and len(dims) == 1:
        dense_arch = args.dense_arch or [512, 256, args.embedding_dim]
        if dense_arch[-1] != args.embedding_dim:
            raise SystemExit("--dense-arch must end with --embedding-dim for DLRM")
        model = DLRM(embedding_bag_collection=ebc, dense_in_features=args.num_dense,
                     dense_arch_layer_sizes=dense_arch, over_arch_layer_sizes=args.over_arch)
        return TrainModel(model), "torchrec.models.dlrm.DLRM (dot-product interaction)"
    dense_arch = args.dense_arch or [512, 256, 64]
    model = ConcatDLRM(ebc, args.num_dense, dense_arch, args.over_arch)
    return TrainModel(model), "ConcatDLRM (concatenation interaction, mixed widths)"


def make_topology(world_size: int, local_world_size: int, compute_device: str) -> Topology:
    """The planner's view of the machines; newer TorchRec wants it built through TopologyFactory."""
    try:
        from torchrec.distributed.planner.types import KernelConfig, TopologyFactory, TrainerConfig
    except ImportError:
        return Topology(world_size=world_size, compute_device=compute_device,
                        local_world_size=local_world_size)
    return TopologyFactory.create_topology(
        trainer_config=TrainerConfig(world_size=world_size, local_world_size=local_world_size),
        kernel_config=KernelConfig(compute_device=compute_device))


def qcomms_registry(kind: str, device: torch.device) -> Optional[Dict]:
    if kind == "none":
        return None
    from torchrec.distributed.fbgemm_qcomm_codec import (CommType, QCommsConfig,
                                                         get_qcomm_codecs_registry)
    forward, backward = {
        "fp16": (CommType.FP16, CommType.FP16),
        "bf16": (CommType.BF16, CommType.BF16),
        "fp16-bf16": (CommType.FP16, CommType.BF16),
        "int8": (CommType.INT8, CommType.BF16),
        "fp8": (CommType.FP8, CommType.BF16),
    }[kind]
    return get_qcomm_codecs_registry(
        qcomms_config=QCommsConfig(forward_precision=forward, backward_precision=backward),
        device=device)


@dataclass
class SqueezeCodecs:
    """--qcomms squeeze: the registry for the sharder and the two codecs (backward may be None)."""
    registry: Dict
    forward: object
    backward: Optional[object]

    def ratios(self, world_size: int) -> Dict[str, float]:
        """Input over wire bytes of each direction, over every rank's sends."""
        out = {}
        for name, c in (("forward", self.forward), ("backward", self.backward)):
            if c is None:
                continue
            t = torch.tensor([c.stats.input_bytes, c.stats.wire_bytes], dtype=torch.float64)
            dist.all_reduce(t)
            out[f"squeeze_{name}_ratio"] = float(t[0] / t[1]) if t[1] > 0 else 1.0
        return out


def squeeze_codecs(args, rank: int, world_size: int) -> SqueezeCodecs:
    try:
        import squeeze.torchrec as sqt
    except ImportError:  # run from the repository: its python/ package
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                        "python"))
        import squeeze.torchrec as sqt
    from torchrec.distributed.types import CommOp
    # The sender's own slice stays local, as in NCCL.
    forward = sqt.SqueezeQCommsCodec(args.squeeze_mode, args.squeeze_bound, world_size=world_size,
                                     rank=rank, history=args.squeeze_history)
    backward = None
    if args.squeeze_directions == "both":
        # Its slices (B_local x each rank's pooled width) are set from the plan (main).
        backward = sqt.SqueezeQCommsCodec(args.squeeze_mode, args.squeeze_bound, rank=rank,
                                          history=args.squeeze_history)
    return SqueezeCodecs({CommOp.POOLED_EMBEDDINGS_ALL_TO_ALL.name:
                          sqt.qcomm_codecs(forward, backward)}, forward, backward)


def describe_plan(plan, tables: List[Table], world_size: int, batch_size: int) -> List[int]:
    """Prints where each table went and, for table-wise shards, the pooled all-to-all volume;
    returns each rank's pooled width (its table-wise tables' dims summed)."""
    owned_width = [0] * world_size
    lines = []
    by_name = {t.name: t for t in tables}
    for module_path, module_plan in plan.plan.items():
        for table_name, ps in module_plan.items():
            t = by_name.get(table_name)
            ranks = list(ps.ranks or [])
            lines.append(f"  {module_path}.{table_name}: {ps.sharding_type} ranks={ranks}"
                         + (f" rows={t.rows} dim={t.dim}" if t else ""))
            if t and ps.sharding_type == ShardingType.TABLE_WISE.value and len(ranks) == 1:
                owned_width[ranks[0]] += t.dim
    log("sharding plan:\n" + "\n".join(lines))
    if sum(owned_width) > 0:
        per_rank = [batch_size * w * (world_size - 1) * 4 for w in owned_width]
        log("pooled-embedding all-to-all, float32 bytes each rank sends to the others per step "
            "(forward; the backward sends the same amount of gradients back): "
            + ", ".join(f"rank {r}: {b / 2**20:.2f} MiB" for r, b in enumerate(per_rank)))
    return owned_width


def auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties given their average rank)."""
    scores = scores.double().cpu()
    labels = labels.double().cpu()
    n_pos = float(labels.sum())
    n_neg = float(labels.numel()) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = torch.argsort(scores)
    sorted_scores = scores[order]
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, scores.numel() + 1, dtype=torch.float64)
    # Average the ranks of tied scores.
    _, inverse, counts = torch.unique_consecutive(sorted_scores, return_inverse=True,
                                                  return_counts=True)
    if int(counts.max()) > 1:
        sum_per_group = torch.zeros(counts.numel(), dtype=torch.float64)
        sum_per_group.index_add_(0, inverse, ranks[order])
        ranks[order] = (sum_per_group / counts.double())[inverse]
    rank_sum_pos = float(ranks[labels > 0.5].sum())
    return (rank_sum_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def gather_all(t: torch.Tensor, world_size: int) -> torch.Tensor:
    parts = [torch.empty_like(t) for _ in range(world_size)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def evaluate(model: nn.Module, eval_set, device: torch.device, world_size: int) -> Dict[str, float]:
    model.eval()
    logits, labels, teacher = [], [], []
    with torch.no_grad():
        for dense, sparse, y, prob in eval_set:
            _, out = model(dense, sparse, y)
            logits.append(out.float())
            labels.append(y)
            teacher.append(prob)
    model.train()
    logits_all = gather_all(torch.cat(logits), world_size).cpu()
    labels_all = gather_all(torch.cat(labels), world_size).cpu()
    teacher_all = gather_all(torch.cat(teacher), world_size).cpu()
    prob = torch.sigmoid(logits_all.double())
    eps = 1e-7
    logloss = -(labels_all * torch.log(prob.clamp_min(eps)) +
                (1 - labels_all) * torch.log((1 - prob).clamp_min(eps))).mean()
    return {
        "eval_samples": int(labels_all.numel()),
        "eval_auc": auc(logits_all, labels_all),
        "eval_accuracy": float(((prob > 0.5).double() == labels_all).double().mean()),
        "eval_logloss": float(logloss),
        "eval_positive_rate": float(labels_all.mean()),
        "teacher_auc": auc(teacher_all, labels_all),
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    use_cuda = torch.cuda.is_available() and args.backend != "gloo"
    backend = args.backend or ("nccl" if use_cuda else "gloo")
    if backend == "nccl" and not torch.cuda.is_available():
        raise SystemExit("--backend nccl needs CUDA devices; use --backend gloo on CPU")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        # Modulo: several ranks may share one GPU in a test (NCCL_MULTI_RANK_GPU_ENABLE=1).
        gpu = local_rank % torch.cuda.device_count()
        torch.cuda.set_device(gpu)
        device = torch.device("cuda", gpu)
    else:
        device = torch.device("cpu")
    if args.max_table_rows is None:
        args.max_table_rows = 1_000_000 if device.type == "cuda" else 100_000

    if args.one_host_per_rank:
        # NCCL reads it when the communicator is created; distinct host hashes rule out its
        # shared-memory and peer-to-peer transports, leaving the network.
        os.environ["NCCL_HOSTID"] = f"squeeze-test-host-{os.environ.get('RANK', '0')}"
    dist.init_process_group(backend=backend, device_id=device if backend == "nccl" else None)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    torch.manual_seed(args.seed)  # same dense-parameter init on every rank

    tables = make_tables(args)
    train_model, model_kind = build_model(args, tables)
    log(f"torch {torch.__version__}, backend {backend}, world size {world_size}, device {device}, "
        f"model {model_kind}")
    log(f"{len(tables)} tables, {sum(t.rows for t in tables):,} rows, widths "
        f"{sorted({t.dim for t in tables})}, batch {args.batch_size}/rank, "
        f"zipf alpha {args.zipf_alpha}, pooling factor {args.pooling_factor}, qcomms {args.qcomms}")

    # Embeddings: row-wise Adagrad fused into the backward pass (TorchRec's FUSED kernels).
    apply_optimizer_in_backward(RowWiseAdagrad,
                                train_model.model.sparse_arch.parameters(),
                                {"lr": args.sparse_lr})
    sq = squeeze_codecs(args, rank, world_size) if args.qcomms == "squeeze" else None
    sharder = EmbeddingBagCollectionSharder(
        qcomm_codecs_registry=sq.registry if sq else qcomms_registry(args.qcomms, device))
    constraints = {t.name: ParameterConstraints(
        sharding_types=[SHARDING_TYPES[args.sharding].value]) for t in tables}
    planner = EmbeddingShardingPlanner(
        topology=make_topology(world_size, local_world_size, device.type),
        batch_size=args.batch_size, constraints=constraints,
        storage_reservation=FixedPercentageStorageReservation(0.15))
    plan = planner.collective_plan(train_model, [sharder], dist.GroupMember.WORLD)
    pooled_widths = describe_plan(plan, tables, world_size, args.batch_size)
    if sq is not None:
        if args.sharding != "table_wise":
            raise SystemExit("--qcomms squeeze cuts the pooled all-to-all of table-wise shards")
        if sq.backward is not None:
            sq.backward.dim_sum_per_rank = pooled_widths
        log(f"qcomms squeeze: {args.squeeze_mode} {args.squeeze_bound:g}, "
            f"{args.squeeze_directions}, history {args.squeeze_history}; backward slices from "
            f"the ranks' widths {pooled_widths}")
    model = DistributedModelParallel(module=train_model, device=device, plan=plan,
                                     sharders=[sharder])
    dense_optimizer = KeyedOptimizerWrapper(
        dict(in_backward_optimizer_filter(model.named_parameters())),
        lambda params: torch.optim.Adagrad(params, lr=args.dense_lr))
    optimizer = CombinedOptimizer([model.fused_optimizer, dense_optimizer])

    train_data = SyntheticCriteo(args, tables, stream=1, rank=rank)
    eval_data = SyntheticCriteo(args, tables, stream=2, rank=rank)
    eval_set = []
    for _ in range(args.eval_batches):
        dense, ids, lengths, labels, prob = eval_data.batch(args.batch_size)
        eval_set.append((*to_device_batch(tables, dense, ids, lengths, labels, device),
                         torch.from_numpy(prob).to(device)))

    window_loss, window_steps, first_window_loss, last_window_loss = 0.0, 0, None, None
    window_start = time.perf_counter()
    train_start = window_start
    for step in range(1, args.steps + 1):
        dense, ids, lengths, labels, _ = train_data.batch(args.batch_size)
        batch = to_device_batch(tables, dense, ids, lengths, labels, device)
        optimizer.zero_grad()
        loss, _ = model(*batch)
        loss.backward()
        optimizer.step()
        window_loss += float(loss.detach())  # syncs with the device, so the timing is honest
        window_steps += 1
        if step % args.log_every == 0 or step == args.steps:
            elapsed = time.perf_counter() - window_start
            mean_loss = torch.tensor([window_loss / window_steps], device=device)
            dist.all_reduce(mean_loss)
            mean_loss = float(mean_loss) / world_size
            if first_window_loss is None:
                first_window_loss = mean_loss
            last_window_loss = mean_loss
            rate = window_steps * args.batch_size * world_size / elapsed
            log(f"step {step:5d}/{args.steps}  loss {mean_loss:.5f}  "
                f"{rate:,.0f} samples/s  {1000 * elapsed / window_steps:.1f} ms/step")
            window_loss, window_steps = 0.0, 0
            window_start = time.perf_counter()
    train_seconds = time.perf_counter() - train_start

    metrics = evaluate(model, eval_set, device, world_size)
    result = {
        "world_size": world_size, "backend": backend, "steps": args.steps,
        "batch_size_per_rank": args.batch_size, "qcomms": args.qcomms,
        "sharding": args.sharding, "model": model_kind,
        "first_window_loss": first_window_loss, "last_window_loss": last_window_loss,
        "train_seconds": train_seconds,
        "samples_per_second": args.steps * args.batch_size * world_size / train_seconds,
        **({"squeeze_mode": args.squeeze_mode, "squeeze_bound": args.squeeze_bound,
            "squeeze_directions": args.squeeze_directions,
            "squeeze_history": args.squeeze_history, **sq.ratios(world_size)}
           if sq is not None else {}),
        "squeeze_env": {k: v for k, v in sorted(os.environ.items())
                        if k.startswith("NCCL_SQUEEZE_") or k in ("NCCL_NET_PLUGIN", "NCCL_NET")},
        **metrics,
    }
    log("RESULT " + json.dumps(result, sort_keys=True))
    if rank == 0 and args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
    # Destroying the process group destroys the NCCL communicators, which is when the plugin
    # closes its connections and prints their statistics.
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
