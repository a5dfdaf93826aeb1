"""The daemon's settings: ``[daemon]``, ``[daemon.limits]``, ``[daemon.curve]`` and ``[analysis]`` of the config."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from aistem.core.backend import USER_PRECISIONS
from aistem.core.protocol import Limits

from .queueing import MODES

__all__ = [
    "PREVIEW_KEYS",
    "RANGES",
    "SOCKET_KINDS",
    "AnalysisSettings",
    "CurveSettings",
    "DaemonSettings",
    "PreviewSettings",
    "Range",
    "check_range",
]

SOCKET_KINDS = ("sub", "pull")
#: Control ``set`` / command-line names of the preview settings → :class:`PreviewSettings` field.
PREVIEW_KEYS = {"preview": "enabled", "preview_step": "step", "preview_samples": "samples"}


@dataclass(frozen=True)
class Range:
    """The allowed values of one numeric setting: ``low`` ≤ v ≤ ``high`` (``low`` excluded when ``open_low``)."""

    low: float
    high: float
    unit: str
    whole: bool = False
    open_low: bool = False

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        low = f"> {self.low:g}" if self.open_low else f"≥ {self.low:g}"
        unit = f" [{self.unit}]" if self.unit else ""
        return f"{kind} {low} and ≤ {self.high:g}{unit}"


#: The one table of numeric settings: the command line, the config file, control ``set`` and the status
#: (``ranges``) all take their limits from here. Names are the control / command-line names
#: (``limits.*`` are ``[daemon.limits]``).
RANGES: dict[str, Range] = {
    "window": Range(1.0, 1000.0, "Å"),
    "stride": Range(0.05, 1000.0, "Å"),
    "samples": Range(1, 1000, "MC samples", whole=True),
    "threshold": Range(0.0, 10.0, "bit"),
    "seed": Range(-1, 2**31 - 1, "", whole=True),
    "batch_size": Range(1, 4096, "windows", whole=True),
    "preview_step": Range(1, 100, "strides", whole=True),
    "preview_samples": Range(1, 1000, "MC samples", whole=True),
    "status_interval": Range(0.05, 3600.0, "s"),
    "queue_length": Range(1, 4096, "frames", whole=True),
    "frames_hwm": Range(1, 100_000, "messages", whole=True),
    "results_hwm": Range(1, 100_000, "messages", whole=True),
    "limits.max_rows": Range(1, 65536, "px", whole=True),
    "limits.max_cols": Range(1, 65536, "px", whole=True),
    "limits.max_pixels": Range(1, 2**30, "px", whole=True),
    "limits.max_header_bytes": Range(64, 1 << 20, "bytes", whole=True),
}


def check_range(name: str, value: Any) -> Any:
    """``value`` if it is within ``RANGES[name]`` (as int or float), else ValueError naming the setting and its range."""
    r = RANGES[name]
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and (not r.whole or isinstance(value, int))
    if ok:
        ok = math.isfinite(value) and (value > r.low if r.open_low else value >= r.low) and value <= r.high
    if not ok:
        raise ValueError(f"{name} must be {r.describe()}, got {value!r}")
    return int(value) if r.whole else float(value)


@dataclass
class AnalysisSettings:
    """What the daemon does with each frame; changeable at run time (control ``set``).

    Attributes
    ----------
    window, stride : float
        Window side and step [Å].
    samples : int
        Monte-Carlo dropout samples per window (T).
    threshold : float
        Mutual-information threshold for the interface [bit].
    seed : int or None
        Seed of the dropout masks, the same for every frame; None: fresh masks for every frame.
    adaptive : bool
        Adaptive MC sampling: settled windows stop early, ``samples`` is the maximum.
    precision : str
        Compute dtype of the network, ``auto`` (bfloat16 on a CPU with native bfloat16, else float32), ``float32``
        or ``bfloat16``.
    rotation : bool
        Measure the local lattice rotation of bulk windows (array ``lattice_rotation``).
    domain : bool
        Run the domain check (array ``unknown``: windows outside the model's domain; ``docs/domain-check.md``).
    """

    window: float = 12.0
    stride: float = 1.5
    samples: int = 100
    threshold: float = 0.1
    seed: int | None = None
    adaptive: bool = True
    precision: str = "float32"
    rotation: bool = True
    domain: bool = True

    def validate(self) -> AnalysisSettings:
        for name in ("window", "stride", "samples", "threshold"):
            check_range(name, getattr(self, name))
        if self.seed is not None:
            try:
                check_range("seed", self.seed)
            except ValueError:
                raise ValueError(
                    f"seed must be {RANGES['seed'].describe()} (-1 or nil: fresh masks), got {self.seed!r}"
                ) from None
        if not all(isinstance(v, bool) for v in (self.adaptive, self.rotation, self.domain)):
            raise ValueError("adaptive, rotation and domain must be true or false")
        if self.precision not in USER_PRECISIONS:
            raise ValueError(
                f"precision must be {', '.join(USER_PRECISIONS[:-1])} or {USER_PRECISIONS[-1]}, got {self.precision!r}"
            )
        self.window, self.stride, self.threshold = float(self.window), float(self.stride), float(self.threshold)
        return self


@dataclass
class PreviewSettings:
    """Live preview (progressive results): ``[daemon.preview]`` of the config; changeable at run time.

    In live mode each frame is first analysed coarsely — every ``step``-th window of the final grid in each
    direction (stride = ``step`` × the analysis stride, the same window), ``samples`` MC samples — and that
    result is published with ``final: false``; the full analysis follows unless a newer frame is waiting.
    Lossless mode never previews.

    Attributes
    ----------
    enabled : bool
        Publish a preview first (live mode only).
    step : int
        Preview stride in units of the analysis stride (≥ 1; 1 = the final grid, fewer samples only).
    samples : int
        MC samples per window of the preview (≥ 1; at most the analysis ``samples`` are used).
    """

    enabled: bool = True
    step: int = 5
    samples: int = 4

    def validate(self) -> PreviewSettings:
        if not isinstance(self.enabled, bool):
            raise ValueError(f"preview must be true or false, got {self.enabled!r}")
        for name in ("step", "samples"):
            check_range(f"preview_{name}", getattr(self, name))
        return self


@dataclass
class CurveSettings:
    """ZeroMQ CURVE: see ``[daemon.curve]`` in ``config/default.toml``.

    Attributes
    ----------
    enabled : bool
    secret_key : str
        The daemon's secret certificate file.
    authorized_keys : str
        Directory of the public certificates of allowed clients ("" : any client that knows the daemon's key).
    frames_public_key : str
        The acquisition program's public certificate ("" : frames unencrypted).
    """

    enabled: bool = False
    secret_key: str = ""
    authorized_keys: str = ""
    frames_public_key: str = ""


@dataclass
class DaemonSettings:
    """Everything ``aistem serve`` needs; see ``config/default.toml`` for each key and its unit.

    Attributes
    ----------
    frames : str
        Frame endpoint (connected).
    socket : str
        ``"sub"`` or ``"pull"``.
    mode : str
        ``"live"`` or ``"lossless"``.
    results, control : str
        Endpoints bound for results (PUB) and control (REP); port ``*`` picks a free one.
    model : str or None
        Model file; None: the shipped default.
    batch_size : int
        Windows per network call.
    save : str or None
        Directory for one HDF5 file per series; None: nothing saved.
    status_interval : float
        [s].
    queue_length : int
        Frames waiting in lossless mode.
    frames_hwm, results_hwm : int
        ZeroMQ high-water marks [messages].
    warm_up : bool
        Compile the network's call shapes for the current settings while no frame is waiting, so that the first
        frame (and its preview) does not pay for compiling them.
    analysis : AnalysisSettings
    limits : Limits
    curve : CurveSettings
    preview : PreviewSettings
    """

    frames: str = "tcp://127.0.0.1:5555"
    socket: str = "sub"
    mode: str = "live"
    results: str = "tcp://127.0.0.1:5556"
    control: str = "tcp://127.0.0.1:5557"
    model: str | None = None
    batch_size: int = 32
    save: str | None = None
    status_interval: float = 2.0
    queue_length: int = 16
    frames_hwm: int = 64
    results_hwm: int = 256
    warm_up: bool = True
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    limits: Limits = field(default_factory=Limits)
    curve: CurveSettings = field(default_factory=CurveSettings)
    preview: PreviewSettings = field(default_factory=PreviewSettings)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> DaemonSettings:
        """From ``aistem.config.load_config()``'s dict."""
        d = dict(cfg["daemon"])
        a = cfg["analysis"]
        seed = a.get("seed", -1)
        analysis = AnalysisSettings(
            window=a["window"],
            stride=a["stride"],
            samples=a["samples"],
            threshold=a["threshold"],
            seed=None if seed is None or (isinstance(seed, int) and seed < 0) else seed,
            adaptive=bool(a.get("adaptive", True)),
            precision=str(a.get("precision", "auto")),
            rotation=bool(a.get("rotation", True)),
            domain=bool(a.get("domain", True)),
        )
        return cls(
            frames=d["frames"],
            socket=d["socket"],
            mode=d["mode"],
            results=d["results"],
            control=d["control"],
            model=a.get("model") or None,
            batch_size=d["batch_size"],
            save=d["save"] or None,
            status_interval=d["status_interval"],
            queue_length=d["queue_length"],
            frames_hwm=d["frames_hwm"],
            results_hwm=d["results_hwm"],
            warm_up=d.get("warm_up", True),
            analysis=analysis,
            limits=Limits(**d["limits"]),
            curve=CurveSettings(**d["curve"]),
            preview=PreviewSettings(**d.get("preview", {})),
        ).validate()

    def replace(self, **changes: Any) -> DaemonSettings:
        """A copy with top-level keys, analysis keys (window, stride, samples, threshold, seed …) or preview keys
        (``preview``, ``preview_step``, ``preview_samples``) changed."""
        analysis_keys = {f.name for f in dataclasses.fields(AnalysisSettings)}
        a = {k: v for k, v in changes.items() if k in analysis_keys}
        p = {PREVIEW_KEYS[k]: v for k, v in changes.items() if k in PREVIEW_KEYS}
        top = {k: v for k, v in changes.items() if k not in analysis_keys and k not in PREVIEW_KEYS}
        seed = a.get("seed")
        if isinstance(seed, int) and not isinstance(seed, bool) and seed < 0:
            a["seed"] = None
        new = dataclasses.replace(self, **top)
        new.analysis = dataclasses.replace(self.analysis, **a)
        new.curve = dataclasses.replace(self.curve)
        new.preview = dataclasses.replace(self.preview, **p)
        return new.validate()

    def validate(self) -> DaemonSettings:
        """Check every value; raise ValueError saying which is wrong."""
        if self.socket not in SOCKET_KINDS:
            raise ValueError(f"socket must be one of {', '.join(SOCKET_KINDS)}, got {self.socket!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name in ("frames", "results", "control"):
            ep = getattr(self, name)
            if not isinstance(ep, str) or "://" not in ep:
                raise ValueError(f"{name} must be a ZeroMQ endpoint such as tcp://127.0.0.1:5556, got {ep!r}")
        for name in ("batch_size", "queue_length", "frames_hwm", "results_hwm", "status_interval"):
            check_range(name, getattr(self, name))
        for name in ("max_rows", "max_cols", "max_pixels", "max_header_bytes"):
            check_range(f"limits.{name}", getattr(self.limits, name))
        if not isinstance(self.warm_up, bool):
            raise ValueError(f"warm_up must be true or false, got {self.warm_up!r}")
        if self.curve.enabled and not self.curve.secret_key:
            raise ValueError("CURVE is enabled but [daemon.curve] secret_key names no certificate file")
        self.analysis.validate()
        self.preview.validate()
        return self
