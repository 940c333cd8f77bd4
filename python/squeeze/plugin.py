"""Finding the NCCL net plugin, the environment that turns it on, and a check that loads it.

`python -m squeeze env` prints the lines a job needs; `python -m squeeze check` loads the plugin
the way NCCL 2.28 does and reports what NCCL would see. Both are plain ctypes: no NCCL, no GPU.
"""
from __future__ import annotations

import ctypes
import os
import shlex
import sys
from pathlib import Path
from typing import Optional

PLUGIN_FILE = "libnccl-net-squeeze.so"
# NCCL 2.28 looks for these, newest first, and uses the first one it finds.
TABLE_VERSIONS = (11, 10, 9, 8)
NCCL_PTR_HOST, NCCL_PTR_CUDA, NCCL_PTR_DMABUF = 0x1, 0x2, 0x4
NCCL_LOG_LEVELS = {0: "NONE", 1: "VERSION", 2: "WARN", 3: "INFO", 4: "ABORT", 5: "TRACE"}


def candidates() -> list[Path]:
    """Where the plugin may be, in the order find_plugin() tries them."""
    here = Path(__file__).resolve().parent
    out = [here / "lib" / PLUGIN_FILE]  # installed from the wheel
    # A source checkout: python/squeeze -> the repository's build directories.
    repo = here.parent.parent
    if (repo / "CMakeLists.txt").is_file():
        out += [repo / "build" / "plugin" / PLUGIN_FILE]
    return out


def find_plugin(explicit: Optional[str] = None) -> Path:
    """The plugin library: `explicit`, else $SQUEEZE_PLUGIN, else the copy installed with this
    package, else a source checkout's build/plugin/. Raises FileNotFoundError naming the places
    looked at."""
    tried = []
    for given in (explicit, os.environ.get("SQUEEZE_PLUGIN")):
        if given:
            p = Path(given).expanduser()
            if p.is_file():
                return p.resolve()
            raise FileNotFoundError(f"no plugin library at {p}")
    for p in candidates():
        tried.append(str(p))
        if p.is_file():
            return p
    raise FileNotFoundError(
        "libnccl-net-squeeze.so not found (looked in: " + ", ".join(tried) + "); install the "
        "package with `pip install .`, build the repository (build/plugin), or pass --plugin PATH"
    )


def env_lines(plugin: Path, force: bool = True, stats_file: Optional[str] = None,
              extra: Optional[dict] = None) -> list[str]:
    """Shell lines that turn Squeeze on for a job. NCCL dlopens NCCL_NET_PLUGIN as given when it
    is a path, so no LD_LIBRARY_PATH is needed."""
    lines = [f"export NCCL_NET_PLUGIN={shlex.quote(str(plugin))}"]
    if force:
        # Fail loudly instead of silently falling back to NCCL's IB / Socket transports.
        lines.append("export NCCL_NET=Squeeze")
    if stats_file:
        lines.append(f"export NCCL_SQUEEZE_STATS_FILE={shlex.quote(stats_file)}")
    for k, v in (extra or {}).items():
        lines.append(f"export {k}={shlex.quote(str(v))}")
    return lines


# ---- the ABI, as include/nccl_abi/net.h declares it (sizes asserted there and below) ----

_FN = ctypes.c_void_p  # members this check does not call


class _Props8(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("pciPath", ctypes.c_char_p), ("guid", ctypes.c_uint64),
                ("ptrSupport", ctypes.c_int), ("regIsGlobal", ctypes.c_int),
                ("speed", ctypes.c_int), ("port", ctypes.c_int), ("latency", ctypes.c_float),
                ("maxComms", ctypes.c_int), ("maxRecvs", ctypes.c_int),
                ("netDeviceType", ctypes.c_int), ("netDeviceVersion", ctypes.c_int)]


class _VProps(ctypes.Structure):
    _fields_ = [("ndevs", ctypes.c_int), ("devs", ctypes.c_int * 4)]


_PROPS9_FIELDS = [("name", ctypes.c_char_p), ("pciPath", ctypes.c_char_p),
                  ("guid", ctypes.c_uint64), ("ptrSupport", ctypes.c_int),
                  ("regIsGlobal", ctypes.c_int), ("forceFlush", ctypes.c_int),
                  ("speed", ctypes.c_int), ("port", ctypes.c_int), ("latency", ctypes.c_float),
                  ("maxComms", ctypes.c_int), ("maxRecvs", ctypes.c_int),
                  ("netDeviceType", ctypes.c_int), ("netDeviceVersion", ctypes.c_int),
                  ("vProps", _VProps), ("maxP2pBytes", ctypes.c_size_t),
                  ("maxCollBytes", ctypes.c_size_t)]


