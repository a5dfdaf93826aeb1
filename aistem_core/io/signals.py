"""The signals in a file: what each one is (image, stack, diffraction, spectrum …) and which one to analyse."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .units import axis_kind, to_angstrom

__all__ = ["ANALYSABLE", "KINDS", "SignalInfo", "choose_signal", "classify", "describe", "detector_of"]

#: Kinds of signal ``aistem info`` reports.
KINDS = ("image", "stack", "diffraction", "spectrum", "spectrum-image", "other")
#: The kinds AI-STEM analyses: real-space 2-D images and stacks of them.
ANALYSABLE = ("image", "stack")

#: Titles or detector names of annular dark-field signals, chosen first (HAADF, ADF, DF, DF4, DF-S, DF-I …).
_DARK_FIELD = re.compile(r"(?:^|[^a-z])(?:(haadf|adf|df)(?:[^a-z]|$))", re.IGNORECASE)
_DETECTOR = re.compile(r"^(haadf|adf|maadf|laadf|df\S*|bf\S*|abf|idpc|dpc\S*|segmented.*|ceta\S*|bm-ceta|sirius\S*)$", re.I)
#: A pixel larger than this [Å] is no calibration of a real-space image (TIA stores 1/m for diffraction as "nm").
_IMPLAUSIBLE_PX = 1e8


@dataclass
class SignalInfo:
    """One signal of a file, as ``aistem info`` lists it.

    Attributes
    ----------
    index : int
        Position in the file (``--signal INDEX``).
    title : str
    kind : str
        One of :data:`KINDS`.
    shape : tuple of int
        Array shape, navigation axes first.
    pixel_size : float or None
        [Å/px] of the image's column axis; None when unknown or not real space.
    detector : str or None
        Where the file says.
    selected : bool
        The signal ``analyze`` uses (the default choice, or ``--signal``).
    note : str
        What a user should know (e.g. "scale 1 without units: pixel size unknown", the axes of a diffraction pattern).
    """

    index: int
    title: str
    kind: str
    shape: tuple[int, ...]
    pixel_size: float | None
    detector: str | None = None
    selected: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``aistem info --json``: index, title, kind, shape, pixel_size, detector, selected."""
        return {
            "index": self.index,
            "title": self.title,
            "kind": self.kind,
            "shape": list(self.shape),
            "pixel_size": self.pixel_size,
            "detector": self.detector,
            "selected": self.selected,
        }


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def detector_of(sig: dict[str, Any]) -> str | None:
    """The detector a RosettaSciIO signal dictionary names, where it does."""
    md, om = sig.get("metadata", {}) or {}, sig.get("original_metadata", {}) or {}
    for path in (
        ("BinaryResult", "Detector"),  # Velox
        ("ObjectInfo", "AcquireInfo", "CameraNamePath"),  # TIA
        ("ImageList", "TagGroup0", "ImageTags", "DataBar", "Device Name"),  # DigitalMicrograph
        ("ImageList", "TagGroup0", "ImageTags", "Acquisition", "Device", "Name"),
    ):
        v = _get(om, *path)
        if isinstance(v, str | bytes) and v:
            return v.decode() if isinstance(v, bytes) else v
    for inst in ("TEM", "SEM"):
        det = _get(md, "Acquisition_instrument", inst, "Detector")
        if isinstance(det, dict):
            for k, v in det.items():
                if isinstance(v, str) and k.lower() in ("name", "detector_name"):
                    return v
                if isinstance(v, dict) and k not in ("Camera", "EELS", "EDS"):
                    return str(k)
        elif isinstance(det, str) and det:
            return det
    title = str(_get(md, "General", "title") or "")
    return title if _DETECTOR.match(title.strip()) else None


def _mode(sig: dict[str, Any]) -> str:
    """The microscope mode a TIA file records (``… Diffraction`` for diffraction patterns), else ``""``."""
    v = _get(sig.get("original_metadata", {}), "ObjectInfo", "ExperimentalDescription", "Mode")
    return str(v or "")


def _units_text(axes: list[dict[str, Any]]) -> str:
    return ", ".join(f"{a.get('name') or '?'} [{a.get('units') or 'no unit'}]" for a in axes)


