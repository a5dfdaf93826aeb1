"""The training set: simulate base images, augment them, compute descriptors, write one HDF5 file.

Work is split into *units*, one per (class, lattice constant).  Each finished
unit is saved atomically as ``<out>.partial/unit_NNNN.npz``; an interrupted run
(Ctrl-C, a killed process) resumes from the units already there when started
again with the same settings.  When all units are done they are assembled into
``<out>`` (written to a temporary name, then renamed) and the partial folder is
removed.

HDF5 layout
-----------
``descriptors``          (N, 64, 64) float32, FFT-HAADF descriptors
``labels``               (N,) int16, index into ``class_names``
``windows``              (N, 100, 100) float16, only with ``store_windows``
``meta/unit``            (N,) int16, base image (index into the ``units`` attribute)
``meta/lattice_delta``   (N,) float32 [Å]
``meta/rotation``        (N,) float32 [°], counter-clockwise
``meta/shear``           (N,) float32
``meta/augmentation``    (N,) int8, see the ``augmentation_codes`` attribute
``meta/sigma``           (N,) float32, blur [px]
``meta/variance``        (N,) float32, Gaussian-noise variance

Attributes: ``class_names`` (JSON list), ``units`` (JSON list of [class, delta [Å], element, a [Å], c [Å] or
null]), ``lattice_constants`` (JSON: class → {"a": [min, max], "c": [min, max]} [Å], "c" for hcp only; the
range each class was trained over),
``augmentation_codes`` (JSON), ``config`` (the full settings, JSON),
``config_digest``, ``pixel_size`` [Å/px], ``window`` [Å], ``window_px``,
``threshold``, ``descriptor_size``, ``code_version``, ``aistem_version``,
``haadf_version``, ``dataset_version``, ``created``, ``seconds``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .augment import PeriodicImage
from .base import simulate_class
from .config import simulation_settings
from .crystals import CLASS_NAMES, CLASSES, Material, check_class_name, class_material, parse_materials
from .haadf import HAADF_VERSION
from .recipe import AUGMENTATION_CODES, AugmentRecipe

__all__ = [
    "DATASET_VERSION",
    "DatasetPlan",
    "Unit",
    "code_version",
    "generate_dataset",
    "lattice_ranges",
    "plan_dataset",
    "read_dataset",
    "training_domain",
]

#: One base image: (class name, lattice delta [Å], material).
Unit = tuple[str, float, Material]

#: Bumped whenever the layout or the recipe's meaning changes.
DATASET_VERSION = 1

_META = ("unit", "lattice_delta", "rotation", "shear", "augmentation", "sigma", "variance")
_META_DTYPES = {
    "unit": np.int16,
    "lattice_delta": np.float32,
    "rotation": np.float32,
    "shear": np.float32,
    "augmentation": np.int8,
    "sigma": np.float32,
    "variance": np.float32,
}


def code_version() -> str:
    """``aistem <version>`` plus the git commit of the source tree when there is one (``+dirty`` if modified)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = f"aistem {version('aistem')}"
    except PackageNotFoundError:  # pragma: no cover
        v = "aistem unknown"
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "training", "config"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        if commit:
            v += f" (git {commit}{'+dirty' if dirty else ''})"
    except (OSError, subprocess.SubprocessError):
        pass
    return v


@dataclass(frozen=True)
class DatasetPlan:
    """What a dataset run makes.

    Attributes
    ----------
    units : list of (str, float, Material)
        (class name, lattice delta [Å], material) per base image, in order.
    recipe : AugmentRecipe
    config : dict
        Full settings.
    digest : str
        SHA-256 of the settings that determine the data (resume only continues a matching run).
    """

    units: list[Unit]
    recipe: AugmentRecipe
    config: dict[str, Any]
    digest: str

    @property
    def total(self) -> int:
        """Number of windows (descriptors)."""
        return len(self.units) * self.recipe.per_base


