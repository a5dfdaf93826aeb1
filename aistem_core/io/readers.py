"""Reading images from disk: ``.npy``/``.npz`` (with the project's ``.json`` sidecar), and every microscope format
RosettaSciIO reads that can hold a 2-D real-space image (DigitalMicrograph, EMD, TIA, MRC, TIFF, HyperSpy, blockfile,
PNG/JPEG).

This is the core's only file edge; the analysis functions take arrays. Reading imports no TensorFlow.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .signals import ANALYSABLE, SignalInfo, choose_signal, classify, describe, detector_of

__all__ = [
    "RSCIIO_FORMATS",
    "SUPPORTED_SUFFIXES",
    "ImageData",
    "list_signals",
    "parse_frames",
    "read_frames",
    "read_image",
]

#: File suffix → RosettaSciIO plugin module (``rsciio.<module>``).
RSCIIO_FORMATS = {
    ".dm3": "digitalmicrograph",
    ".dm4": "digitalmicrograph",
    ".emd": "emd",
    ".ser": "tia",
    ".emi": "tia",
    ".mrc": "mrc",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".hspy": "hspy",
    ".hdf5": "hspy",
    ".zspy": "zspy",
    ".blo": "blockfile",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".bmp": "image",
}
SUPPORTED_SUFFIXES = (".npy", ".npz", *RSCIIO_FORMATS)
#: Extra reader arguments per plugin: every frame of a Velox stack, not their sum.
_READER_KW = {"emd": {"sum_frames": False}}
_LABELS = {
    "digitalmicrograph": "DigitalMicrograph",
    "tiff": "TIFF",
    "tia": "TIA",
    "mrc": "MRC",
    "emd": "EMD",
    "hspy": "HyperSpy",
    "zspy": "HyperSpy",
    "blockfile": "blockfile",
    "image": "image",
}
#: Plugins that compute a dask array even when not lazy.
_DASK_READERS = {"mrc"}
#: Array names of an ``.npz`` that hold the image, in order of preference.
_NPZ_IMAGE_KEYS = ("frames", "image", "images", "data")


@dataclass
class ImageData:
    """Frames read from a file.

    Attributes
    ----------
    frames : ndarray of shape (N, rows, cols)
        The image(s), as stored (dtype kept; an RGB image with equal channels becomes grey).
    pixel_size : float or None
        [Å/px], from the file's metadata when it has one.
    source : str
        The file.
    meta : dict
        ``signal`` (index), ``title``, ``detector``, ``kind``, ``n_frames`` (frames in the signal) and
        ``frame_indices`` (which of them ``frames`` holds).
    signal : SignalInfo, optional
        The signal read.
    """

    frames: np.ndarray
    pixel_size: float | None
    source: str
    meta: dict[str, Any] = field(default_factory=dict)
    signal: SignalInfo | None = None


@dataclass
class _Signal:
    info: SignalInfo
    data: Any  # ndarray or dask array, navigation axes first


# ----------------------------------------------------------------------------------------------------------- numpy


def _sidecar_pixel_size(path: Path) -> float | None:
    """The pixel size [Å/px] in ``<stem>.json`` beside the file (what ``aistem simulate scene`` writes)."""
    side = path.with_suffix(".json")
    if not side.is_file():
        return None
    try:
        px = json.loads(side.read_text(encoding="utf-8")).get("pixel_size")
        return float(px) if px is not None and float(px) > 0 else None
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"could not read the pixel size from {side.name}: {exc}") from exc


def _numpy_signal(index: int, title: str, data: np.ndarray, px: float | None, note: str = "") -> _Signal:
    data = _grey(data, rgb_last=data.ndim == 3 and data.shape[-1] in (3, 4) and data.shape[-2] > 4)
    shape = tuple(int(n) for n in data.shape)
    if data.dtype.kind not in "uifb" and data.dtype.names is None:
        kind, note = "other", f"values of type {data.dtype}"
    else:
        kind = {2: "image", 3: "stack"}.get(data.ndim, "other")
    if kind == "other" and not note:
        note = f"an array of shape {shape}: expected a 2-D image or a stack (frames, rows, cols)"
    if kind in ANALYSABLE and px is None:
        note = note or "no pixel size in the file"
    return _Signal(SignalInfo(index, title, kind, shape, px if kind in ANALYSABLE else None, None, note=note), data)


def _check_npy_size(path: Path) -> None:
    """ValueError unless the ``.npy`` file holds as many bytes as its header claims (checked before allocating)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        fmt = np.lib.format
        read = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
        if read is None:  # a newer format: np.load checks it
            return
        shape, _, dtype = read(f)
        offset = f.tell()
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = path.stat().st_size - offset
    if need > have:
        raise ValueError(
            f"could not read {path}: its header claims shape {tuple(shape)} of {dtype} ({need / 2**30:.3g} GiB) "
            f"but the file holds {have} bytes of data"
        )


