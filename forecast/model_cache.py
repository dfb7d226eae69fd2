"""The compiled model on disk: nutpie's machine code, kept between processes.

nutpie turns the PyMC model's log density (and its gradient) into machine code through
numba, and numba compiles it anew in every process: about 11 s of CPU for the bundled
example, against 0.5 s of sampling. This module keeps that machine code in a user cache
directory and loads it in later processes in a few hundredths of a second.

What is kept is numba's own object code of nutpie's two C callbacks (the log density
with its gradient, and the map to the stored draws): the bytes numba's JIT produced in
the compiling process (numba captures the object the JIT emits), so a process that loads
them runs the very instructions of the process that compiled them, and the same seed
gives the same draws cold or warm. The rest of nutpie's compiled model (the data
pointers, the chains' starting points) is rebuilt in every process from the model's data
and what the entry records, in one way whether the code was compiled or loaded
(:func:`compile_model`): a process that loads the code builds no PyMC model and does not
even import PyMC.

Safety:

- **Keyed** by everything that shapes the compiled code (:func:`model_key`): the model's
  structure and padded sizes, the source of the modules that build the graph
  (``model.py``, ``diagnostics.py``), the versions of Python, PyMC, PyTensor, nutpie,
  numba, llvmlite, NumPy and SciPy, the CPU as LLVM targets it, every ``NUMBA_*`` and
  ``PYTENSOR*`` environment variable and the contents of PyTensor's and numba's
  configuration files (``~/.pytensorrc``, ``.numba_config.yaml``).
- **Where**: ``$FORECAST_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/scenario-forecast``,
  else ``~/.cache/scenario-forecast``; ``FORECAST_CACHE=0`` turns it off. A directory
  that is not the user's own, or that others may write to, is not used (it holds code
  that runs).
- **Written atomically** (a temporary file renamed into place); at most
  :data:`MAX_ENTRIES` files are kept (the least recently used go).
- **Never needed**: an entry that is missing, truncated, corrupt (SHA-256 of every part),
  for another key, that names a symbol this process cannot resolve, or whose code does
  not reproduce the log density and gradient it recorded at a fixed test point, is
  ignored and the model is compiled again (and the entry rewritten). Failing to write
  only costs the next process the compile. The draws are the same either way.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import platform
import stat
import struct
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ._files import write_atomically

__all__ = ["MAX_ENTRIES", "cache_dir", "compile_model", "model_key"]

FORMAT = 1  # the entry file's layout; part of the key
MAGIC = b"scenario-forecast compiled model\n"
MAX_ENTRIES = 64  # files kept in the cache directory (the least recently used go first)
_SOURCES = ("model.py", "diagnostics.py")  # the modules whose code builds the graph
_PACKAGES = ("pymc", "pytensor", "nutpie", "numba", "llvmlite", "numpy", "scipy")
_LOG = logging.getLogger("forecast.model_cache")
_LOCK = threading.Lock()
# machine code already in this process (compiled or loaded), by key: read and checked once a process
_LOADED: dict[str, tuple[Any, Any]] = {}


class _Unusable(Exception):
    """An entry that cannot be used (this process recompiles)."""


# --------------------------------------------------------------------------- where and what


def cache_dir() -> Path | None:
    """The directory of compiled models, or None when ``FORECAST_CACHE=0`` turns the cache off.

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"FORECAST_CACHE": "1", "FORECAST_CACHE_DIR": "/tmp/models"}):
    ...     str(cache_dir())
    '/tmp/models'
    >>> with mock.patch.dict(os.environ, {"FORECAST_CACHE": "0"}):
    ...     print(cache_dir())
    None
    """
    if os.environ.get("FORECAST_CACHE", "1").strip().lower() in {"0", "false", "no", "off"}:
        return None
    override = os.environ.get("FORECAST_CACHE_DIR", "").strip()
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    if base and Path(base).is_absolute():
        return Path(base) / "scenario-forecast"
    try:
        return Path.home() / ".cache" / "scenario-forecast"
    except RuntimeError:  # no home directory: no cache
        return None


def _usable_dir(create: bool) -> Path | None:
    """The cache directory if it is the user's own and only the user may write to it."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        if create:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        _LOG.debug("compiled-model cache %s is not private to this user: not used", folder)
        return None
    return folder


def _versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _config_files() -> list[list[str]]:
    """The configuration files PyTensor and numba read (they can change the compiled code): path, SHA-256."""
    paths = os.environ.get("PYTENSORRC", "~/.pytensorrc" + os.pathsep + "~/.pytensorrc.txt").split(os.pathsep)
    out = []
    for path in [*(Path(p).expanduser() for p in paths if p), Path(".numba_config.yaml")]:
        with contextlib.suppress(OSError):
            out.append([str(path), hashlib.sha256(path.read_bytes()).hexdigest()])
    return out