def plan_dataset(cfg: dict[str, Any]) -> DatasetPlan:
    """Units, recipe and settings digest of a configuration (see :func:`aistem.training.config.load_simulate_config`)."""
    d = cfg["dataset"]
    classes = list(d["classes"]) or list(CLASS_NAMES)
    for c in classes:
        check_class_name(c)
    deltas = [float(x) for x in d["lattice_deltas"]]
    if not deltas:
        raise ValueError("lattice_deltas must list at least one lattice-constant change [Å]")
    sim = cfg["simulation"]
    for key in ("cell_size", "thickness", "pixel_size", "sampling"):
        if not float(sim[key]) > 0:
            raise ValueError(f"simulation.{key} must be positive, got {sim[key]!r}")
    recipe = AugmentRecipe.from_config(cfg["augment"], float(sim["pixel_size"]))
    if recipe.window_px < int(d["descriptor_size"]):
        raise ValueError(f"window of {recipe.window_px} px is smaller than the {d['descriptor_size']} px descriptor")
    table = cfg.get("materials", {})
    units: list[Unit] = []
    exclude = _exclusions(table)
    for c in classes:
        mats = parse_materials(table, CLASSES[c].lattice) or [class_material(c)]
        units += [(c, dl, m) for m in mats for dl in deltas if (c, m.symbol) not in exclude]
    relevant = {
        "simulation": {k: v for k, v in sim.items() if k != "cache_dir"},
        "augment": cfg["augment"],
        "dataset": {k: v for k, v in d.items() if k not in ("out", "workers")},
        "units": [_unit_json(u) for u in units],
        "haadf_version": HAADF_VERSION,
        "dataset_version": DATASET_VERSION,
    }
    digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()
    return DatasetPlan(units, recipe, cfg, digest)


def _exclusions(table: dict[str, Any]) -> set[tuple[str, str]]:
    """(class, element) pairs of ``[materials] exclude`` (e.g. ``["FCC_Cu_100", "Au"]``)."""
    out = set()
    for pair in table.get("exclude") or []:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, str) for v in pair)):
            raise ValueError(f"materials.exclude entries must be [class, element] pairs, got {pair!r}")
        out.add((check_class_name(pair[0]), pair[1]))
    return out


def _unit_json(unit: Unit) -> list[Any]:
    c, dl, m = unit
    return [c, dl, m.symbol, m.a, m.c]


def lattice_ranges(units: list[Unit]) -> dict[str, dict[str, list[float]]]:
    """The lattice constants each class is simulated at, as ranges.

    Parameters
    ----------
    units : list of (str, float, Material)
        Base images (:attr:`DatasetPlan.units`).

    Returns
    -------
    dict
        ``{class_name: {"a": [min, max], "c": [min, max]}}`` [Å], "c" for hcp only, classes in
        :data:`CLASS_NAMES` order.
    """
    acc: dict[str, dict[str, list[float]]] = {}
    for c, dl, m in units:
        a, cc = m.scaled(dl)
        r = acc.setdefault(c, {})
        for key, v in (("a", a), ("c", cc)):
            if v is not None:
                lo, hi = r.get(key, [v, v])
                r[key] = [round(min(lo, v), 4), round(max(hi, v), 4)]
    return {c: acc[c] for c in CLASS_NAMES if c in acc}


def training_domain(attrs: Any) -> dict[str, Any]:
    """The training domain recorded in a dataset's attributes, for the model's metadata.

    Reads the ``lattice_constants`` attribute; for files written before it existed,
    rebuilds the ranges from ``units`` ([class, delta] pairs: the class's own metal + delta).

    Returns
    -------
    dict
        ``{"lattice_constants": {class: {"a": [min, max], "c": [min, max]}}}`` [Å], or ``{}`` if
        the file records neither.
    """

    def text(v: Any) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)

    if "lattice_constants" in attrs:
        return {"lattice_constants": json.loads(text(attrs["lattice_constants"]))}
    if "units" not in attrs:
        return {}
    units: list[Unit] = []
    for u in json.loads(text(attrs["units"])):
        if u[0] not in CLASSES:
            return {}
        mat = Material(u[2], float(u[3]), None if u[4] is None else float(u[4])) if len(u) >= 5 else class_material(u[0])
        units.append((u[0], float(u[1]), mat))
    return {"lattice_constants": lattice_ranges(units)}