class _Props9(ctypes.Structure):  # v9 and v10
    _fields_ = _PROPS9_FIELDS


class _Props11(ctypes.Structure):
    _fields_ = _PROPS9_FIELDS + [("maxMultiRequestSize", ctypes.c_int)]


class _CommConfig(ctypes.Structure):
    _fields_ = [("trafficClass", ctypes.c_int)]


# The plugin formats its messages itself and calls NCCL's printf-like logger with "%s" and the
# text (plugin/log.cc). The callback is declared with that one string argument: on the LP64 ABIs
# NCCL supports (x86-64 SysV, aarch64) a variadic pointer argument arrives where a named one would.
_LOGGER = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_char_p)
_I = ctypes.c_int
_P = ctypes.c_void_p
_INIT = {
    8: ctypes.CFUNCTYPE(_I, _LOGGER),
    9: ctypes.CFUNCTYPE(_I, _LOGGER),
    10: ctypes.CFUNCTYPE(_I, _LOGGER, _P),
    11: ctypes.CFUNCTYPE(_I, ctypes.POINTER(_P), ctypes.c_uint64, ctypes.POINTER(_CommConfig),
                         _LOGGER, _P),
}
_DEVICES = ctypes.CFUNCTYPE(_I, ctypes.POINTER(_I))
_FINALIZE = ctypes.CFUNCTYPE(_I, _P)
_PROPS = {8: _Props8, 9: _Props9, 10: _Props9, 11: _Props11}
# Offsets in the tables: name, init, devices, getProperties are the first four members of every
# version; v11's finalize follows makeVDevice (member 21 of 23).
_V11_FINALIZE_SLOT = 21
# Sizes from include/nccl_abi/net.h's static assertions (NCCL 2.28.9, LP64).
ABI_SIZES = {"props8": 64, "props9": 104, "props11": 112}
assert ctypes.sizeof(_Props8) == ABI_SIZES["props8"]
assert ctypes.sizeof(_Props9) == ABI_SIZES["props9"]
assert ctypes.sizeof(_Props11) == ABI_SIZES["props11"]

_KEEP_ALIVE: list = []
_RESULTS = {0: "ncclSuccess", 1: "ncclUnhandledCudaError", 2: "ncclSystemError",
            3: "ncclInternalError", 4: "ncclInvalidArgument", 5: "ncclInvalidUsage",
            6: "ncclRemoteError", 7: "ncclInProgress"}


def ptr_support_text(bits: int) -> str:
    names = [n for b, n in ((NCCL_PTR_HOST, "HOST"), (NCCL_PTR_CUDA, "CUDA"),
                            (NCCL_PTR_DMABUF, "DMABUF")) if bits & b]
    return "|".join(names) if names else "none"


def check(plugin: Path, version: Optional[int] = None) -> dict:
    """Loads the plugin as NCCL does (dlopen RTLD_NOW | RTLD_LOCAL, dlsym ncclNetPlugin_v11 ..
    v8, the newest found or `version`), calls init with a logger, devices, getProperties of
    every device, and finalize (v11). Returns what it saw; result["ok"] says whether every step
    succeeded, result["error"] what failed."""
    res: dict = {"plugin": str(plugin), "ok": False, "tables": {}, "log": [], "devices": []}
    _check(plugin, version, res)
    # The plugin's INFO lines at init: version, backend, devices, transport, policy and the
    # effective value of every parameter with its source (plugin/core.cc).
    res["settings"] = [e["text"] for e in res["log"] if e["level"] == "INFO"]
    res["warnings"] = [e["text"] for e in res["log"] if e["level"] == "WARN"]
    return res


