"""ctypes binding to Squeeze's codec: the C API of include/squeeze/squeeze_c.h in libsqueeze_c.so.

    from squeeze import codec
    frame = codec.compress(x)                      # numpy float32/float16 array, or bytes
    y = codec.decompress_array(frame).reshape(x.shape)
    codec.frame_info(frame).original_bytes
    y = codec.round_trip(x, mode="rel", bound=1e-2)   # what the receiver of one frame gets

The frames are byte for byte the plugin's (docs/FORMAT.md). Modes: ``"local"`` (the default:
each value within ``bound * (max - min)`` of its own block of 32 elements of the frame), ``"rel"``
(``bound * (max - min)`` over the frame's finite values), ``"abs"`` (``bound`` itself), and
``"lossless"`` (every element bit for bit, any dtype: byte planes and the entropy stage).
Non-finite values, integer arrays and ``dtype="bytes"`` data always come back bit-exact.

The library is found through ``$SQUEEZE_C_LIB`` (a path to libsqueeze_c.so), else beside this
module in ``squeeze/lib/`` (where the wheel puts it), else in the repository's build folders (``build*/compress/capi/``; ``cmake --build build --target
squeeze_c``). ``available()`` says whether it was found; every other call raises
``LibraryNotFound`` (an ImportError) when it was not. Errors of the codec raise ``SqueezeError``
with the status code and the codec's reason.

Needs numpy only.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np

API_VERSION = 1

OK = 0
INVALID_ARGUMENT = 1
OUTPUT_TOO_SMALL = 2
CORRUPT_FRAME = 3
TRUNCATED_FRAME = 4
UNSUPPORTED_FRAME = 5
OUT_OF_MEMORY = 100
INTERNAL_ERROR = 101

DTYPES = {"bytes": 0, "f32": 1, "f16": 2, "bf16": 3, "i8": 4, "u8": 5, "i32": 6, "u32": 7,
          "i64": 8, "u64": 9}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
MODES = {"abs": 0, "rel": 1, "local": 2, "lossless": 3}

CAP_V1 = 1 << 0
CAP_STAGED = 1 << 1
CAP_RANS = 1 << 2
CAP_DEDUP = 1 << 3
CAP_HISTORY = 1 << 4
CAP_PLANES = 1 << 5
CAP_TABLE = 1 << 6        # a bound per table of a row layout (rel, abs)
CAP_ROW_RECORDS = 1 << 7  # local records shared by a row's table vector
CAP_DEDUP_STEP = 1 << 8   # dedup records counted in steps of several units
CAP_RANS_LONG_SEGMENTS = 1 << 9  # rANS segments of 32,768 symbols
CAP_DEDUP_GOLOMB = 1 << 10       # dedup records' gap and length as Exp-Golomb codes
CAP_PACKED_RECORDS = 1 << 11     # local records at the frame's own field widths
CAPS_ALL = 0xFFF

DEFAULT_MODE = "local"
DEFAULT_LOCAL_BOUND = 1.96e-3   # squeeze::kInt8MatchingLocalBound
FRAME_HEADER_BYTES = 48
DEFAULT_WINDOW_BYTES = 1 << 20  # a stream's history (squeeze::StreamEncoder)

BytesLike = Union[bytes, bytearray, memoryview, np.ndarray]


class LibraryNotFound(ImportError):
    """libsqueeze_c.so was not built or not found (see the module docstring)."""


class SqueezeError(RuntimeError):
    """A codec call returned a status other than ok."""

    def __init__(self, status: int, what: str, reason: str = ""):
        self.status = int(status)
        self.reason = reason
        text = f"{what}: {status_string(status)} (status {status})"
        if reason and reason != "none":
            text += f": {reason}"
        super().__init__(text)


class _Params(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("dtype", ctypes.c_uint32), ("mode", ctypes.c_uint32),
                ("caps", ctypes.c_uint32), ("bound", ctypes.c_double),
                ("row_elems", ctypes.c_uint32), ("start_col", ctypes.c_uint32),
                ("n_tables", ctypes.c_uint32), ("reserved", ctypes.c_uint32),
                ("table_cols", ctypes.POINTER(ctypes.c_uint32)),
                ("table_bounds", ctypes.POINTER(ctypes.c_double))]


@dataclass(frozen=True)
class Layout:
    """The rows a payload is made of (squeeze::RowLayout): each row the concatenation of tables
    of ``cols[k]`` columns; ``bounds[k]`` (optional) each table's bound in the frame's mode;
    ``start_col`` the column of the data's first element. With a layout, "rel" bounds each table
    relative to its own range in the frame, "abs" each by its bound, and "local" gives each block
    its table's bound (and shares one record among a row vector's blocks)."""
    cols: Sequence[int]
    bounds: Optional[Sequence[float]] = None
    start_col: int = 0

    @property
    def row_elems(self) -> int:
        return int(sum(self.cols))

    def at(self, start_col: int) -> "Layout":
        """The same layout for data that begins at column ``start_col`` (mod the row)."""
        return Layout(self.cols, self.bounds, int(start_col) % self.row_elems)


class _Stats(ctypes.Structure):
    _fields_ = [("input_bytes", ctypes.c_uint64), ("frame_bytes", ctypes.c_uint64),
                ("outliers", ctypes.c_uint64), ("applied_bound", ctypes.c_double),
                ("method", ctypes.c_uint32), ("version", ctypes.c_uint32),
                ("coder", ctypes.c_uint32), ("quant", ctypes.c_uint32),
                ("units", ctypes.c_uint64), ("ref_units", ctypes.c_uint64),
                ("history_ref_units", ctypes.c_uint64), ("code_bytes", ctypes.c_uint64),
                ("quant_bytes", ctypes.c_uint64), ("dedup_bytes", ctypes.c_uint64),
                ("outlier_bytes", ctypes.c_uint64)]


class _Info(ctypes.Structure):
    _fields_ = [("original_bytes", ctypes.c_uint64), ("frame_bytes", ctypes.c_uint64),
                ("applied_bound", ctypes.c_double), ("method", ctypes.c_uint32),
                ("version", ctypes.c_uint32), ("dtype", ctypes.c_uint32),
                ("outliers", ctypes.c_uint32), ("quant", ctypes.c_uint32),
                ("coder", ctypes.c_uint32), ("dedup", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32)]


@dataclass(frozen=True)
class FrameStats:
    """What one compression did (squeeze::FrameStats)."""

    input_bytes: int
    frame_bytes: int
    outliers: int
    applied_bound: float
    method: int
    version: int
    coder: int
    quant: int
    units: int
    ref_units: int
    history_ref_units: int
    code_bytes: int
    quant_bytes: int
    dedup_bytes: int
    outlier_bytes: int

    @property
    def ratio(self) -> float:
        return self.input_bytes / self.frame_bytes if self.frame_bytes else 0.0


@dataclass(frozen=True)
class FrameInfo:
    """A frame's header (squeeze::FrameInfo); ``dtype`` is a name of DTYPES."""

    original_bytes: int
    frame_bytes: int
    applied_bound: float
    method: int
    version: int
    dtype: str
    outliers: int
    quant: int
    coder: int
    dedup: int