def _unit_arrays(
    plan: DatasetPlan,
    index: int,
    *,
    cache_dir: str | os.PathLike[str] | None,
    use_cache: bool,
    tick: Callable[[int], None],
) -> dict[str, np.ndarray]:
    """Simulate (or load) one base image and make all its windows and descriptors."""
    from aistem.core import fft_haadf_descriptor

    cfg = plan.config
    sim_cfg, d = cfg["simulation"], cfg["dataset"]
    class_name, delta, material = plan.units[index]
    sim = simulate_class(
        class_name,
        delta,
        cell_size=float(sim_cfg["cell_size"]),
        thickness=float(sim_cfg["thickness"]),
        settings=simulation_settings(cfg),
        cache_dir=cache_dir,
        use_cache=use_cache,
        material=material,
    )
    source = PeriodicImage(sim.image, sim.pixel_size)
    rng = np.random.default_rng(np.random.SeedSequence([int(d["seed"]), index]))
    n, w = plan.recipe.per_base, plan.recipe.window_px
    size, thr = int(d["descriptor_size"]), float(d["threshold"])
    windows = np.empty((n, w, w), np.float32)
    meta = {k: np.empty(n, _META_DTYPES[k]) for k in _META}
    label = CLASS_NAMES.index(class_name)
    k = 0
    for win in plan.recipe.windows(source, rng):
        windows[k] = win.image
        meta["rotation"][k], meta["shear"][k] = win.rotation, win.shear
        meta["augmentation"][k], meta["sigma"][k], meta["variance"][k] = win.augmentation, win.sigma, win.variance
        k += 1
        tick(1)
    assert k == n, (k, n)
    meta["unit"][:] = index
    meta["lattice_delta"][:] = delta
    desc = np.empty((n, size, size), np.float32)
    for s in range(0, n, 256):
        desc[s : s + 256] = fft_haadf_descriptor(windows[s : s + 256], threshold=thr, size=size, workers=int(d["workers"]))
    out: dict[str, np.ndarray] = {"descriptors": desc, "labels": np.full(n, label, np.int16)}
    out.update({f"meta/{k}": v for k, v in meta.items()})
    if d["store_windows"]:
        out["windows"] = windows.astype(np.float16)
    return out


def _unit_text(plan: DatasetPlan, i: int) -> str:
    """The progress bar's note for unit ``i``, e.g. ``FCC_Cu_110 as Au a=4.080 Å``."""
    c, dl, m = plan.units[i]
    return f"{c} as {m.symbol} a={m.a + dl:.3f} Å"


def _cluster_unit(
    plan: DatasetPlan, index: int, cache_dir: str | os.PathLike[str] | None, use_cache: bool
) -> dict[str, np.ndarray]:
    """Worker side: one unit's arrays (the same as in-process: the unit's random stream depends only on its index)."""
    return _unit_arrays(plan, index, cache_dir=cache_dir, use_cache=use_cache, tick=lambda _n: None)


def _units_on_cluster(
    client: Any,
    plan: DatasetPlan,
    todo: list[int],
    cache_dir: str | os.PathLike[str] | None,
    use_cache: bool,
    saved: Callable[[int, dict[str, np.ndarray]], None],
    bar: Any,
) -> None:
    """Simulate the units ``todo`` on the cluster; save each as it finishes (a worker that dies: its unit is re-run)."""
    from distributed import as_completed

    futures = {client.submit(_cluster_unit, plan, i, cache_dir, use_cache, key=f"unit-{i}", pure=False): i for i in todo}
    for fut in as_completed(futures):
        i = futures[fut]
        saved(i, fut.result())
        if bar is not None:
            bar.set_postfix_str(_unit_text(plan, i))
            bar.update(plan.recipe.per_base)


def _save_unit(folder: Path, index: int, arrays: dict[str, np.ndarray]) -> None:
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **{k.replace("/", "__"): v for k, v in arrays.items()})  # type: ignore[arg-type]
        os.replace(tmp, folder / f"unit_{index:04d}.npz")
    finally:
        Path(tmp).unlink(missing_ok=True)


