"""squeeze-model: the step speedup a job can expect from compressing its all-to-all.

A training step's time is split, at a reference link rate, into forward all-to-all, backward
all-to-all, all-reduce and everything else (compute); the default is the SC'24 paper's DLRM
breakdown (31.3 / 31.3 / 22.9 / 14.5 %, artifact paper_script/stack_bar.py,
../shared/docs/anchors.md section 1.5). On a link of rate L (GB/s) an uncompressed all-to-all of
V bytes takes V / L, so its share scales with L_ref / L; the other parts do not depend on L.

A compressed all-to-all moves V / ratio bytes and runs the codec over V bytes on both ends:

  serial    (the paper's model, speedup_calculation.py): t = V/(ratio*L) + V/Tc + V/Td
  pipelined (the plugin compresses step k+1 while step k is on the wire, so the slowest stage
             sets the pace):                             t = max(V/(ratio*L), V/Tc, V/Td)

Tc, Td: compress and decompress throughput in GB/s of input bytes. The all-to-all speedup is
t_uncompressed / t; the step speedup is T(L) / T'(L) with only the compressed directions
changed. ``forward`` compresses the forward all-to-all only (the paper's setting), ``fwd+bwd``
both.

The arithmetic is in ``a2a_time``, ``step_time`` and ``speedup`` (unit-tested in
python/tests/test_model.py). The command line prints a table over link rates and, with
``--plot FILE``, draws speedup against link rate for both settings (needs matplotlib):

    tools/model/squeeze-model --ratio 9.6 --compress-gbps 4.5 --decompress-gbps 7.4
    tools/model/squeeze-model --link-gbps 12.5 --breakdown 40,30,20,10 --plot speedup.png

Plain Python (no numpy); matplotlib only for --plot.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence

# The SC'24 breakdown, % of the baseline step: forward all-to-all, backward all-to-all,
# all-reduce, compute.
PAPER_BREAKDOWN = (31.3, 31.3, 22.9, 14.5)
# The paper's cluster (NCSA Delta, Slingshot 200 Gb/s per node): the rate its breakdown was
# measured at. An assumption of this tool, not a number from the paper: say yours with
# --reference-gbps.
PAPER_REFERENCE_GBPS = 25.0
# The paper's modeled forward all-to-all after compression: 3.64 % of the step on Terabyte
# (anchors.md 1.5), i.e. 1.382x end to end.
PAPER_FWD_AFTER = 3.64


@dataclass(frozen=True)
class Breakdown:
    """Shares of one baseline step (any unit; normalised to fractions) at ``reference_gbps``."""

    fwd_a2a: float = PAPER_BREAKDOWN[0]
    bwd_a2a: float = PAPER_BREAKDOWN[1]
    allreduce: float = PAPER_BREAKDOWN[2]
    compute: float = PAPER_BREAKDOWN[3]
    reference_gbps: float = PAPER_REFERENCE_GBPS

    def __post_init__(self):
        parts = (self.fwd_a2a, self.bwd_a2a, self.allreduce, self.compute)
        if min(parts) < 0 or sum(parts) <= 0:
            raise ValueError("breakdown shares must be >= 0 and not all 0")
        if not self.reference_gbps > 0:
            raise ValueError("reference link rate must be > 0")

    @property
    def total(self) -> float:
        return self.fwd_a2a + self.bwd_a2a + self.allreduce + self.compute


@dataclass(frozen=True)
class Codec:
    """Measured ratio (input / wire bytes) and throughputs (GB/s of input bytes). A throughput
    of 0 or inf means free (inf: no cost)."""

    ratio: float
    compress_gbps: float
    decompress_gbps: float

    def __post_init__(self):
        if not self.ratio > 0:
            raise ValueError("ratio must be > 0")
        if not (self.compress_gbps > 0 and self.decompress_gbps > 0):
            raise ValueError("codec throughputs must be > 0 (use inf for free)")


def a2a_time(volume: float, link_gbps: float, codec: Optional[Codec] = None,
             pipelined: bool = False) -> float:
    """Seconds to move ``volume`` GB over ``link_gbps``, compressed with ``codec`` if given."""
    if not link_gbps > 0:
        raise ValueError("link rate must be > 0")
    if codec is None:
        return volume / link_gbps
    wire = volume / (codec.ratio * link_gbps)
    enc = volume / codec.compress_gbps
    dec = volume / codec.decompress_gbps
    return max(wire, enc, dec) if pipelined else wire + enc + dec


def a2a_speedup(link_gbps: float, codec: Codec, pipelined: bool = False) -> float:
    """The all-to-all's own speedup; serial: 1 / (1/ratio + L/Tc + L/Td) (the paper's S)."""
    return a2a_time(1.0, link_gbps) / a2a_time(1.0, link_gbps, codec, pipelined)


def step_time(b: Breakdown, link_gbps: float, codec: Optional[Codec] = None,
              compress_fwd: bool = True, compress_bwd: bool = False,
              pipelined: bool = False) -> float:
    """Step time at ``link_gbps`` as a fraction of the baseline step at the reference rate.

    Each all-to-all share is its volume's time at the reference rate, so its volume is
    share * reference_gbps (in the breakdown's units x GB/s)."""
    fwd_vol = b.fwd_a2a / b.total * b.reference_gbps
    bwd_vol = b.bwd_a2a / b.total * b.reference_gbps
    fwd = a2a_time(fwd_vol, link_gbps, codec if compress_fwd else None, pipelined)
    bwd = a2a_time(bwd_vol, link_gbps, codec if compress_bwd else None, pipelined)
    return fwd + bwd + (b.allreduce + b.compute) / b.total


def speedup(b: Breakdown, link_gbps: float, codec: Codec, compress_fwd: bool = True,
            compress_bwd: bool = False, pipelined: bool = False) -> float:
    """Baseline step time / compressed step time, both at ``link_gbps``."""
    return (step_time(b, link_gbps) /
            step_time(b, link_gbps, codec, compress_fwd, compress_bwd, pipelined))


def speedup_from_a2a_share(b: Breakdown, fwd_after: float, bwd_after: Optional[float] = None
                           ) -> float:
    """Step speedup when the all-to-all shares become ``fwd_after`` (and ``bwd_after``), in the
    breakdown's units: the paper's own arithmetic (3.64 -> 100 / 72.34 = 1.382x)."""
    after = fwd_after + (b.bwd_a2a if bwd_after is None else bwd_after) + b.allreduce + b.compute
    return b.total / after


def table(b: Breakdown, codec: Codec, rates: Sequence[float],
          pipelined: bool = False) -> List[Dict[str, float]]:
    rows = []
    for r in rates:
        rows.append({
            "link_gbps": r,
            "a2a_speedup": a2a_speedup(r, codec, pipelined),
            "forward": speedup(b, r, codec, True, False, pipelined),
            "fwd+bwd": speedup(b, r, codec, True, True, pipelined),
        })
    return rows


DEFAULT_RATES = (1.25, 3.125, 6.25, 12.5, 25.0, 50.0, 100.0, 200.0)


def _floats(text: str, n: Optional[int] = None) -> List[float]:
    vals = [float(v) for v in text.split(",") if v.strip()]
    if n is not None and len(vals) != n:
        raise argparse.ArgumentTypeError(f"expected {n} comma-separated numbers")
    return vals


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="squeeze-model",
        description="Modeled step speedup from compressing the all-to-all (see the docstring "
                    "of python/squeeze/model.py for the model).")
    ap.add_argument("--breakdown", default=",".join(str(v) for v in PAPER_BREAKDOWN),
                    help="fwd a2a, bwd a2a, all-reduce, compute shares of the baseline step "
                         "(default: the SC'24 paper's %(default)s)")
    ap.add_argument("--reference-gbps", type=float, default=PAPER_REFERENCE_GBPS,
                    help="link rate (GB/s) the breakdown was measured at (default %(default)s: "
                         "200 Gb/s, assumed for the paper's cluster)")
    ap.add_argument("--ratio", type=float, required=True,
                    help="measured compression ratio (input / wire bytes)")
    ap.add_argument("--compress-gbps", type=float, required=True,
                    help="measured compress throughput, GB/s of input (inf: free)")
    ap.add_argument("--decompress-gbps", type=float, required=True,
                    help="measured decompress throughput, GB/s of input (inf: free)")
    ap.add_argument("--link-gbps", default=",".join(str(r) for r in DEFAULT_RATES),
                    help="link rates to tabulate, GB/s (default %(default)s)")
    ap.add_argument("--pipelined", action="store_true",
                    help="codec overlapped with the transfer (max of the stages) instead of the "
                         "paper's serial sum")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--plot", default=None, help="write a PNG of speedup against link rate")
    args = ap.parse_args(argv)

    sh = _floats(args.breakdown, 4)
    b = Breakdown(*sh, reference_gbps=args.reference_gbps)
    c = Codec(args.ratio, args.compress_gbps, args.decompress_gbps)
    rates = _floats(args.link_gbps)
    rows = table(b, c, rates, args.pipelined)
    if args.json:
        print(json.dumps({"breakdown": asdict(b), "codec": asdict(c),
                          "pipelined": args.pipelined, "rows": rows}, indent=1))
    else:
        print(f"breakdown fwd/bwd/allreduce/compute = {sh} at {b.reference_gbps:g} GB/s; "
              f"ratio {c.ratio:g}, compress {c.compress_gbps:g} GB/s, decompress "
              f"{c.decompress_gbps:g} GB/s, {'pipelined' if args.pipelined else 'serial'} codec")
        print("| link GB/s | a2a speedup | step speedup, forward | step speedup, fwd+bwd |")
        print("|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['link_gbps']:g} | {r['a2a_speedup']:.2f}x | {r['forward']:.3f}x | "
                  f"{r['fwd+bwd']:.3f}x |")
    if args.plot:
        plot(b, c, args.plot, rates)
    return 0


def plot(b: Breakdown, c: Codec, path: str, rates: Sequence[float]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    lo, hi = min(rates), max(rates)
    xs = [lo * (hi / lo) ** (i / 199) for i in range(200)] if hi > lo else [lo]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, bwd, style in (("forward", False, "-"), ("fwd+bwd", True, "--")):
        for pipe, color in ((False, "C0"), (True, "C1")):
            ax.plot(xs, [speedup(b, x, c, True, bwd, pipe) for x in xs], style, color=color,
                    label=f"{label}, {'pipelined' if pipe else 'serial'}")
    ax.axhline(1.0, color="gray", lw=0.8)
    ax.axvline(b.reference_gbps, color="gray", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("link rate (GB/s)")
    ax.set_ylabel("modeled step speedup")
    ax.set_title(f"ratio {c.ratio:g}, codec {c.compress_gbps:g}/{c.decompress_gbps:g} GB/s")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