_lib = None
_lib_path: Optional[str] = None
# The capability bits the loaded library knows (it refuses others): a library of C API version 2
# predates CAP_DEDUP_STEP, one of version 3 CAP_RANS_LONG_SEGMENTS, one of version 4
# CAP_DEDUP_GOLOMB, one of version 5 CAP_PACKED_RECORDS. Set once by _load().
_lib_caps = CAPS_ALL
_lib_lock = threading.Lock()


def _repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def library_candidates():
    """Where the library is looked for, in order."""
    env = os.environ.get("SQUEEZE_C_LIB")
    if env:
        return [env]
    # Installed from the wheel (pyproject.toml): squeeze/lib/ beside this module.
    packaged = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib", "libsqueeze_c.so")
    if os.path.exists(packaged):
        return [packaged]
    root = _repo_root()
    found = sorted(glob.glob(os.path.join(root, "build", "compress", "capi", "libsqueeze_c.so")))
    found += sorted(p for p in glob.glob(os.path.join(root, "build*", "compress", "capi",
                                                      "libsqueeze_c.so")) if p not in found)
    return found


def _caps_known(api_version: int) -> int:
    """The capability bits a library of C API version api_version knows."""
    caps = CAPS_ALL
    if api_version < 6:
        caps &= ~CAP_PACKED_RECORDS
    if api_version < 5:
        caps &= ~CAP_DEDUP_GOLOMB
    if api_version < 4:
        caps &= ~CAP_RANS_LONG_SEGMENTS
    if api_version < 3:
        caps &= ~CAP_DEDUP_STEP
    return caps


