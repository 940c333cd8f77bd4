"""A job's statistics: the plugin's JSON lines (NCCL_SQUEEZE_STATS_FILE) summarised per peer.

Each line the plugin appends at a connection's close (plugin/stats.cc) is one JSON object:
  {"conn": 3, "dir": "send", "peer": "10.0.0.2:41234", "tag": 1, "messages": 120,
   "bytes_in": ..., "bytes_wire": ..., "ratio": 3.1, "max_bound": 0.00196, "codec_ms": 12.5,
   "outliers": 0, "decisions": {"lossy": 100, "pass_too_small": 20, ...},
   "dtypes": {"f32": 100, "int64": 20}, "traffic_info": {"profiler": 120, "fallback": 0}}
`python -m squeeze stats FILE` prints one row per (direction, peer) and optionally plots: a send
row's peer is the remote host, a receive row's the sending rank and its host.

The plugin measures the error it introduced only with NCCL_SQUEEZE_VERIFY=1 (the sender decodes
each frame again): its send records then carry "verified" (messages checked) and
"max_err_over_bound" (the largest |x' - x| over that element's bound, <= 1), shown as the
"max err/bound" column. Without it every element is still within the bound by construction, and
"max bound" is the largest bound applied.

A send connection with a stream history (NCCL_SQUEEZE_HISTORY) also carries
"history": {"with": N, "without": M}, its lossy frames sent with the history and without it (auto
measures it and drops it where it does not pay), shown as the "history with/without" column.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Iterable, Optional, TextIO

REQUIRED = ("dir", "peer", "bytes_in", "bytes_wire", "decisions")


@dataclass
class Group:
    direction: str
    peer: str
    conns: int = 0
    messages: int = 0
    bytes_in: int = 0
    bytes_wire: int = 0
    codec_ms: float = 0.0
    outliers: int = 0
    max_bound: float = 0.0
    max_err: Optional[float] = None  # max_err_over_bound of the verified records
    verified: int = 0
    decisions: dict = field(default_factory=dict)
    dtypes: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)  # {"with": N, "without": M}, history senders

    @property
    def ratio(self) -> float:
        return self.bytes_in / self.bytes_wire if self.bytes_wire else 1.0

    @property
    def lossy(self) -> int:
        return self.decisions.get("lossy", 0)

    @property
    def passthrough(self) -> int:
        return sum(v for k, v in self.decisions.items() if k != "lossy")

    def reasons(self) -> str:
        """Why messages passed through, most frequent first: 'pass_too_small 4, pass_integer 2'."""
        items = sorted(((k, v) for k, v in self.decisions.items() if k != "lossy" and v),
                       key=lambda kv: (-kv[1], kv[0]))
        return ", ".join(f"{k} {v}" for k, v in items) or "-"

    def add(self, rec: dict) -> None:
        self.conns += 1
        self.messages += int(rec.get("messages", 0))
        self.bytes_in += int(rec["bytes_in"])
        self.bytes_wire += int(rec["bytes_wire"])
        self.codec_ms += float(rec.get("codec_ms", 0.0))
        self.outliers += int(rec.get("outliers", 0))
        self.max_bound = max(self.max_bound, float(rec.get("max_bound", 0.0)))
        err = rec.get("max_err_over_bound")
        if err is not None:
            self.max_err = max(self.max_err or 0.0, float(err))
            self.verified += int(rec.get("verified", 0))
        for key, dst in (("decisions", self.decisions), ("dtypes", self.dtypes),
                         ("traffic_info", self.paths), ("history", self.history)):
            for k, v in (rec.get(key) or {}).items():
                dst[k] = dst.get(k, 0) + int(v)

    def history_text(self) -> str:
        """'with/without' frames of the stream history, or '-' for no history connection."""
        if not self.history:
            return "-"
        return f"{self.history.get('with', 0)}/{self.history.get('without', 0)}"


def read_records(lines: Iterable[str]) -> tuple[list[dict], list[str]]:
    """The connection records of a JSON-lines file, and a note for each line that was skipped."""
    records, skipped = [], []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            skipped.append(f"line {n}: not JSON ({e.msg})")
            continue
        if not isinstance(rec, dict) or any(k not in rec for k in REQUIRED):
            skipped.append(f"line {n}: not a Squeeze connection record")
            continue
        records.append(rec)
    return records, skipped


def peer_label(rec: dict) -> str:
    """The peer a connection's bytes went to or came from. A send connection's "peer" is the
    remote listener (ip:port; NCCL opens one per channel, so the port does not name a rank): it
    is named by the remote host. A receive connection's peer address has the sender's ephemeral
    port, so it is named by the sender's rank (NCCL's tag) and host."""
    peer = str(rec["peer"])
    host = peer.rsplit(":", 1)[0] if ":" in peer else peer
    if rec["dir"] == "recv":
        tag = int(rec.get("tag", -1))
        return f"rank {tag} @ {host}" if tag >= 0 else host
    return host


def summarise(records: list[dict], by: str = "peer") -> list[Group]:
    """Groups per (direction, peer) (by="peer"), per connection (by="conn") or per direction."""
    groups: dict = {}
    for rec in records:
        if by == "conn":
            key = (rec["dir"], f"conn {rec.get('conn', '?')} {rec['peer']}")
        elif by == "dir":
            key = (rec["dir"], "*")
        else:
            key = (rec["dir"], peer_label(rec))
        if key not in groups:
            groups[key] = Group(*key)
        groups[key].add(rec)
    return [groups[k] for k in sorted(groups, key=lambda k: (k[0] != "send", k[0], k[1]))]


def total(groups: list[Group]) -> Group:
    t = Group("all", "*")
    for g in groups:
        t.conns += g.conns
        t.messages += g.messages
        t.bytes_in += g.bytes_in
        t.bytes_wire += g.bytes_wire
        t.codec_ms += g.codec_ms
        t.outliers += g.outliers
        t.max_bound = max(t.max_bound, g.max_bound)
        if g.max_err is not None:
            t.max_err = max(t.max_err or 0.0, g.max_err)
            t.verified += g.verified
        for src, dst in ((g.decisions, t.decisions), (g.dtypes, t.dtypes), (g.paths, t.paths),
                         (g.history, t.history)):
            for k, v in src.items():
                dst[k] = dst.get(k, 0) + v
    return t


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n} B"


def format_table(groups: list[Group], show_total: bool = True) -> str:
    has_err = any(g.max_err is not None for g in groups)
    has_history = any(g.history for g in groups)
    head = ["dir", "peer", "conns", "msgs", "bytes in", "on the wire", "ratio", "max bound"]
    if has_err:
        head.append("max err/bound")
    if has_history:
        head.append("history with/without")
    head += ["codec ms", "lossy", "pass", "why passed through", "datatypes"]
    rows = []
    for g in groups + ([total(groups)] if show_total and len(groups) > 1 else []):
        row = [g.direction, g.peer, str(g.conns), str(g.messages), human_bytes(g.bytes_in),
               human_bytes(g.bytes_wire), f"{g.ratio:.3f}",
               f"{g.max_bound:.3g}" if g.max_bound > 0 else "-"]
        if has_err:
            row.append("-" if g.max_err is None else f"{g.max_err:.3f}")
        if has_history:
            row.append(g.history_text())
        dtypes = ", ".join(f"{k} {v}" for k, v in sorted(g.dtypes.items(), key=lambda kv: -kv[1]))
        row += [f"{g.codec_ms:.3f}", str(g.lossy), str(g.passthrough), g.reasons(), dtypes or "-"]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    left = {"dir", "peer", "why passed through", "datatypes"}
    right = {i for i, h in enumerate(head) if h not in left}

    def fmt(r):
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                         for i, c in enumerate(r)).rstrip()

    lines = [fmt(head), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)


def main(argv: Optional[list] = None, out: TextIO = sys.stdout) -> int:
    import argparse
    ap = argparse.ArgumentParser(
        prog="python -m squeeze stats",
        description="Summarise the plugin's per-connection statistics (NCCL_SQUEEZE_STATS_FILE "
                    "JSON lines): bytes in, bytes on the wire, ratio, bound, codec time and why "
                    "messages passed through, per direction and peer.")
    ap.add_argument("files", nargs="+", help="JSON-lines files ('-' for stdin)")
    ap.add_argument("--by", choices=("peer", "conn", "dir"), default="peer",
                    help="one row per (direction, peer) (default), per connection, or per "
                         "direction")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--plot", metavar="PNG", help="also draw the per-connection statistics "
                    "(needs matplotlib: pip install matplotlib)")
    args = ap.parse_args(argv)
    records, skipped = [], []
    for f in args.files:
        if f == "-":
            r, s = read_records(sys.stdin)
        else:
            try:
                with open(f) as fh:
                    r, s = read_records(fh)
            except OSError as e:
                print(f"squeeze stats: {e}", file=sys.stderr)
                return 2
        records += r
        skipped += [f"{f}: {x}" for x in s]
    for s in skipped:
        print(f"squeeze stats: skipped {s}", file=sys.stderr)
    if not records:
        print("squeeze stats: no connection records found", file=sys.stderr)
        return 1
    groups = summarise(records, args.by)
    if args.json:
        t = total(groups)
        doc = [dict(dir=g.direction, peer=g.peer, conns=g.conns, messages=g.messages,
                    bytes_in=g.bytes_in, bytes_wire=g.bytes_wire, ratio=g.ratio,
                    max_bound=g.max_bound, max_err_over_bound=g.max_err, verified=g.verified,
                    codec_ms=g.codec_ms,
                    outliers=g.outliers, lossy=g.lossy, passthrough=g.passthrough,
                    decisions=g.decisions, dtypes=g.dtypes, traffic_info=g.paths,
                    history=g.history or None)
               for g in groups + [t]]
        json.dump(doc, out, indent=1)
        out.write("\n")
    else:
        out.write(format_table(groups) + "\n")
        if all(g.max_err is None for g in groups):
            out.write("max bound: the largest error bound the sender applied (each element is "
                      "within it; receivers do not know it); NCCL_SQUEEZE_VERIFY=1 makes the "
                      "plugin measure the error against it (max err/bound)\n")
        else:
            out.write("max err/bound: the largest |x' - x| over its element's bound, measured by "
                      "the sender (NCCL_SQUEEZE_VERIFY=1); at most 1 when the bound held\n")
    if args.plot:
        from squeeze import plots
        plots.plot_stats(records, args.plot)
        out.write(f"wrote {args.plot}\n")
    return 0