def _open_numpy(path: Path) -> list[_Signal]:
    try:
        if path.suffix.lower() == ".npy":
            _check_npy_size(path)
            return [_numpy_signal(0, path.stem, np.load(path, allow_pickle=False), _sidecar_pixel_size(path))]
        with np.load(path, allow_pickle=False) as z:
            px = float(z["pixel_size"]) if "pixel_size" in z.files else _sidecar_pixel_size(path)
            keys = [k for k in _NPZ_IMAGE_KEYS if k in z.files] + [k for k in z.files if k not in _NPZ_IMAGE_KEYS]
            arrays = [(k, z[k]) for k in keys if z[k].ndim >= 2]
    except (OSError, EOFError, ValueError, MemoryError) as exc:
        if "its header claims" in str(exc):
            raise
        raise ValueError(f"could not read {path}: {type(exc).__name__ if isinstance(exc, MemoryError) else exc}") from exc
    if not arrays:
        raise ValueError(f"{path} holds no 2-D image or stack (keys: {keys})")
    return [_numpy_signal(i, k, a, px) for i, (k, a) in enumerate(arrays)]


# --------------------------------------------------------------------------------------------------------- colour


def _grey(data: Any, rgb_last: bool = False) -> Any:
    """An RGB(A) image (structured dtype, or a last axis of 3–4 channels) with equal channels → its one channel.

    Raises
    ------
    ValueError
        For a colour image whose channels differ.
    """
    names = getattr(getattr(data, "dtype", None), "names", None)
    if names and set(names) >= {"R", "G", "B"}:
        arr = np.asarray(data)
        channels = [arr[n] for n in ("R", "G", "B")]
    elif rgb_last:
        arr = np.asarray(data)
        channels = [arr[..., i] for i in range(3)]
    else:
        return data
    if not all(np.array_equal(channels[0], c) for c in channels[1:]):
        raise ValueError("a colour (RGB) image whose channels differ: AI-STEM needs a greyscale HAADF image")
    return np.ascontiguousarray(channels[0])


# -------------------------------------------------------------------------------------------------------- rsciio


class _LazyDask(importlib.abc.MetaPathFinder):
    """While it sits first in ``sys.meta_path``: ``import dask.array`` gives a module that loads on first use, and
    ``import sparse`` fails.

    Some RosettaSciIO readers (DigitalMicrograph) import ``dask.array`` at module level for lazy reading only; with
    ``lazy=False`` they never touch it, and importing it costs ≈ 0.5 s (and dask imports ``sparse`` and numba, ≈ 1 s
    more, only to register its arrays, which only the Velox reader needs). Anything that later uses ``dask.array``
    loads it in full then.
    """

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name == "sparse" or name.startswith("sparse."):
            raise ImportError(f"{name} is not imported while a RosettaSciIO reader other than EMD starts")
        if name != "dask.array":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


@contextlib.contextmanager
def _light_dask(module: str) -> Iterator[None]:
    """While a reader other than EMD is imported and called, ``dask.array`` loads on first use, without ``sparse``
    (:class:`_LazyDask`)."""
    if module == "emd" or "dask.array" in sys.modules:
        yield
        return
    hook = _LazyDask()
    sys.meta_path.insert(0, hook)
    try:
        yield
    finally:
        sys.meta_path.remove(hook)


def _reader(module: str) -> Any:
    try:
        with _light_dask(module):
            return importlib.import_module(f"rsciio.{module}._api").file_reader
    except ImportError as exc:
        raise ValueError(f"reading this format needs RosettaSciIO: pip install 'aistem[io]' ({exc})") from exc