def _load():
    global _lib, _lib_path, _lib_caps
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        errors = []
        for path in library_candidates():
            if not os.path.exists(path):
                errors.append(f"{path}: no such file")
                continue
            try:
                lib = ctypes.CDLL(path)
            except OSError as e:  # e.g. a sanitizer build
                errors.append(f"{path}: {e}")
                continue
            _declare(lib)
            if lib.squeeze_api_version() < API_VERSION:
                errors.append(f"{path}: C API version {lib.squeeze_api_version()} < {API_VERSION}")
                continue
            _lib, _lib_path = lib, path
            _lib_caps = _caps_known(lib.squeeze_api_version())
            return lib
        raise LibraryNotFound("libsqueeze_c.so not found (build it: cmake --build build --target "
                              "squeeze_c, or set SQUEEZE_C_LIB)" +
                              (": " + "; ".join(errors) if errors else ""))


def _declare(lib) -> None:
    c = ctypes
    vp, sz, psz = c.c_void_p, c.c_size_t, c.POINTER(c.c_size_t)
    sigs = {
        "squeeze_api_version": (c.c_int, []),
        "squeeze_status_string": (c.c_char_p, [c.c_int]),
        "squeeze_last_reject_reason": (c.c_char_p, []),
        "squeeze_codec_backend": (c.c_char_p, []),
        "squeeze_params_default": (c.c_int, [c.POINTER(_Params)]),
        "squeeze_class_bound": (c.c_double, [c.c_uint64, c.c_double]),
        "squeeze_schedule_factor": (c.c_double, [c.c_uint32, c.c_uint64, c.c_uint64, c.c_double]),
        "squeeze_layout_placement": (c.c_int, [c.POINTER(c.c_uint32), c.c_uint32, c.c_uint32,
                                               c.c_uint32]),
        "squeeze_max_frame_bytes": (sz, [sz]),
        "squeeze_compress": (c.c_int, [c.POINTER(_Params), vp, sz, vp, sz, psz,
                                       c.POINTER(_Stats)]),
        "squeeze_decompress": (c.c_int, [vp, sz, vp, sz, psz]),
        "squeeze_frame_info": (c.c_int, [vp, sz, c.POINTER(_Info)]),
        "squeeze_stream_encoder_create": (c.c_int, [sz, c.POINTER(vp)]),
        "squeeze_stream_encoder_destroy": (None, [vp]),
        "squeeze_stream_compress": (c.c_int, [vp, c.POINTER(_Params), vp, sz, vp, sz, psz,
                                              c.POINTER(_Stats)]),
        "squeeze_stream_decoder_create": (c.c_int, [sz, c.POINTER(vp)]),
        "squeeze_stream_decoder_destroy": (None, [vp]),
        "squeeze_stream_decompress": (c.c_int, [vp, vp, sz, vp, sz, psz]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = args


def available() -> bool:
    """True when libsqueeze_c.so can be loaded."""
    try:
        _load()
        return True
    except LibraryNotFound:
        return False


def library_path() -> str:
    _load()
    return str(_lib_path)


def backend() -> str:
    """The CPU kernel set the codec dispatched to ("avx512", "avx2", "scalar")."""
    return _load().squeeze_codec_backend().decode()


def status_string(status: int) -> str:
    return _load().squeeze_status_string(int(status)).decode()


def max_frame_bytes(input_bytes: int) -> int:
    """A capacity that always suffices for a frame of input_bytes (header + input)."""
    return int(_load().squeeze_max_frame_bytes(int(input_bytes)))


# ---- inputs ------------------------------------------------------------------------------------

def _dtype_of(data, dtype: Optional[str]) -> str:
    if dtype is not None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}")
        return dtype
    if isinstance(data, np.ndarray):
        if data.dtype == np.float32:
            return "f32"
        if data.dtype == np.float16:
            return "f16"
        if getattr(data.dtype, "name", "") == "bfloat16":  # ml_dtypes
            return "bf16"
        ints = {np.dtype(np.int8): "i8", np.dtype(np.uint8): "u8", np.dtype(np.int32): "i32",
                np.dtype(np.uint32): "u32", np.dtype(np.int64): "i64", np.dtype(np.uint64): "u64"}
        if data.dtype in ints:
            return ints[data.dtype]  # never lossy; compressed by mode="lossless"
    return "bytes"  # float64, raw bytes: bit-exact


def _as_buffer(data: BytesLike) -> Tuple[object, int, int]:
    """(object keeping the memory alive, address, size in bytes) of a readable buffer."""
    if isinstance(data, np.ndarray):
        a = np.ascontiguousarray(data)
        return a, a.ctypes.data if a.nbytes else 0, int(a.nbytes)
    a = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    return a, a.ctypes.data if a.nbytes else 0, int(a.nbytes)


def _params(mode: str, bound: float, caps: int, dtype: str,
            layout: Optional[Layout] = None) -> _Params:
    """The C parameters; with a layout, its arrays stay alive as attributes of the result."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}")
    p = _Params()
    p.size = ctypes.sizeof(_Params)
    p.dtype = DTYPES[dtype]
    p.mode = MODES[mode]
    # Only the bits the loaded library knows (_lib_caps): a receiver's bits say what it decodes,
    # so fewer is always valid.
    _load()
    p.caps = int(caps) & _lib_caps
    p.bound = float(bound)
    if layout is not None:
        cols = (ctypes.c_uint32 * len(layout.cols))(*[int(c) for c in layout.cols])
        p.row_elems = layout.row_elems
        p.start_col = int(layout.start_col)
        p.n_tables = len(layout.cols)
        p.table_cols = cols
        p._keep = [cols]
        if layout.bounds is not None:
            if len(layout.bounds) != len(layout.cols):
                raise ValueError("a layout needs one bound per table")
            bounds = (ctypes.c_double * len(layout.bounds))(*[float(b) for b in layout.bounds])
            p.table_bounds = bounds
            p._keep.append(bounds)
    return p


def _stats(s: _Stats) -> FrameStats:
    return FrameStats(**{name: getattr(s, name) for name, _ in _Stats._fields_})


def _check(status: int, what: str) -> None:
    if status != OK:
        reason = _load().squeeze_last_reject_reason().decode()
        raise SqueezeError(status, what, reason)


# ---- bounds per table and per iteration (the library's single definition) ----------------------

SCHEDULES = {"constant": 0, "step": 1, "linear": 2}


def class_bound(rows: int, bound: float) -> float:
    """The bound of a table of ``rows`` rows from its class (the SC'24 paper's rule: >= 10^5 rows
    ``bound``, <= 10^3 rows 5x, others and unknown (0) 3x)."""
    return float(_load().squeeze_class_bound(int(rows), float(bound)))


def schedule_factor(kind: str, iteration: int, early_iters: int = 65536,
                    start: float = 2.0) -> float:
    """The bound's factor at ``iteration`` of a schedule ("constant", "step": the paper's, from
    ``start`` down to 1 at ``early_iters`` in 10 steps, "linear")."""
    if kind not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}")
    return float(_load().squeeze_schedule_factor(SCHEDULES[kind], int(iteration),
                                                  int(early_iters), float(start)))


def layout_placement(cols: Sequence[int], itemsize: int, mode: str) -> str:
    """Where the plugin can use a layout of these widths for frames of ``itemsize``-byte
    elements in ``mode`` (squeeze::layout_placement): "tables", "vectors" or "none"."""
    arr = (ctypes.c_uint32 * len(cols))(*[int(c) for c in cols])
    r = _load().squeeze_layout_placement(arr, len(cols), int(itemsize), MODES[mode])
    if r < 0:
        raise ValueError("invalid layout widths or element size")
    return ("none", "tables", "vectors")[r]


# ---- one frame ---------------------------------------------------------------------------------

def compress(data: BytesLike, mode: str = DEFAULT_MODE, bound: float = DEFAULT_LOCAL_BOUND,
             caps: int = CAPS_ALL, dtype: Optional[str] = None, with_stats: bool = False,
             layout: Optional[Layout] = None):
    """One frame of ``data`` (a numpy array or bytes-like). ``dtype`` defaults to the array's
    (float32 "f32", float16 "f16", an ml_dtypes bfloat16 "bf16"; anything else "bytes", which is
    bit-exact); pass "bf16" for bfloat16 bits held in a uint16 array. Returns the frame as bytes,
    or ``(frame, FrameStats)`` with ``with_stats``. A single frame never uses the stream history
    (use StreamEncoder). ``layout``: the rows the data is made of (Layout)."""
    lib = _load()
    dt = _dtype_of(data, dtype)
    keep, addr, n = _as_buffer(data)
    cap = max_frame_bytes(n)
    out = np.empty(max(cap, 1), dtype=np.uint8)
    p = _params(mode, bound, caps & ~CAP_HISTORY, dt, layout)
    fb = ctypes.c_size_t(0)
    st = _Stats()
    _check(lib.squeeze_compress(ctypes.byref(p), addr or None, n, out.ctypes.data, cap,
                                ctypes.byref(fb), ctypes.byref(st)), "compress")
    del keep
    frame = out[:fb.value].tobytes()
    return (frame, _stats(st)) if with_stats else frame


def frame_info(frame: BytesLike) -> FrameInfo:
    """The frame's header, validated."""
    lib = _load()
    keep, addr, n = _as_buffer(frame)
    if n == 0:
        raise SqueezeError(TRUNCATED_FRAME, "frame_info")
    info = _Info()
    _check(lib.squeeze_frame_info(addr, n, ctypes.byref(info)), "frame_info")
    del keep
    return FrameInfo(original_bytes=info.original_bytes, frame_bytes=info.frame_bytes,
                     applied_bound=info.applied_bound, method=info.method, version=info.version,
                     dtype=DTYPE_NAMES.get(info.dtype, "bytes"), outliers=info.outliers,
                     quant=info.quant, coder=info.coder, dedup=info.dedup)