def model_key(structure: Sequence[object], caps: dict[str, int], var_names: Iterable[str]) -> str:
    """SHA-256 (hex) of everything that shapes a model's compiled code (see the module docstring)."""
    from numba.core.registry import cpu_target

    here = Path(__file__).parent
    material = {
        "format": FORMAT,
        "structure": [str(s) for s in structure],
        "caps": sorted((str(k), int(v)) for k, v in caps.items()),
        "var_names": list(var_names),
        "source": {name: hashlib.sha256((here / name).read_bytes()).hexdigest() for name in _SOURCES},
        "python": [sys.version, sys.implementation.cache_tag, platform.machine(), sys.platform],
        "versions": _versions(),
        "codegen": [str(part) for part in cpu_target.target_context.codegen().magic_tuple()],
        "environment": sorted((k, v) for k, v in os.environ.items() if k.startswith(("NUMBA_", "PYTENSOR"))),
        "configuration": _config_files(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------- compiling or loading


def compile_model(build: Callable[[], Any], var_names: list[str], key: str, data: dict[str, np.ndarray],
                  announce: Callable[[str], None] | None = None) -> tuple[Any, str, list[str]]:
    """Nutpie's compiled model: its machine code loaded from the cache if it holds ``key``, else compiled.

    ``build()`` gives the PyMC model (called only to compile); ``data`` holds the model's
    data arrays by name. Returns the compiled model, how its code was obtained
    (``"reused"``: already in this process, ``"loaded"``: from disk, ``"compiled"``) and
    the names of the data it reads (what ``with_data`` takes). ``announce`` is told what is
    about to happen when it takes a while.

    However the code was obtained, the compiled model is assembled the same way
    (:func:`_assemble`), so that the draws never depend on the state of the cache.
    """
    with _LOCK:
        how = "reused" if key in _LOADED else "loaded"
        if key not in _LOADED:
            folder = _usable_dir(create=False)
            if announce is not None and folder is not None and _entry_path(folder, key).exists():
                announce("loading the compiled model from the cache")
            try:
                _LOADED[key] = _load(key)
            except _Unusable as why:
                _LOG.debug("compiled model %s not loaded: %s", key[:12], why)
            except Exception as why:  # noqa: BLE001 -- a cache must never break a fit
                _LOG.debug("compiled model %s not loaded: %r", key[:12], why)
        if key in _LOADED:
            meta, functions = _LOADED[key]
            try:
                return _assemble(meta, functions, data), how, [s[0] for s in meta["shared"]]
            except Exception as why:  # noqa: BLE001
                _LOG.debug("compiled model %s does not fit these data: %r", key[:12], why)
                del _LOADED[key]
        import nutpie

        if announce is not None:
            announce("compiling the model (once: later runs load it from the cache)"
                     if cache_dir() is not None else "compiling the model")
        model = build()
        compiled = nutpie.compile_pymc_model(model, var_names=var_names)
        functions = (compiled.compiled_logp_func, compiled.compiled_expand_func)
        meta = _meta(model, compiled)
        assembled = _assemble(meta, functions, data)
        _LOADED[key] = (meta, functions)
        try:
            _save(key, meta, functions)
        except Exception as why:  # noqa: BLE001 -- the next process compiles again
            _LOG.debug("compiled model %s not saved: %r", key[:12], why)
        return assembled, "compiled", [s[0] for s in meta["shared"]]


def _meta(model: Any, compiled: Any) -> dict[str, Any]:
    """What rebuilds nutpie's compiled model around the machine code, without PyMC (JSON-able)."""
    names = set(model.data_names)
    shared = []
    for var, key in compiled.shared_var_keys.items():  # the order of the data pointers the code reads
        if var.name not in names:
            raise RuntimeError(f"internal error: the compiled model reads {var.name!r}, which is not model data")
        shared.append([var.name, int(var.ndim), np.dtype(var.dtype).str, list(compiled.shared_data[key].shape)])
    all_names, slices, shapes = compiled.shape_info
    if any(not np.all(np.asarray(v) == 0) for v in model.initial_point().values()):
        raise RuntimeError("internal error: a free variable's support point is not 0 (see _initial_point)")
    return {
        "n_dim": int(compiled.n_dim), "n_expanded": int(compiled.n_expanded),
        "names": list(all_names), "slices": [[int(s.start), int(s.stop)] for s in slices],
        "shapes": [[int(n) for n in s] for s in shapes],
        "reparameterized": list(compiled.reparameterized_names or []), "shared": shared,
        "dims": {k: list(v) for k, v in (compiled.dims or {}).items()},
        "coords": {k: [v.item() if isinstance(v, np.generic) else v for v in index]
                   for k, index in (compiled.coords or {}).items()},
    }


class _Data:
    """A model data array's name and rank, as nutpie's compiled model reads them (``with_data`` goes by name)."""

    def __init__(self, name: str, ndim: int) -> None:
        self.name = name
        self.ndim = ndim


def _initial_point(n_dim: int) -> Callable[[int], np.ndarray]:
    """The chains' starting points: every coordinate uniform on [-1, 1], from the chain's seed.

    This is nutpie's default for this model (the support point, 0 for every free variable
    of :func:`forecast.model.build_model`, jittered by U(-1, 1)), written out so that a
    process that loaded the code needs no PyMC.
    """

    def initial(seed: int) -> np.ndarray:
        return np.random.default_rng(seed).uniform(-1.0, 1.0, n_dim)

    return initial


def _assemble(meta: dict[str, Any], functions: tuple[Any, Any], data: dict[str, np.ndarray]) -> Any:
    """Nutpie's ``CompiledPyMCModel`` around the compiled ``functions``, with ``data`` (as nutpie lays them out)."""
    import pandas as pd
    from nutpie.compile_pymc import CompiledPyMCModel, make_user_data

    keys: dict[Any, str] = {}
    shared: dict[str, np.ndarray] = {}
    for i, (name, ndim, dtype, shape) in enumerate(meta["shared"]):
        value = np.array(data[name], dtype=np.dtype(dtype), order="C", copy=True)
        if value.ndim != ndim or list(value.shape) != shape:
            raise _Unusable(f"model data {name} is not of shape {shape}")
        value.flags.writeable = False
        keys[_Data(name, ndim)] = f"shared{i}"
        shared[f"shared{i}"] = value
    shape_info = (list(meta["names"]), [slice(a, b) for a, b in meta["slices"]], [tuple(s) for s in meta["shapes"]])
    return CompiledPyMCModel(
        _n_dim=meta["n_dim"], dims={k: tuple(v) for k, v in meta["dims"].items()},
        _coords={k: pd.Index(v) for k, v in meta["coords"].items()},
        _shapes=dict(zip(shape_info[0], shape_info[2], strict=True)),
        compiled_logp_func=functions[0], compiled_expand_func=functions[1],
        initial_point_func=_initial_point(meta["n_dim"]), shared_data=shared, shared_var_keys=keys,
        user_data=make_user_data(keys, shared), n_expanded=meta["n_expanded"], shape_info=shape_info,
        logp_func=None, expand_func=None, reparameterized_names=list(meta["reparameterized"]))


# --------------------------------------------------------------------------- the self-test


def _self_test(address: int, meta: dict[str, Any]) -> bytes:
    """The log density and gradient the code at ``address`` gives at a fixed point on fixed data.

    Data: the model's shapes, every index 0 (always in range), every number 0.5; the
    point: evenly spaced in [-1, 1]. Returns the return code, the log density and the
    gradient as bytes.
    """
    from nutpie.compile_pymc import make_user_data

    keys: dict[Any, str] = {}
    shared: dict[str, np.ndarray] = {}
    for i, (_, ndim, dtype, shape) in enumerate(meta["shared"]):
        kind = np.dtype(dtype)
        keys[_Data(f"s{i}", ndim)] = f"s{i}"
        shared[f"s{i}"] = np.full(tuple(shape), 0 if kind.kind in "iub" else 0.5, dtype=kind)
    user_data = make_user_data(keys, shared)
    n = meta["n_dim"]
    x = np.linspace(-1.0, 1.0, n)
    grad = np.zeros(n)
    logp = np.zeros(())
    signature = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.c_void_p)
    code = signature(address)(n, x.ctypes.data, grad.ctypes.data, logp.ctypes.data, user_data.ctypes.data)
    return struct.pack("<q", int(code)) + logp.tobytes() + grad.tobytes()


# --------------------------------------------------------------------------- the entry file


def _entry_path(folder: Path, key: str) -> Path:
    return folder / f"nutpie-{key}.bin"


def _save(key: str, meta: dict[str, Any], functions: tuple[Any, Any]) -> None:
    """Write the entry of ``key`` (atomically); prune the directory to :data:`MAX_ENTRIES` files."""
    folder = _usable_dir(create=True)
    if folder is None:
        return
    blobs: list[bytes] = []
    libraries = []
    for function in functions:
        name, kind, (obj, shared_bitcode) = function._library.serialize_using_object_code()
        if kind != "object":
            raise _Unusable(f"numba serialised {kind!r}, not object code")
        _undefined_symbols(obj)  # an object this module can check on loading, or none at all
        libraries.append({"name": name, "symbol": function._wrapper_name})
        blobs += [obj, shared_bitcode]
    test = _self_test(functions[0].address, meta)
    header = {"format": FORMAT, "key": key, "meta": meta, "libraries": libraries,
              "test": hashlib.sha256(test).hexdigest(),
              "blobs": [{"size": len(b), "sha256": hashlib.sha256(b).hexdigest()} for b in blobs]}
    head = json.dumps(header, sort_keys=True).encode()
    write_atomically(_entry_path(folder, key), MAGIC + struct.pack("<Q", len(head)) + head + b"".join(blobs))
    _prune(folder)


def _prune(folder: Path) -> None:
    entries = []
    for path in folder.glob("nutpie-*.bin"):
        with contextlib.suppress(OSError):
            entries.append((path.stat().st_mtime, path))
    for _, path in sorted(entries, reverse=True)[MAX_ENTRIES:]:
        with contextlib.suppress(OSError):
            path.unlink()


def _read(key: str) -> tuple[dict[str, Any], list[bytes]]:
    folder = _usable_dir(create=False)
    if folder is None:
        raise _Unusable("no cache directory")
    path = _entry_path(folder, key)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as why:
        raise _Unusable(f"no entry ({why.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():  # (in a directory only the user may write)
            raise _Unusable("the entry is not the user's own regular file")
        data = handle.read()
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
        raise _Unusable("not an entry")
    (size,) = struct.unpack_from("<Q", data, len(MAGIC))
    start = len(MAGIC) + 8
    try:
        header = json.loads(data[start: start + size])
        specs = [(int(spec["size"]), str(spec["sha256"])) for spec in header["blobs"]]
        fits = header["format"] == FORMAT and header["key"] == key and len(header["libraries"]) == 2
    except (ValueError, KeyError, TypeError) as why:
        raise _Unusable(f"a corrupt header ({why})") from None
    if not fits:
        raise _Unusable("an entry for another key or format")
    blobs, offset = [], start + size
    for length, digest in specs:
        blob = data[offset: offset + length]
        if len(blob) != length or hashlib.sha256(blob).hexdigest() != digest:
            raise _Unusable("a corrupt entry")
        blobs.append(blob)
        offset += length
    if offset != len(data) or len(blobs) != 4:
        raise _Unusable("a corrupt entry")
    return header, blobs


class _Loaded:
    """Machine code loaded from the cache: the ``address`` nutpie calls, and its library kept alive."""

    def __init__(self, library: Any, symbol: str) -> None:
        self.library = library
        self.address = int(library.get_pointer_to_function(symbol))
        if not self.address:
            raise _Unusable(f"the entry defines no {symbol}")


def _load(key: str) -> tuple[dict[str, Any], tuple[Any, Any]]:
    import llvmlite.binding as llvm
    from numba.core.registry import cpu_target
    from numba.core.runtime import rtsys

    header, blobs = _read(key)
    context = cpu_target.target_context
    rtsys.initialize(context)  # numba's runtime (NRT) symbols: all a loaded object needs besides numba's helpers
    for obj in blobs[::2]:
        missing = [s for s in _undefined_symbols(obj) if llvm.address_of_symbol(s) is None]
        if missing:  # as numba's own cache loader: every registry (0.2 s), then look again
            context.refresh()
            missing = [s for s in missing if llvm.address_of_symbol(s) is None]
        if missing:  # LLVM would abort the process on an unresolved symbol: recompile instead
            raise _Unusable(f"unresolved symbols {missing[:5]}")
    codegen = context.codegen()
    loaded = []
    for spec, obj, bitcode in zip(header["libraries"], blobs[::2], blobs[1::2], strict=True):
        library = codegen.unserialize_library((spec["name"], "object", (obj, bitcode)))
        loaded.append(_Loaded(library, spec["symbol"]))
    meta = header["meta"]
    test = _self_test(loaded[0].address, meta)
    if hashlib.sha256(test).hexdigest() != header["test"]:
        raise _Unusable("the loaded code does not reproduce its recorded log density")
    return meta, (loaded[0], loaded[1])


def _undefined_symbols(obj: bytes) -> list[str]:
    """The external symbols an ELF64 (little-endian) object needs; anything else is refused."""
    if obj[:4] != b"\x7fELF" or obj[4:6] != b"\x02\x01":
        raise _Unusable("not an ELF64 little-endian object")
    (shoff,) = struct.unpack_from("<Q", obj, 0x28)
    entsize, count = struct.unpack_from("<HH", obj, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * entsize) for i in range(count)]
    names = set()
    for section in sections:
        if section[1] != 2:  # SHT_SYMTAB
            continue
        strings = sections[section[6]][4]  # the offset of its string table
        for j in range(section[5] // section[9]):
            name_at, _info, _other, shndx, _value, _size = struct.unpack_from("<IBBHQQ", obj, section[4] + j * section[9])
            if shndx == 0 and name_at:  # SHN_UNDEF
                begin = strings + name_at
                names.add(obj[begin: obj.index(b"\0", begin)].decode())
    return sorted(names)