def _check(plugin: Path, version: Optional[int], res: dict) -> None:
    try:
        lib = ctypes.CDLL(str(plugin), mode=os.RTLD_NOW | os.RTLD_LOCAL)
    except OSError as e:
        res["error"] = f"dlopen: {e}"
        return
    try:
        fn = lib.squeeze_version
        fn.restype = ctypes.c_char_p
        res["squeeze_version"] = fn().decode()
    except AttributeError:
        res["squeeze_version"] = None
    tables = {}
    for v in TABLE_VERSIONS:
        try:
            addr = ctypes.addressof(ctypes.c_void_p.in_dll(lib, f"ncclNetPlugin_v{v}"))
        except ValueError:
            res["tables"][f"v{v}"] = None
            continue
        name = ctypes.cast(ctypes.c_void_p.from_address(addr).value, ctypes.c_char_p).value
        res["tables"][f"v{v}"] = name.decode() if name else ""
        tables[v] = addr
    if not tables:
        res["error"] = "no ncclNetPlugin_v8..v11 symbol: NCCL would not load this library"
        return
    use = version if version is not None else max(tables)
    if use not in tables:
        res["error"] = f"ncclNetPlugin_v{use} not exported"
        return
    res["table"] = f"ncclNetPlugin_v{use}"
    base = tables[use]
    slot = ctypes.sizeof(ctypes.c_void_p)

    def member(i, proto):
        p = ctypes.c_void_p.from_address(base + i * slot).value
        return proto(p) if p else None

    def on_log(level, flags, file, line, fmt, arg):
        text = arg if fmt == b"%s" else fmt
        res["log"].append({"level": NCCL_LOG_LEVELS.get(level, str(level)), "flags": flags,
                           "text": (text or b"").decode(errors="replace")})

    logger = _LOGGER(on_log)
    # The plugin keeps the logger for the life of the process (it may log after finalize).
    _KEEP_ALIVE.append((lib, logger))
    init = member(1, _INIT[use])
    ctx = ctypes.c_void_p()
    config = _CommConfig(-1)  # NCCL_NET_TRAFFIC_CLASS_UNDEF
    if use == 11:
        rc = init(ctypes.byref(ctx), 0, ctypes.byref(config), logger, None)
    elif use == 10:
        rc = init(logger, None)
    else:
        rc = init(logger)
    res["init"] = _RESULTS.get(rc, str(rc))
    if rc != 0:
        res["error"] = f"init returned {res['init']}"
        return
    ndev = ctypes.c_int(0)
    rc = member(2, _DEVICES)(ctypes.byref(ndev))
    if rc != 0:
        res["error"] = f"devices returned {_RESULTS.get(rc, rc)}"
        return
    props_t = _PROPS[use]
    get_props = member(3, ctypes.CFUNCTYPE(_I, _I, ctypes.POINTER(props_t)))
    for d in range(ndev.value):
        p = props_t()
        rc = get_props(d, ctypes.byref(p))
        if rc != 0:
            res["error"] = f"getProperties({d}) returned {_RESULTS.get(rc, rc)}"
            return
        dev = {}
        for fname, _ in props_t._fields_:
            val = getattr(p, fname)
            if isinstance(val, bytes):
                val = val.decode(errors="replace")
            elif isinstance(val, _VProps):
                val = {"ndevs": val.ndevs, "devs": list(val.devs)[: max(0, val.ndevs)]}
            dev[fname] = val
        dev["ptrSupportText"] = ptr_support_text(p.ptrSupport)
        res["devices"].append(dev)
    if use == 11:
        fin = member(_V11_FINALIZE_SLOT, _FINALIZE)
        rc = fin(ctx) if fin else 0
        res["finalize"] = _RESULTS.get(rc, str(rc))
        if rc != 0:
            res["error"] = f"finalize returned {res['finalize']}"
            return
    res["ok"] = True


def print_check(res: dict, out=sys.stdout) -> None:
    w = out.write
    w(f"plugin: {res['plugin']}\n")
    if res.get("squeeze_version") is not None:
        w(f"squeeze_version(): {res['squeeze_version']}\n")
    if res["tables"]:
        w("tables: " + ", ".join(f"ncclNetPlugin_{k} " + (f"'{v}'" if v is not None else "absent")
                                 for k, v in res["tables"].items()) + "\n")
    if "table" in res:
        w(f"init through {res['table']} (NCCL 2.28 uses the newest it finds): "
          f"{res.get('init', '-')}\n")
    for i, d in enumerate(res["devices"]):
        w(f"device {i}: {d['name']} pci {d['pciPath']} speed {d['speed']} Mb/s port {d['port']} "
          f"ptrSupport {d['ptrSupportText']} (0x{d['ptrSupport']:x}) maxComms {d['maxComms']} "
          f"maxRecvs {d['maxRecvs']}")
        for k in ("regIsGlobal", "forceFlush", "maxP2pBytes", "maxCollBytes",
                  "maxMultiRequestSize"):
            if k in d:
                w(f" {k} {d[k]}")
        w("\n")
    if res["devices"] or "table" in res:
        w(f"devices: {len(res['devices'])}\n")
    if res.get("settings"):
        w("the plugin's init log (versions, transport, policy, effective settings):\n")
        for line in res["settings"]:
            w(f"  {line}\n")
    for line in res.get("warnings", []):
        w(f"WARN {line}\n")
    if "finalize" in res:
        w(f"finalize: {res['finalize']}\n")
    w("check: OK\n" if res["ok"] else f"check: FAILED: {res.get('error', 'unknown error')}\n")