def _numpy_dtype(name: str):
    return {"f32": np.float32, "f16": np.float16, "bf16": np.uint16, "bytes": np.uint8,
            "i8": np.int8, "u8": np.uint8, "i32": np.int32, "u32": np.uint32, "i64": np.int64,
            "u64": np.uint64}[name]


def decompress_into(frame: BytesLike, out: np.ndarray) -> int:
    """Decodes one frame into the contiguous array ``out``; returns the original byte count."""
    lib = _load()
    if not (isinstance(out, np.ndarray) and out.flags.c_contiguous and out.flags.writeable):
        raise ValueError("out must be a writeable C-contiguous numpy array")
    keep, addr, n = _as_buffer(frame)
    if n == 0:
        raise SqueezeError(TRUNCATED_FRAME, "decompress")
    got = ctypes.c_size_t(0)
    _check(lib.squeeze_decompress(addr, n, out.ctypes.data if out.nbytes else None,
                                  int(out.nbytes), ctypes.byref(got)), "decompress")
    del keep
    return int(got.value)


def decompress(frame: BytesLike) -> bytes:
    """The original bytes of one frame."""
    info = frame_info(frame)
    out = np.empty(info.original_bytes, dtype=np.uint8)
    decompress_into(frame, out)
    return out.tobytes()


