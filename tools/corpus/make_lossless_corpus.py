#!/usr/bin/env python3
"""Makes the data Squeeze's *lossless* codec is measured on: integer and 16-bit float payloads
that must arrive bit-exact (issue 15, "Lossless coding for the traffic that must stay exact").

The float corpus (make_corpus.py) holds what the error-bounded codec may round. Two other kinds of
traffic in the same jobs may not be rounded at all; this script dumps both, as raw little-endian
files plus one manifest.json (see tools/corpus/LOSSLESS.md):

1. DLRM input all-to-all (part ``dlrm``): TorchRec's ``KJTAllToAll``, the sparse-feature
   redistribution in front of a table-wise sharded EmbeddingBagCollection. Modelled on
   torchrec/distributed/dist_data.py (KJTAllToAll, KJTAllToAllSplitsAwaitable,
   KJTAllToAllTensorsAwaitable) and KeyedJaggedTensor.dist_splits / dist_tensors: before the
   all-to-all, each rank's KJT (its local batch, all features) is permuted so that the features
   of rank 0's tables come first, then rank 1's, ...; the all-to-all then moves two tensors with
   ``all_to_all_single``, each cut by destination rank:

   * ``lengths`` (int32, as TorchRec's datasets build KJTs): key-major, for every feature the
     destination owns (in its table order) one length per sample of the sender's local batch, so
     the block src -> dst is [tables of dst, local batch];
   * ``values`` (int64 ids): the ids in the same order, feature after feature, each feature's
     ids sample after sample (the bags concatenated).

   Offsets are not sent (the receiver rebuilds them from the lengths); unweighted features send no
   weights. A first, tiny all-to-all sends the splits (per destination: the number of lengths,
   the number of values and the stride, three int64); it is not dumped. The receiver's ``recat``
   permutation (feature-major over the source ranks) is local and not dumped either.

   The data is the project's DLRM pipeline (python/squeeze/dlrm): the study configuration
   (``PRESETS["study"]``, the float corpus's d64: 26 tables of 3 to 10^6 rows, Zipf-skewed ids
   over the real Criteo cardinalities folded into the tables, 4 ranks x 512 samples, the ``size``
   table-to-rank assignment of a2a.py, the float corpus's). The training draws one global batch
   of ``SyntheticCriteo(stream=1, sample_seed=seed)`` per step; this script draws the same
   batches (no training is needed: the ids do not depend on the model), so the ids of step 50 and
   1464 are exactly those whose pooled embeddings the float corpus holds for d64 at those steps.
   Rank p's local batch is samples [p * 512, (p + 1) * 512) of the global batch, as in a2a.py.
   Two variants: ``dlrm_onehot`` (the study data: one id per bag, so every length is 1) and
   ``dlrm_multihot`` (the same tables and id laws, bags of 1 to 20 ids with P(k) ~ 1/k, mean 5.6,
   data.py's ``pooling_law="zipf"``). Every (src, dst) pair with src != dst is dumped.

2. Pipeline-parallel boundary tensors of a small transformer (part ``lm``): a 4-layer pre-LN
   decoder (d_model 256, 4 heads, MLP 1024, GELU, learned positions, byte vocabulary) trained from
   scratch with AdamW on the Python 3.11 documentation sources (/usr/share/doc/python3.11/html/
   _sources, as scripts/w2v_tables.py reads them; bytes, random 129-byte windows), batch 8 x 128
   tokens, in float32 on CPU. Two pipeline stages are emulated exactly: stage 0 (embeddings,
   layers 0-1) produces the boundary activation [8 x 128, 256], stage 1 (layers 2-3, final LN,
   head) receives it as a detached leaf, computes the loss (mean cross-entropy over the 1024
   tokens) and sends back d loss / d activation, which stage 0 back-propagates. At the dump steps
   both tensors are written as float32 (exactly what was computed), bfloat16 and float16. The model
   trains in float32 (no autocast); the 16-bit files are the float32 tensors cast with torch's
   ``.to()`` (round to nearest even) at dump time only, so training does not depend on the dump
   and the three files of a step hold the same tensor. The float16 gradient is multiplied by a
   loss scale first, as float16 training does (GradScaler's initial 2^16, halved while the
   largest value would overflow; recorded as ``loss_scale``); bfloat16 and float32 are unscaled.

Seeds: ``--seed`` (default 1) is the DLRM sample seed (the float corpus's), the teacher seed is
the configuration's (1234); ``--lm-seed`` (default 1) seeds the transformer's init
(torch.manual_seed) and its batches (numpy). One thread, deterministic algorithms: same seeds,
same bytes on one machine (the manifest holds sha256 of every file).

    python tools/corpus/make_lossless_corpus.py                     # data/lossless/
    python tools/corpus/make_lossless_corpus.py --parts lm --stats  # only the transformer part

Timings and losses go to runs.json beside the manifest (not deterministic, kept out of it).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import sys
import time
from typing import Dict, List, Sequence

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from squeeze.dlrm.a2a import assign_tables  # noqa: E402
from squeeze.dlrm.data import SyntheticCriteo, make_tables  # noqa: E402
from squeeze.dlrm.train import PRESETS  # noqa: E402

FORMAT = "squeeze-lossless-corpus-1"
DOCS = "/usr/share/doc/python3.11/html/_sources"
NUMPY_DTYPES = {"i64": "<i8", "i32": "<i4", "u8": "u1", "bf16": "<u2", "f16": "<f2", "f32": "<f4"}


class Writer:
    """Writes raw little-endian files under ``out`` and collects their manifest entries."""

    def __init__(self, out: str):
        self.out = out
        self.entries: List[Dict] = []

    def write(self, rel: str, arr: np.ndarray, dtype: str, **fields) -> Dict:
        path = os.path.join(self.out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = np.ascontiguousarray(arr).tobytes()
        with open(path, "wb") as f:
            f.write(data)
        entry = {"path": rel, "dtype": dtype, "byteorder": "little", "count": int(arr.size),
                 "shape": [int(x) for x in arr.shape], "bytes": len(data),
                 "sha256": hashlib.sha256(data).hexdigest()}
        entry.update(fields)
        self.entries.append(entry)
        return entry


# ---------------------------------------------------------------------------------------------
# Part 1: the KJT all-to-all of the DLRM's input distribution.


def kjt_blocks(batch, owned: Sequence[Sequence[int]], tables, ranks: int, local_batch: int):
    """(src, dst, lengths [tables of dst, B] int32, values int64, table records) for src != dst."""
    lengths_all = []
    for off, ids in zip(batch.offsets, batch.ids):
        lengths_all.append(np.diff(np.append(off, ids.shape[0])))
    for src in range(ranks):
        s0, s1 = src * local_batch, (src + 1) * local_batch
        for dst in range(ranks):
            if src == dst or not owned[dst]:
                continue
            lengths, values, recs, pos = [], [], [], 0
            for t in owned[dst]:
                off, ids = batch.offsets[t], batch.ids[t]
                begin = int(off[s0])
                end = int(off[s1]) if s1 < off.shape[0] else int(ids.shape[0])
                lengths.append(lengths_all[t][s0:s1])
                values.append(ids[begin:end])
                tb = tables[t]
                recs.append({"index": tb.index, "name": tb.name, "rows": tb.rows,
                             "ids": end - begin, "begin": pos, "end": pos + end - begin})
                pos += end - begin
            yield (src, dst, np.stack(lengths).astype("<i4"),
                   np.concatenate(values).astype("<i8"), recs)


def make_dlrm(writer: Writer, seed: int, steps: Sequence[int], max_pooling: int,
              pooling_alpha: float, log) -> Dict:
    base = PRESETS["study"]
    variants = {
        "dlrm_onehot": dataclasses.replace(base, name="dlrm_onehot"),
        "dlrm_multihot": dataclasses.replace(base, name="dlrm_multihot",
                                             pooling_factor=max_pooling, pooling_law="zipf"),
    }
    configs, runs, teacher = {}, {}, None
    for label, cfg in variants.items():
        t0 = time.perf_counter()
        tables = make_tables(cfg.num_tables, cfg.max_rows, cfg.dim, cfg.mixed_dims)
        owned = assign_tables(tables, cfg.ranks, cfg.assignment)
        data = SyntheticCriteo(tables, teacher_seed=cfg.teacher_seed, sample_seed=seed, stream=1,
                               zipf_alpha=cfg.zipf_alpha, id_support=cfg.id_support,
                               pooling_factor=cfg.pooling_factor, pooling_law=cfg.pooling_law,
                               pooling_alpha=pooling_alpha, teacher=teacher)
        teacher = data.teacher  # same tables, alpha, support and teacher seed for both variants
        want = sorted(set(int(s) for s in steps))
        nfiles = 0
        for step in range(1, want[-1] + 1):  # train.py's step numbering: 1-based
            batch = data.batch(cfg.global_batch)
            if step not in want:
                continue
            for src, dst, lengths, values, recs in kjt_blocks(batch, owned, tables, cfg.ranks,
                                                              cfg.local_batch):
                common = {"config": label, "seed": seed, "step": step, "src_rank": src,
                          "dst_rank": dst, "local_batch": cfg.local_batch, "tables": recs}
                writer.write(f"{label}/s{step:05d}_lengths_r{src}_to_r{dst}.i32", lengths, "i32",
                             kind="kjt_lengths", **common)
                writer.write(f"{label}/s{step:05d}_values_r{src}_to_r{dst}.i64", values, "i64",
                             kind="kjt_values", **common)
                nfiles += 2
        wall = time.perf_counter() - t0
        cfg_dict = dataclasses.asdict(cfg)
        if cfg.pooling_factor > 1:
            cfg_dict["pooling_alpha"] = pooling_alpha
        configs[label] = {"config": cfg_dict, "seed": seed, "teacher_seed": cfg.teacher_seed,
                          "dump_steps": want, "rank_tables": owned,
                          "lengths_dtype": "i32", "values_dtype": "i64"}
        runs[label] = {"wall_seconds": wall, "files": nfiles}
        log(f"{label}: {nfiles} files, steps {want}, rank tables {[len(o) for o in owned]}, "
            f"{wall:.1f}s")
    return {"configs": configs, "runs": runs}


# ---------------------------------------------------------------------------------------------
# Part 2: pipeline boundary tensors of a small transformer.


@dataclasses.dataclass(frozen=True)
class LMConfig:
    layers: int = 4
    d_model: int = 256
    heads: int = 4
    mlp: int = 1024
    seq: int = 128
    batch: int = 8
    vocab: int = 256                 # bytes
    stage0_layers: int = 2           # layers [0, stage0_layers) on stage 0, the rest on stage 1
    steps: int = 300
    lr: float = 1e-3
    warmup: int = 30
    min_lr_ratio: float = 0.1        # cosine from lr to lr * min_lr_ratio
    weight_decay: float = 0.1
    betas: tuple = (0.9, 0.95)
    grad_clip: float = 1.0
    heldout_fraction: float = 0.05   # the tail of the text, for a held-out loss


class Block(nn.Module):
    """Pre-LN decoder layer: x + attn(LN(x)), then x + MLP(LN(x)); causal attention."""

    def __init__(self, c: LMConfig):
        super().__init__()
        self.heads = c.heads
        self.ln1 = nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.ln2 = nn.LayerNorm(c.d_model)
        self.fc1 = nn.Linear(c.d_model, c.mlp)
        self.fc2 = nn.Linear(c.mlp, c.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(
            2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Stage0(nn.Module):
    def __init__(self, c: LMConfig):
        super().__init__()
        self.tok = nn.Embedding(c.vocab, c.d_model)
        self.pos = nn.Embedding(c.seq, c.d_model)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.stage0_layers))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1]))
        for blk in self.blocks:
            x = blk(x)
        return x


class Stage1(nn.Module):
    def __init__(self, c: LMConfig):
        super().__init__()
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers - c.stage0_layers))
        self.ln = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab)

    def forward(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        logits = self.head(self.ln(x))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


def init_weights(modules: Sequence[nn.Module], layers: int) -> None:
    """GPT-2 style: N(0, 0.02) weights, zero biases, residual projections / sqrt(2 * layers)."""
    for m in modules:
        for name, p in m.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("proj.weight",
                                                                    "fc2.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)


def read_docs(root: str) -> bytes:
    """The .txt sources under ``root`` (sorted walk), concatenated with newlines."""
    parts = []
    for dirpath, dirnames, files in os.walk(root):
        dirnames.sort()
        for name in sorted(files):
            if name.endswith(".txt"):
                with open(os.path.join(dirpath, name), "rb") as f:
                    parts.append(f.read())
    return b"\n".join(parts)


def f16_loss_scale(g: torch.Tensor, scale: float = 65536.0) -> float:
    """GradScaler-like: start at 2^16, halve while the scaled tensor would overflow float16."""
    m = float(g.abs().max())
    while scale > 1.0 and m * scale >= 65504.0:
        scale /= 2.0
    return scale


def as_bits(t: torch.Tensor, dtype: str) -> np.ndarray:
    """The tensor's bytes as the dump dtype (bf16 as its uint16 bit patterns)."""
    if dtype == "f32":
        return t.to(torch.float32).numpy().astype("<f4")
    if dtype == "f16":
        return t.to(torch.float16).numpy().astype("<f2")
    if dtype == "bf16":
        return t.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16).astype("<u2")
    raise ValueError(dtype)


