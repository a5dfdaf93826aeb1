"""The daemon's settings: ``[daemon]``, ``[daemon.limits]``, ``[daemon.curve]`` and ``[analysis]`` of the config."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from aistem.core.backend import USER_PRECISIONS

from .protocol import Limits
from .queueing import MODES

__all__ = ["PREVIEW_KEYS", "SOCKET_KINDS", "AnalysisSettings", "CurveSettings", "DaemonSettings", "PreviewSettings"]

SOCKET_KINDS = ("sub", "pull")
#: Control ``set`` / command-line names of the preview settings → :class:`PreviewSettings` field.
PREVIEW_KEYS = {"preview": "enabled", "preview_step": "step", "preview_samples": "samples"}


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
        for name in ("window", "stride"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a positive number of Å, got {v!r}")
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise ValueError(f"samples must be a whole number ≥ 1, got {self.samples!r}")
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            raise ValueError(f"threshold must be a non-negative number of bits, got {t!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"seed must be a whole number (or -1 / nil for fresh masks), got {self.seed!r}")
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
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                what = "windows of the analysis stride" if name == "step" else "Monte-Carlo samples"
                raise ValueError(f"preview_{name} must be a whole number ≥ 1 ({what}), got {v!r}")
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
            seed=None if seed is None or seed < 0 else int(seed),
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
        if "seed" in a and a["seed"] is not None and a["seed"] < 0:
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
        for name in ("batch_size", "queue_length", "frames_hwm", "results_hwm"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a whole number ≥ 1, got {v!r}")
        si = self.status_interval
        if isinstance(si, bool) or not isinstance(si, (int, float)) or not math.isfinite(si) or si <= 0:
            raise ValueError(f"status_interval must be a positive number of seconds, got {si!r}")
        lim = self.limits
        for name in ("max_rows", "max_cols", "max_pixels", "max_header_bytes"):
            v = getattr(lim, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"limits.{name} must be a whole number ≥ 1, got {v!r}")
        if not isinstance(self.warm_up, bool):
            raise ValueError(f"warm_up must be true or false, got {self.warm_up!r}")
        if self.curve.enabled and not self.curve.secret_key:
            raise ValueError("CURVE is enabled but [daemon.curve] secret_key names no certificate file")
        self.analysis.validate()
        self.preview.validate()
        return self