@contextlib.contextmanager
def _local_dask(module: str) -> Iterator[None]:
    """Readers that build a dask array and compute it (MRC, even when not lazy) do so in this thread: naming no
    scheduler makes dask import ``distributed`` to look for a client (≈ 1 s), and reading a file needs none."""
    if module not in _DASK_READERS and "dask" not in sys.modules:  # the reader does not use dask
        yield
        return
    import dask
    from dask.local import get_sync

    with dask.config.set(scheduler=get_sync):
        yield


def _units(module: str, path: Path) -> contextlib.AbstractContextManager[None]:
    """NCEM files are read without pint where their units are known (:mod:`.ncem_units`)."""
    if module != "emd":
        return contextlib.nullcontext()
    from .ncem_units import known_units

    return known_units(str(path))


def _call_reader(module: str, path: Path) -> list[dict[str, Any]]:
    reader = _reader(module)
    kw = dict(_READER_KW.get(module, {}))  # not lazy: a lazy reader keeps the file open after it returns
    try:
        with warnings.catch_warnings(), _light_dask(module), _local_dask(module), _units(module, path):
            # some readers (MRC) leave their file object to the garbage collector: it closes here, unremarked
            warnings.simplefilter("ignore", ResourceWarning)
            sigs = list(reader(str(path), **kw))
            for s in sigs:
                if isinstance(s.get("data"), np.memmap):
                    s["data"] = np.array(s["data"])
            if module == "mrc":
                gc.collect()
            return sigs
    except ImportError as exc:
        raise ValueError(f"reading {path.name} needs the package {exc.name!r}: pip install 'aistem[io]'") from exc
    except Exception as exc:  # the readers raise many kinds of errors on bad files
        raise ValueError(f"could not read {_LABELS.get(module, module)} {path}: {exc}") from exc


def _tia_object_info(path: Path) -> dict[str, Any]:
    """The ``ObjectInfo`` (microscope mode, camera) of a TIA ``.ser`` from its ``.emi`` beside it, else {}."""
    emi = path.with_name(path.stem.rsplit("_", 1)[0] + ".emi")
    if path.suffix.lower() != ".ser" or not emi.is_file():
        return {}
    try:
        for sig in _reader("tia")(str(emi)):
            if (sig.get("metadata", {}).get("General", {}) or {}).get("original_filename") == path.name:
                return dict(sig.get("original_metadata", {}).get("ObjectInfo", {}) or {})
    except Exception:  # the .emi only adds the mode; the .ser reads without it
        return {}
    return {}


def _open_rsciio(path: Path) -> list[_Signal]:
    module = RSCIIO_FORMATS[path.suffix.lower()]
    sigs = _call_reader(module, path)
    if module == "tia":
        info = _tia_object_info(path)
        for s in sigs:
            if info and "ObjectInfo" not in (s.get("original_metadata") or {}):
                s.setdefault("original_metadata", {})["ObjectInfo"] = info
    out = []
    for i, s in enumerate(sigs):
        data = s["data"]
        title = str((s.get("metadata", {}).get("General", {}) or {}).get("title") or "")
        try:
            data = _grey(data)
        except ValueError as exc:
            out.append(_Signal(SignalInfo(i, title, "other", tuple(data.shape), None, note=str(exc)), data))
            continue
        shape = tuple(int(n) for n in data.shape)
        kind, px, note = classify(s, shape)
        if module == "tiff" and kind in ANALYSABLE and px is None:
            from .tiff_fallback import tiff_pixel_size

            px = tiff_pixel_size(path)
            note = "" if px is not None else note
        out.append(_Signal(SignalInfo(i, title, kind, shape, px, detector_of(s), note=note), data))
    if not out:
        raise ValueError(f"{path} holds no signal")
    return out