def make_lm(writer: Writer, seed: int, c: LMConfig, dump_steps: Sequence[int], docs: str,
            log) -> Dict:
    t0 = time.perf_counter()
    text = np.frombuffer(read_docs(docs), dtype=np.uint8)
    split = int(len(text) * (1.0 - c.heldout_fraction))
    train_text, held_text = text[:split], text[split:]
    torch.manual_seed(seed)
    s0, s1 = Stage0(c), Stage1(c)
    init_weights([s0, s1], c.layers)
    params = list(s0.parameters()) + list(s1.parameters())
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": c.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=c.lr,
                            betas=c.betas)
    rng = np.random.default_rng([int(seed), 11])
    held_rng = np.random.default_rng([0, 12])  # the same held-out windows for every seed

    def windows(src: np.ndarray, r: np.random.Generator, n: int) -> torch.Tensor:
        starts = r.integers(0, src.shape[0] - c.seq - 1, size=n)
        w = np.stack([src[s:s + c.seq + 1] for s in starts]).astype(np.int64)
        return torch.from_numpy(w)

    held = [windows(held_text, held_rng, c.batch) for _ in range(8)]

    def lr_at(step: int) -> float:
        if step <= c.warmup:
            return c.lr * step / c.warmup
        frac = (step - c.warmup) / max(1, c.steps - c.warmup)
        return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi *
                                                                                  frac)))

    want = sorted(set(int(s) for s in dump_steps if 1 <= int(s) <= c.steps))
    setup = time.perf_counter() - t0
    log(f"lm: {len(text):,} bytes of text ({len(train_text):,} train), "
        f"{sum(p.numel() for p in params):,} parameters, {c.steps} steps, dumps at {want}, "
        f"seed {seed}, setup {setup:.1f}s")
    losses, curve = [], []
    t_train = time.perf_counter()
    for step in range(1, c.steps + 1):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        tok = windows(train_text, rng, c.batch)
        act = s0(tok[:, :-1])                           # stage 0 forward
        recv = act.detach().requires_grad_(True)        # sent to stage 1
        loss = s1(recv, tok[:, 1:])                     # stage 1 forward
        loss.backward()                                 # stage 1 backward
        grad = recv.grad                                # sent back to stage 0
        act.backward(grad)                              # stage 0 backward
        if step in want:
            a2 = act.detach().reshape(-1, c.d_model)
            g2 = grad.detach().reshape(-1, c.d_model)
            scale = f16_loss_scale(g2)
            for tensor, kind, t in (("activation", "pp_activation", a2),
                                    ("gradient", "pp_gradient", g2)):
                for dtype in ("bf16", "f16", "f32"):
                    fields = {"config": "lm", "seed": seed, "step": step, "kind": kind,
                              "src_stage": 0 if tensor == "activation" else 1,
                              "dst_stage": 1 if tensor == "activation" else 0,
                              "source_dtype": "f32",
                              "rounding": "none" if dtype == "f32" else "nearest-even"}
                    x = t
                    if tensor == "gradient" and dtype == "f16":
                        x = t * scale
                        fields["loss_scale"] = scale
                    name = "act" if tensor == "activation" else "grad"
                    writer.write(f"lm/s{step:05d}_{name}.{dtype}", as_bits(x, dtype), dtype,
                                 **fields)
            log(f"lm step {step}: dumped |act| max {float(a2.abs().max()):.3g}, "
                f"|grad| max {float(g2.abs().max()):.3g} (f16 loss scale {scale:g})")
        torch.nn.utils.clip_grad_norm_(params, c.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if step % 25 == 0 or step == c.steps:
            el = time.perf_counter() - t_train
            curve.append((step, float(np.mean(losses[-25:]))))
            log(f"lm step {step}/{c.steps} loss {curve[-1][1]:.4f} "
                f"({1000 * el / step:.0f} ms/step, {el:.0f}s)")
    train_s = time.perf_counter() - t_train
    with torch.no_grad():
        held_loss = float(np.mean([float(s1(s0(w[:, :-1]), w[:, 1:])) for w in held]))
    log(f"lm: held-out loss {held_loss:.4f} nats/byte ({held_loss / math.log(2):.3f} bits/byte)")
    config = dataclasses.asdict(c)
    config.update({"seed": seed, "dump_steps": want, "docs": docs, "text_bytes": int(len(text)),
                   "boundary": f"output of layer {c.stage0_layers - 1} (stage 0) -> stage 1",
                   "tokens_per_file": c.batch * c.seq})
    run = {"loss_curve": curve, "final_train_loss": curve[-1][1], "heldout_loss": held_loss,
           "setup_seconds": setup, "train_seconds": train_s,
           "ms_per_step": 1000 * train_s / c.steps,
           "wall_seconds": time.perf_counter() - t0}
    return {"configs": {"lm": config}, "runs": {"lm": run}}


# ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "data", "lossless"))
    ap.add_argument("--parts", default="dlrm,lm", help="comma-separated: dlrm, lm")
    ap.add_argument("--seed", type=int, default=1, help="DLRM sample seed (the float corpus's)")
    ap.add_argument("--dlrm-steps", default="1,50,1464",
                    help="training steps (1-based) whose batches are dumped")
    ap.add_argument("--max-pooling", type=int, default=20, help="multi-hot bags: 1..N ids")
    ap.add_argument("--pooling-alpha", type=float, default=1.0, help="multi-hot: P(k) ~ k^-a")
    ap.add_argument("--lm-seed", type=int, default=1)
    ap.add_argument("--lm-steps", type=int, default=LMConfig.steps)
    ap.add_argument("--lm-dump", default="10,150,300", help="steps (1-based) dumped")
    ap.add_argument("--docs", default=DOCS)
    ap.add_argument("--stats", action="store_true",
                    help="print lossless_stats.py's table of the manifest afterwards")
    args = ap.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    for p in parts:
        if p not in ("dlrm", "lm"):
            ap.error(f"unknown part {p!r}")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    print(f"seeds: dlrm sample seed {args.seed}, teacher seed {PRESETS['study'].teacher_seed}, "
          f"lm seed {args.lm_seed}", flush=True)
    command = " ".join(["python tools/corpus/make_lossless_corpus.py"] + list(
        sys.argv[1:] if argv is None else argv))

    def log(msg: str) -> None:
        print(msg, flush=True)

    os.makedirs(args.out, exist_ok=True)
    manifest_path = os.path.join(args.out, "manifest.json")
    runs_path = os.path.join(args.out, "runs.json")
    labels = {"dlrm": ("dlrm_onehot", "dlrm_multihot"), "lm": ("lm",)}
    mine = {lab for p in parts for lab in labels[p]}
    manifest = {"format": FORMAT, "configs": {}, "files": []}
    runs: Dict = {}
    if os.path.exists(manifest_path):  # keep the other part of an earlier run
        with open(manifest_path) as f:
            old = json.load(f)
        manifest["configs"] = {k: v for k, v in old.get("configs", {}).items() if k not in mine}
        manifest["files"] = [e for e in old.get("files", []) if e["config"] not in mine]
    if os.path.exists(runs_path):
        with open(runs_path) as f:
            runs = {k: v for k, v in json.load(f).items() if k not in mine}

    writer = Writer(args.out)
    t0 = time.perf_counter()
    results = []
    if "dlrm" in parts:
        steps = [int(s) for s in args.dlrm_steps.split(",") if s]
        results.append(make_dlrm(writer, args.seed, steps, args.max_pooling, args.pooling_alpha,
                                 log))
    if "lm" in parts:
        c = dataclasses.replace(LMConfig(), steps=args.lm_steps)
        dumps = [int(s) for s in args.lm_dump.split(",") if s]
        results.append(make_lm(writer, args.lm_seed, c, dumps, args.docs, log))
    for r in results:
        for k, v in r["configs"].items():
            v["command"] = command
            manifest["configs"][k] = v
        runs.update(r["runs"])
    manifest["files"] = sorted(manifest["files"] + writer.entries, key=lambda e: e["path"])
    manifest["generator"] = {"torch": torch.__version__, "numpy": np.__version__,
                             "python": platform.python_version(), "threads": 1}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(runs_path, "w") as f:
        json.dump(runs, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(e["bytes"] for e in writer.entries)
    print(f"{len(writer.entries)} files, {total / 2**20:.2f} MiB, {time.perf_counter() - t0:.0f}s"
          f" -> {manifest_path}", flush=True)
    if args.stats:
        import lossless_stats

        lossless_stats.main([manifest_path])
    return 0


if __name__ == "__main__":
    sys.exit(main())