def classify(sig: dict[str, Any], shape: tuple[int, ...]) -> tuple[str, float | None, str]:
    """(kind, pixel size [Å/px] or None, note) of one RosettaSciIO signal dictionary with data of this shape."""
    axes = list(sig.get("axes") or [])
    stype = str(_get(sig.get("metadata", {}), "Signal", "signal_type") or "").strip().lower()
    kinds = [axis_kind(a.get("units")) for a in axes]
    if len(axes) != len(shape):  # a reader without axes: the last two are the image
        axes, kinds = [{} for _ in shape], ["unknown"] * len(shape)
    if "energy" in kinds or any(t in stype for t in ("eels", "eds", "edx", "spectrum")):
        spatial = sum(1 for k in kinds if k == "length")
        kind = "spectrum-image" if spatial or len(shape) > 1 else "spectrum"
        what = f" ({stype.upper().replace('_', ' ')})" if stype else ""
        return kind, None, f"a {kind}{what}, axes {_units_text(axes)}"
    if len(shape) < 2:
        return "other", None, f"a 1-D signal of {shape[0] if shape else 0} points"
    rows, cols = axes[-2], axes[-1]
    if "diffraction" in stype or "diffraction" in _mode(sig).lower() or "reciprocal" in kinds[-2:]:
        return "diffraction", None, f"a diffraction pattern (axes: {_units_text(axes[-2:])})"
    if len(shape) > 3:
        return "other", None, f"{len(shape)}-D data (axes: {_units_text(axes)}), e.g. 4D-STEM"
    if kinds[-1] not in ("length", "unknown") or kinds[-2] not in ("length", "unknown"):
        return "other", None, f"image axes are not lengths ({_units_text(axes[-2:])})"
    kind = "image" if len(shape) == 2 else "stack"
    px = to_angstrom(cols.get("scale"), cols.get("units"))
    note = ""
    if px is None:
        scale = cols.get("scale")
        note = f"scale {scale:g} without units: pixel size unknown" if isinstance(scale, int | float) else "no pixel size"
    elif px > _IMPLAUSIBLE_PX:
        return "diffraction", None, f"pixel size {px:.3g} Å/px is no real-space calibration: a diffraction pattern?"
    else:
        py = to_angstrom(rows.get("scale"), rows.get("units"))
        if py is not None and abs(py - px) > 0.01 * px:
            note = f"pixels not square ({py:.4g} × {px:.4g} Å): the column size is used"
    return kind, px, note


def choose_signal(infos: list[SignalInfo], signal: str | int | None = None) -> SignalInfo:
    """The signal to analyse: ``signal`` (an index, or a title/detector name), else HAADF/ADF/DF by name, else the
    first real-space image or stack.

    Raises
    ------
    ValueError
        If there is no such signal, or it (or every signal) is not a real-space image, saying what it is.
    """
    listing = "; ".join(f"{i.index} {i.title!r} ({i.kind})" for i in infos)
    if signal is not None and str(signal).strip() != "":
        s = str(signal).strip()
        if re.fullmatch(r"-?\d+", s):
            k = int(s)
            found = [i for i in infos if i.index == (k if k >= 0 else len(infos) + k)]
        else:
            found = [i for i in infos if i.title.lower() == s.lower() or (i.detector or "").lower() == s.lower()]
            found = found or [i for i in infos if s.lower() in i.title.lower()]
        if not found:
            raise ValueError(f"no signal {s!r} in the file; it holds: {listing}")
        chosen = next((i for i in found if i.kind in ANALYSABLE), found[0])
        if chosen.kind not in ANALYSABLE:
            raise ValueError(f"signal {chosen.index} {chosen.title!r} is {chosen.note or chosen.kind}: {_refusal(infos)}")
        return chosen
    images = [i for i in infos if i.kind in ANALYSABLE]
    if not images:
        what = "; ".join(f"{i.index} {i.title!r}: {i.note or i.kind}" for i in infos) or "nothing"
        raise ValueError(f"no real-space image to analyse: the file holds {what}. {_refusal(infos, short=True)}")
    for name in ("haadf", "adf", "df"):  # HAADF before ADF before DF (DF4, DF-S …)
        for i in images:
            for text in (i.title, i.detector or ""):
                m = _DARK_FIELD.search(text)
                if m and m.group(1).lower() == name:
                    return i
    return images[0]


def _refusal(infos: list[SignalInfo], short: bool = False) -> str:
    text = "AI-STEM analyses real-space (HAADF-STEM) images, not diffraction patterns or spectra"
    if short:
        return text
    usable = [f"{i.index} {i.title!r}" for i in infos if i.kind in ANALYSABLE]
    return text + (f"; real-space images here: {', '.join(usable)} (--signal)" if usable else "")


def describe(info: SignalInfo) -> str:
    """One line for the console: ``signal 4 'HAADF' (image 512×512, 0.120 Å/px, detector HAADF)``."""
    px = f"{info.pixel_size:.4g} Å/px" if info.pixel_size is not None else "pixel size unknown"
    det = f", detector {info.detector}" if info.detector and info.detector != info.title else ""
    return f"signal {info.index} {info.title!r} ({info.kind} {'×'.join(map(str, info.shape))}, {px}{det})"