def decompress_array(frame: BytesLike, dtype=None) -> np.ndarray:
    """The frame's elements as a 1-D array: float32 / float16 / uint16 (bf16 bits) / uint8 by the
    frame's dtype, or ``dtype`` (a numpy dtype whose size divides the original size)."""
    info = frame_info(frame)
    dt = np.dtype(dtype) if dtype is not None else np.dtype(_numpy_dtype(info.dtype))
    if info.original_bytes % dt.itemsize:
        raise ValueError(f"{info.original_bytes} bytes are not a whole number of {dt}")
    out = np.empty(info.original_bytes // dt.itemsize, dtype=dt)
    decompress_into(frame, out)
    return out


def round_trip(x: np.ndarray, mode: str = DEFAULT_MODE, bound: float = DEFAULT_LOCAL_BOUND,
               caps: int = CAPS_ALL, dtype: Optional[str] = None,
               with_stats: bool = False, layout: Optional[Layout] = None):
    """``x`` compressed into one frame and decoded: an array of x's shape and dtype (what the
    receiver of that frame gets); with ``with_stats``, ``(array, FrameStats)``."""
    x = np.ascontiguousarray(x)
    frame, st = compress(x, mode, bound, caps, dtype, with_stats=True, layout=layout)
    y = np.empty_like(x)
    decompress_into(frame, y)
    return (y, st) if with_stats else y


# ---- streams -----------------------------------------------------------------------------------

class _NativeHandle:
    """A handle of libsqueeze_c freed by close(), on leaving a with block, or when collected.
    Subclasses set self._lib and self._h and name their destroy function in _DESTROY."""

    _DESTROY = ""

    def close(self) -> None:
        if getattr(self, "_h", None) is not None:
            getattr(self._lib, self._DESTROY)(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class StreamEncoder(_NativeHandle):
    """The frames of one connection, in order, as the plugin's host path compresses them: with
    CAP_HISTORY a frame may refer to units of the last ``window_bytes`` of earlier input."""

    _DESTROY = "squeeze_stream_encoder_destroy"

    def __init__(self, window_bytes: int = DEFAULT_WINDOW_BYTES):
        lib = _load()
        h = ctypes.c_void_p()
        _check(lib.squeeze_stream_encoder_create(int(window_bytes), ctypes.byref(h)),
               "stream_encoder_create")
        self._lib, self._h = lib, h

    def compress(self, data: BytesLike, mode: str = DEFAULT_MODE,
                 bound: float = DEFAULT_LOCAL_BOUND, caps: int = CAPS_ALL,
                 dtype: Optional[str] = None, with_stats: bool = False,
                 layout: Optional[Layout] = None):
        if self._h is None:
            raise ValueError("closed StreamEncoder")
        dt = _dtype_of(data, dtype)
        keep, addr, n = _as_buffer(data)
        cap = max_frame_bytes(n)
        out = np.empty(max(cap, 1), dtype=np.uint8)
        p = _params(mode, bound, caps, dt, layout)
        fb = ctypes.c_size_t(0)
        st = _Stats()
        _check(self._lib.squeeze_stream_compress(self._h, ctypes.byref(p), addr or None, n,
                                                 out.ctypes.data, cap, ctypes.byref(fb),
                                                 ctypes.byref(st)), "stream_compress")
        del keep
        frame = out[:fb.value].tobytes()
        return (frame, _stats(st)) if with_stats else frame



class StreamDecoder(_NativeHandle):
    """Decodes the frames of one StreamEncoder, every one, in order, with the same window."""

    _DESTROY = "squeeze_stream_decoder_destroy"

    def __init__(self, window_bytes: int = DEFAULT_WINDOW_BYTES):
        lib = _load()
        h = ctypes.c_void_p()
        _check(lib.squeeze_stream_decoder_create(int(window_bytes), ctypes.byref(h)),
               "stream_decoder_create")
        self._lib, self._h = lib, h

    def decompress_into(self, frame: BytesLike, out: np.ndarray) -> int:
        if self._h is None:
            raise ValueError("closed StreamDecoder")
        if not (isinstance(out, np.ndarray) and out.flags.c_contiguous and out.flags.writeable):
            raise ValueError("out must be a writeable C-contiguous numpy array")
        keep, addr, n = _as_buffer(frame)
        if n == 0:
            raise SqueezeError(TRUNCATED_FRAME, "stream_decompress")
        got = ctypes.c_size_t(0)
        _check(self._lib.squeeze_stream_decompress(self._h, addr, n,
                                                   out.ctypes.data if out.nbytes else None,
                                                   int(out.nbytes), ctypes.byref(got)),
               "stream_decompress")
        del keep
        return int(got.value)

    def decompress(self, frame: BytesLike) -> bytes:
        out = np.empty(frame_info(frame).original_bytes, dtype=np.uint8)
        self.decompress_into(frame, out)
        return out.tobytes()