def _open_picture(path: Path) -> list[_Signal]:
    """PNG, JPEG, BMP with Pillow (RosettaSciIO's image reader leaves JPEG files open): no pixel size in them."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            data = np.array(im.convert("RGB") if im.mode in ("P", "CMYK", "YCbCr", "LA", "PA") else im)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ValueError(f"could not read image {path}: {exc}") from exc
    try:
        grey = _grey(data, rgb_last=data.ndim == 3)
    except ValueError as exc:
        return [_Signal(SignalInfo(0, path.stem, "other", tuple(data.shape[:2]), None, note=str(exc)), data)]
    note = "no pixel size in the file: give --pixel-size"
    return [_Signal(SignalInfo(0, path.stem, "image", tuple(grey.shape), None, note=note), grey)]


def _open(path: str | Path) -> tuple[Path, list[_Signal]]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such image file: {p}")
    suffix = p.suffix.lower()
    if suffix in (".npy", ".npz"):
        return p, _open_numpy(p)
    if RSCIIO_FORMATS.get(suffix) == "image":
        return p, _open_picture(p)
    if suffix in RSCIIO_FORMATS:
        if suffix in (".tif", ".tiff") and importlib.util.find_spec("rsciio") is None:
            from .tiff_fallback import open_tiff

            return p, [_Signal(info, data) for info, data in open_tiff(p)]
        return p, _open_rsciio(p)
    raise ValueError(f"unsupported image format {suffix!r} ({p.name}): use one of {', '.join(SUPPORTED_SUFFIXES)}")


# --------------------------------------------------------------------------------------------------------- public


def list_signals(path: str | Path, signal: str | int | None = None) -> list[SignalInfo]:
    """Every signal in a file, with the one ``analyze`` would use marked ``selected`` (none when none fits).

    Raises
    ------
    FileNotFoundError, ValueError
        For a missing, unsupported or unreadable file, or a ``signal`` that is not in it.
    """
    _, sigs = _open(path)
    infos = [s.info for s in sigs]
    try:
        choose_signal(infos, signal).selected = True
    except ValueError:
        if signal is not None:
            raise
    return infos


def parse_frames(spec: str | int | None, n: int) -> list[int]:
    """Frame indices from ``all``, ``N`` (negative counts from the end) or ``A:B`` (A to B−1, as in Python).

    Raises
    ------
    ValueError
        For a malformed spec or frames the signal does not have (it has ``n``).
    """
    s = "0" if spec is None else str(spec).strip().lower()
    try:
        if s == "all":
            return list(range(n))
        if ":" in s:
            a, _, b = s.partition(":")
            idx = list(range(n))[slice(int(a) if a else None, int(b) if b else None)]
            if not idx:
                raise IndexError
            return idx
        k = int(s)
        if not -n <= k < n:
            raise ValueError(f"frame {k} does not exist: the signal has {n} frame(s), 0–{n - 1}")
        return [k % n]
    except ValueError as exc:
        if "does not exist" in str(exc):
            raise
        raise ValueError(f"--frames {spec!r}: give all, a frame number N, or a range A:B (frames A to B−1)") from None
    except IndexError:
        raise ValueError(f"frame(s) {spec} do not exist: the signal has {n} frame(s), 0–{n - 1}") from None


def read_frames(path: str | Path, signal: str | int | None = None, frames: str | int | list[int] | None = "all") -> ImageData:
    """Read the frames of one signal of a file (default: the HAADF/ADF/DF image, else the first real-space one).

    Parameters
    ----------
    path : path
    signal : str or int, optional
        Index or title (or detector name) of the signal; see :func:`list_signals`.
    frames : str, int or list of int
        ``"all"`` (default), a frame number, ``"A:B"``, or a list of indices (:func:`parse_frames`).

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        For an unsupported or unreadable file, a signal that is not a real-space image (saying what it is), or
        frames that do not exist.
    """
    p, sigs = _open(path)
    info = choose_signal([s.info for s in sigs], signal)
    info.selected = True
    data = sigs[info.index].data
    n = int(data.shape[0]) if info.kind == "stack" else 1
    if isinstance(frames, list):
        bad = [k for k in frames if not -n <= int(k) < n]
        if bad:
            raise ValueError(f"frame {bad[0]} does not exist: the signal has {n} frame(s), 0–{n - 1}")
        idx = [int(k) % n for k in frames]
    else:
        idx = parse_frames(frames, n)
    arr = np.asarray(data[idx]) if info.kind == "stack" else np.asarray(data)[None]
    meta = {
        "signal": info.index,
        "title": info.title,
        "detector": info.detector,
        "kind": info.kind,
        "n_frames": n,
        "frame_indices": idx,
        "description": describe(info),
    }
    return ImageData(arr, info.pixel_size, str(p), meta, info)


def read_image(path: str | Path, frame: int = 0, signal: str | int | None = None) -> ImageData:
    """Read one frame (default the first) of a file; ``frames`` then has shape (1, rows, cols)."""
    return read_frames(path, signal, [int(frame)] if isinstance(frame, int | np.integer) else frame)
