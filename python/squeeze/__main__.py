"""python -m squeeze {env,check,stats,plots}: the command line of the Squeeze package.

  env     the lines that turn Squeeze on for a job (eval "$(python -m squeeze env)")
  check   load the plugin the way NCCL does and report versions, devices, ptrSupport, settings
  stats   summarise a job's statistics (NCCL_SQUEEZE_STATS_FILE JSON lines)
  plots   PNGs from squeeze-bench / squeeze-a2a JSON and statistics (same as squeeze-plots)
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional


def _env(argv: list) -> int:
    from squeeze import plugin
    ap = argparse.ArgumentParser(
        prog="python -m squeeze env",
        description="Print the shell lines that turn Squeeze on for a job: "
                    'eval "$(python -m squeeze env)" before launching it.')
    ap.add_argument("--plugin", help="plugin library (default: the one installed with this "
                    "package, else $SQUEEZE_PLUGIN, else a source checkout's build/plugin)")
    ap.add_argument("--no-force", action="store_true",
                    help="omit NCCL_NET=Squeeze (NCCL then falls back silently to IB / Socket "
                         "when the plugin cannot be loaded)")
    ap.add_argument("--stats-file", help="also write per-connection statistics there "
                    "(NCCL_SQUEEZE_STATS_FILE; python -m squeeze stats FILE reads them)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="also export NCCL_SQUEEZE_NAME=VALUE, e.g. --set BOUND=1e-3")
    args = ap.parse_args(argv)
    try:
        path = plugin.find_plugin(args.plugin)
    except FileNotFoundError as e:
        print(f"squeeze env: {e}", file=sys.stderr)
        return 1
    extra = {}
    for kv in args.set:
        name, sep, value = kv.partition("=")
        if not sep or not name:
            print(f"squeeze env: --set takes NAME=VALUE, not {kv!r}", file=sys.stderr)
            return 2
        name = name.upper()
        extra[name if name.startswith("NCCL_") else f"NCCL_SQUEEZE_{name}"] = value
    for line in plugin.env_lines(path, force=not args.no_force, stats_file=args.stats_file,
                                 extra=extra):
        print(line)
    return 0


def _check(argv: list) -> int:
    from squeeze import plugin
    ap = argparse.ArgumentParser(
        prog="python -m squeeze check",
        description="Load the plugin the way NCCL does (dlopen, ncclNetPlugin_v11..v8, init with "
                    "a logger, devices, getProperties) and report versions, devices, ptrSupport "
                    "and the effective settings (NCCL_SQUEEZE_* in this environment apply). "
                    "Exit status 0 when every step succeeded.")
    ap.add_argument("--plugin", help="plugin library (default as for `env`)")
    ap.add_argument("--table", type=int, choices=plugin.TABLE_VERSIONS,
                    help="initialise through ncclNetPlugin_vN instead of the newest exported one")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(argv)
    try:
        path = plugin.find_plugin(args.plugin)
    except FileNotFoundError as e:
        print(f"squeeze check: {e}", file=sys.stderr)
        return 1
    res = plugin.check(path, args.table)
    if args.json:
        json.dump(res, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        plugin.print_check(res)
    sys.stdout.flush()
    return 0 if res["ok"] else 1


def _stats(argv: list) -> int:
    from squeeze import stats
    return stats.main(argv)


def _plots(argv: list) -> int:
    from squeeze import plots
    return plots.main(argv)


COMMANDS = {"env": _env, "check": _check, "stats": _stats, "plots": _plots}


def main(argv: Optional[list] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr if argv and argv[0] not in ("-h", "--help")
              else sys.stdout)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nunknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0 if argv else 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