def _assemble(plan: DatasetPlan, folder: Path, out: Path, seconds: float) -> None:
    import h5py

    cfg, d = plan.config, plan.config["dataset"]
    n_total, w, size = plan.total, plan.recipe.window_px, int(d["descriptor_size"])
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            rows = max(1, min(64, n_total))  # a chunk may not exceed a small dataset
            f.create_dataset("descriptors", (n_total, size, size), np.float32, chunks=(rows, size, size), compression="lzf")
            f.create_dataset("labels", (n_total,), np.int16)
            if d["store_windows"]:
                f.create_dataset("windows", (n_total, w, w), np.float16, chunks=(rows, w, w), compression="lzf")
            for k in _META:
                f.create_dataset(f"meta/{k}", (n_total,), _META_DTYPES[k])
            pos = 0
            for i in range(len(plan.units)):
                with np.load(folder / f"unit_{i:04d}.npz") as z:
                    n = z["labels"].shape[0]
                    for key in z.files:
                        f[key.replace("__", "/")][pos : pos + n] = z[key]
                pos += n
            a = f.attrs
            a["class_names"] = json.dumps(list(CLASS_NAMES))
            a["units"] = json.dumps([_unit_json(u) for u in plan.units])
            a["lattice_constants"] = json.dumps(lattice_ranges(plan.units))
            a["augmentation_codes"] = json.dumps(AUGMENTATION_CODES)
            a["config"] = json.dumps(cfg, sort_keys=True)
            a["config_digest"] = plan.digest
            a["pixel_size"] = float(cfg["simulation"]["pixel_size"])
            a["window"] = float(cfg["augment"]["window"])
            a["window_px"] = int(w)
            a["threshold"] = float(d["threshold"])
            a["descriptor_size"] = size
            a["per_base_image"] = plan.recipe.per_base
            a["code_version"] = code_version()
            a["haadf_version"] = HAADF_VERSION
            a["dataset_version"] = DATASET_VERSION
            a["created"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
            a["seconds"] = float(seconds)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; the dataset is not
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold ``<out>.lock`` (an advisory file lock) so two runs never write the same dataset."""
    import fcntl

    lock = out.with_name(out.name + ".lock")
    with open(lock, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another run is writing {out} (lock file {lock}); wait for it to finish or stop it") from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _existing_digest(out: Path) -> str | None:
    import h5py

    try:
        with h5py.File(out, "r") as f:
            v = f.attrs.get("config_digest")
            return v.decode() if isinstance(v, bytes) else (str(v) if v is not None else None)
    except OSError:
        return None


def generate_dataset(
    cfg: dict[str, Any],
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    max_units: int | None = None,
    log: Callable[[str], None] | None = None,
    client: Any = None,
) -> Path:
    """Make (or finish) the training set described by ``cfg`` in the HDF5 file ``out``.

    Parameters
    ----------
    cfg : dict
        Settings (:func:`aistem.training.config.load_simulate_config`).
    out : path
        The HDF5 file; its folder must exist or be creatable.
    overwrite : bool
        Start over even if ``out`` or unfinished work with other settings exists.
    progress : bool
        Show a progress bar (tqdm, on stderr).
    cache_dir : path, optional
        Cache of base images (default from the settings / ``$AISTEM_CACHE``).
    use_cache : bool
        False: simulate every base image again and do not store it.
    max_units : int, optional
        Stop after this many new units (the run then resumes later; for tests and budgets).
    log : callable, optional
        Receives one-line status messages.
    client : distributed.Client, optional
        Simulate and augment the base images on this Dask cluster's workers (:func:`aistem.core.cluster.cluster_client`);
        each finished unit comes back here and is saved as it arrives, so the run resumes the same way. The cache of
        base images is the workers' (``cache_dir`` as they see it).

    Returns
    -------
    Path
        ``out`` if complete, else the partial folder (when ``max_units`` stopped the run).

    Raises
    ------
    FileExistsError
        If ``out`` holds a dataset made with other settings and ``overwrite`` is False.
    RuntimeError
        If another run is writing the same file.
    """
    say = log or (lambda _m: None)
    plan = plan_dataset(cfg)
    cache_dir = cache_dir or cfg["simulation"].get("cache_dir") or None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(out.parent, os.W_OK):
        raise PermissionError(f"cannot write to {out.parent}")
    with _exclusive(out):
        return _generate(plan, out, overwrite, progress, cache_dir, use_cache, max_units, say, client)


def _generate(
    plan: DatasetPlan,
    out: Path,
    overwrite: bool,
    progress: bool,
    cache_dir: str | os.PathLike[str] | None,
    use_cache: bool,
    max_units: int | None,
    say: Callable[[str], None],
    client: Any = None,
) -> Path:
    folder = out.with_name(out.name + ".partial")
    if out.exists() and not overwrite:
        if _existing_digest(out) == plan.digest:
            say(f"{out} is complete with these settings; nothing to do")
            return out
        raise FileExistsError(f"{out} exists with other settings (or is not a dataset); use --overwrite to replace it")
    if overwrite:
        out.unlink(missing_ok=True)
        if folder.exists():
            shutil.rmtree(folder)
    folder.mkdir(exist_ok=True)
    plan_file = folder / "plan.json"
    if plan_file.exists():
        old = json.loads(plan_file.read_text())
        if old.get("digest") != plan.digest:
            raise FileExistsError(
                f"{folder} holds unfinished work with other settings; use --overwrite to discard it or change --out"
            )
    else:
        units_json = [_unit_json(u) for u in plan.units]
        _write_json(plan_file, {"digest": plan.digest, "units": units_json, "per_base": plan.recipe.per_base})
    done = [i for i in range(len(plan.units)) if (folder / f"unit_{i:04d}.npz").exists()]
    seconds = float(json.loads(plan_file.read_text()).get("seconds", 0.0))
    todo = [i for i in range(len(plan.units)) if i not in set(done)]
    if done:
        say(f"resuming: {len(done)} of {len(plan.units)} base images already done")
    say(f"{len(plan.units)} base images × {plan.recipe.per_base} windows = {plan.total} descriptors → {out}")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=plan.total, initial=len(done) * plan.recipe.per_base, unit="win", desc="simulate dataset", smoothing=0.05
        )
    t0 = time.perf_counter()
    todo = todo if max_units is None else todo[:max_units]

    units_json = [_unit_json(u) for u in plan.units]

    def saved(i: int, arrays: dict[str, np.ndarray]) -> None:
        _save_unit(folder, i, arrays)
        seconds_now = seconds + time.perf_counter() - t0
        _write_json(
            plan_file, {"digest": plan.digest, "units": units_json, "per_base": plan.recipe.per_base, "seconds": seconds_now}
        )

    try:
        if client is not None:
            _units_on_cluster(client, plan, todo, cache_dir, use_cache, saved, bar)
        for i in todo if client is None else ():
            if bar is not None:
                bar.set_postfix_str(_unit_text(plan, i))
            saved(
                i, _unit_arrays(plan, i, cache_dir=cache_dir, use_cache=use_cache, tick=bar.update if bar else (lambda _n: None))
            )
    finally:
        if bar is not None:
            bar.close()
    seconds += time.perf_counter() - t0
    if any(not (folder / f"unit_{i:04d}.npz").exists() for i in range(len(plan.units))):
        say(f"stopped with unfinished units in {folder}; run the same command again to resume")
        return folder
    say("assembling the HDF5 file")
    _assemble(plan, folder, out, seconds)
    shutil.rmtree(folder, ignore_errors=True)
    say(f"wrote {out} ({plan.total} descriptors, {out.stat().st_size / 1e6:.0f} MB)")
    return out


def read_dataset(path: str | os.PathLike[str], *, windows: bool = False) -> dict[str, Any]:
    """Read a dataset written by :func:`generate_dataset`.

    Returns
    -------
    dict
        ``descriptors`` (N, 64, 64) float32, ``labels`` (N,) int64, ``class_names``
        (list), ``meta`` (dict of (N,) arrays), ``attrs`` (dict), and ``windows``
        if asked for and stored.
    """
    import h5py

    with h5py.File(path, "r") as f:
        data: dict[str, Any] = {
            "descriptors": f["descriptors"][()],
            "labels": f["labels"][()].astype(np.int64),
            "class_names": json.loads(f.attrs["class_names"]),
            "meta": {k: f[f"meta/{k}"][()] for k in _META},
            "attrs": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()},
        }
        if windows and "windows" in f:
            data["windows"] = f["windows"][()]
    return data
