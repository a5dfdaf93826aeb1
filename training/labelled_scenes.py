"""Simulated scenes with a ground-truth label map, for evaluation: :class:`Scene`, making, saving and loading them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Scene", "bicrystal_scene", "load_scene", "polycrystal_scene", "save_scene", "scene_from_simulation"]


def _grain_edge(ids: np.ndarray, amorph: np.ndarray) -> np.ndarray:
    """Pixels next to a different *crystalline* grain (ignoring amorphous neighbours)."""
    out = np.zeros(ids.shape, dtype=bool)
    for a, b, sa, sb in (
        (ids[1:, :], ids[:-1, :], (slice(1, None), slice(None)), (slice(None, -1), slice(None))),
        (ids[:, 1:], ids[:, :-1], (slice(None), slice(1, None)), (slice(None), slice(None, -1))),
    ):
        d = (a != b) & ~amorph[sa] & ~amorph[sb]
        out[sa] |= d
        out[sb] |= d
    return out


@dataclass
class Scene:
    """A simulated image with its ground truth.

    Attributes
    ----------
    name : str
    image : ndarray of shape (H, W), float32
    labels : ndarray of shape (H, W), int
        Class index (into ``class_names``) per pixel, or ``amorphous_code`` / ``boundary_code``.
    class_names : list of str
    pixel_size : float
        [Å/px].
    amorphous_code, boundary_code : int or None
        Label values of amorphous and boundary pixels (None: the scene has none).
    grains : ndarray of shape (H, W), int, optional
        Grain id per pixel; boundaries between grains of the same class are found from it.
    """

    name: str
    image: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    pixel_size: float
    amorphous_code: int | None = None
    boundary_code: int | None = None
    grains: np.ndarray | None = None

    def boundary_pixels(self) -> np.ndarray:
        """Bool map (H, W): boundary-code pixels and pixels whose grain (or label) differs from a 4-neighbour's."""
        ids = self.grains if self.grains is not None else self.labels
        amorph = self.labels == self.amorphous_code if self.amorphous_code is not None else np.zeros(ids.shape, bool)
        # crystal/amorphous edges belong to the amorphous region, not to the grain boundaries
        edge = _grain_edge(ids, amorph)
        if self.boundary_code is not None:
            edge |= self.labels == self.boundary_code
        return edge


def scene_from_simulation(image: Any, labels: Any, info: Any, name: str = "scene") -> Scene:
    """Wrap the ``(image, labels, info)`` of :mod:`aistem.training.scenes` as a :class:`Scene`.

    ``info`` is a mapping (or an object with attributes) giving at least the
    class names and the pixel size; the amorphous/boundary label codes and a
    grain-id map are used when present.
    """

    def get(*keys: str, default: Any = None) -> Any:
        for k in keys:
            if isinstance(info, dict) and k in info:
                return info[k]
            if not isinstance(info, dict) and hasattr(info, k):
                return getattr(info, k)
        return default

    names = get("class_names", "classes")
    if names is None:
        from aistem.core import PAPER_CLASS_NAMES

        names = list(PAPER_CLASS_NAMES)
    pixel_size = get("pixel_size")
    if pixel_size is None:
        raise ValueError("the scene's info gives no pixel_size")
    grains = get("grains", "grain_map", "grain_ids")
    return Scene(
        name=str(get("name", default=name)),
        image=np.asarray(image, dtype=np.float32),
        labels=np.asarray(labels),
        class_names=[str(n) for n in names],
        pixel_size=float(pixel_size),
        amorphous_code=get("amorphous_label", "amorphous_code", "AMORPHOUS"),
        boundary_code=get("boundary_label", "boundary_code", "BOUNDARY"),
        grains=None if grains is None else np.asarray(grains),
    )


def _codes() -> tuple[int, int]:
    try:
        from .crystals import AMORPHOUS_LABEL, BOUNDARY_LABEL
    except ImportError:  # pragma: no cover - simulation extra absent
        return 10, 11
    return int(AMORPHOUS_LABEL), int(BOUNDARY_LABEL)


def _wrap(out: Any, name: str) -> Scene:
    image, labels, info = out
    scene = scene_from_simulation(image, labels, info, name=name)
    amorphous, boundary = _codes()
    if scene.amorphous_code is None:
        scene.amorphous_code = amorphous
    if scene.boundary_code is None:
        scene.boundary_code = boundary
    if not scene.name or scene.name == "scene":
        scene.name = name
    return scene


def polycrystal_scene(seed: int = 0, **kwargs: Any) -> Scene:
    """The simulated polycrystal (several grains and an amorphous region) of :mod:`aistem.training.scenes`."""
    from .scenes import make_polycrystal

    return _wrap(make_polycrystal(seed=seed, **kwargs), "polycrystal")


def bicrystal_scene(class_name: str, misorientation: float = 30.0, boundary_angle: float = 0.0, seed: int = 0) -> Scene:
    """A simulated bicrystal of one class: two grains misoriented by ``misorientation`` [°]."""
    from .scenes import make_bicrystal

    return _wrap(make_bicrystal(class_name, misorientation, boundary_angle, seed=seed), f"bicrystal {class_name}")


def save_scene(scene: Scene, path: str | Path) -> Path:
    """Write a scene to ``.npz`` (image, labels, grains, class names, pixel size, codes)."""
    arrays: dict[str, Any] = {
        "image": scene.image,
        "labels": scene.labels,
        "class_names": np.asarray(scene.class_names),
        "pixel_size": scene.pixel_size,
        "name": scene.name,
        "amorphous_code": -1 if scene.amorphous_code is None else scene.amorphous_code,
        "boundary_code": -1 if scene.boundary_code is None else scene.boundary_code,
    }
    if scene.grains is not None:
        arrays["grains"] = scene.grains
    np.savez_compressed(path, **arrays)
    return Path(path)


def load_scene(path: str | Path) -> Scene:
    """Read a scene written by :func:`save_scene`.

    Raises
    ------
    FileNotFoundError, ValueError
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"scene file not found: {p}")
    try:
        z = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{p} is not a scene .npz file: {exc}") from exc
    with z:
        missing = {"image", "labels", "class_names", "pixel_size"} - set(z.files)
        if missing:
            raise ValueError(f"{p} is not a scene file: missing {', '.join(sorted(missing))}")
        a, b = int(z["amorphous_code"]) if "amorphous_code" in z else -1, int(z["boundary_code"]) if "boundary_code" in z else -1
        return Scene(
            name=str(z["name"]) if "name" in z else p.stem,
            image=z["image"].astype(np.float32),
            labels=z["labels"],
            class_names=[str(s) for s in z["class_names"]],
            pixel_size=float(z["pixel_size"]),
            amorphous_code=None if a < 0 else a,
            boundary_code=None if b < 0 else b,
            grains=z["grains"] if "grains" in z else None,
        )
