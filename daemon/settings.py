"""The daemon's settings: ``[daemon]``, ``[daemon.limits]``, ``[daemon.curve]`` and ``[analysis]`` of the config."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from aistem.core import PRECISION_HELP, USER_PRECISIONS
from aistem.core.protocol import DEFAULT_CONTROL, DEFAULT_FRAMES, DEFAULT_RESULTS, Limits

from .queueing import MODES

__all__ = [
    "BY_NAME",
    "RANGES",
    "SETTABLE",
    "SETTINGS",
    "SOCKET_KINDS",
    "AnalysisSettings",
    "CurveSettings",
    "DaemonSettings",
    "PreviewSettings",
    "Range",
    "Setting",
    "check_range",
    "settable_values",
    "status_ranges",
]

SOCKET_KINDS = ("sub", "pull")


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


@dataclass(frozen=True)
class Setting:
    """One daemon setting: the row of :data:`SETTINGS` from which the command line, the config file, control ``set``
    and the status message are derived.

    Attributes
    ----------
    name : str
        The control ``set`` / status name (``limits.*``: the ``[daemon.limits]`` keys, set at start only); the
        command-line option is ``--`` + its last part with ``-`` for ``_``.
    attr : str
        Dotted attribute path in :class:`DaemonSettings` (``analysis.window``, ``preview.step``, ``batch_size`` …).
    section, key : str
        Where the config file sets it (``[section] key``).
    kind : type
        float, int, bool or str.
    help : str
        The command-line help (without the default, which the config file gives).
    range : Range, optional
        Numeric settings: the allowed values.
    choices : tuple of str, optional
    settable : bool
        Changeable at run time with control ``set`` (and reported in the status' ``settings``).
    metavar : str, optional
    empty_none : bool
        An empty string (or a negative ``seed``) means None.
    switch : tuple, optional
        (option, value, help): one more command-line switch that sets this setting to ``value`` (``--dense``).
    """

    name: str
    attr: str
    section: str
    key: str
    kind: type
    help: str
    range: Range | None = None
    choices: tuple[str, ...] | None = None
    settable: bool = False
    metavar: str | None = None
    empty_none: bool = False
    switch: tuple[str, Any, str] | None = None

    @property
    def dest(self) -> str:
        """The argparse destination (and option name without ``--``, with ``_``)."""
        return self.name.rsplit(".", 1)[-1]

    @property
    def option(self) -> str:
        return "--" + self.dest.replace("_", "-")

    def get(self, settings: Any) -> Any:
        obj = settings
        for part in self.attr.split("."):
            obj = getattr(obj, part)
        return obj


def _s(name: str, attr: str, section: str, kind: type, help: str, **kw: Any) -> Setting:
    return Setting(name, attr, section, kw.pop("key", attr.rsplit(".", 1)[-1]), kind, help, **kw)


_A, _D, _P, _L = "analysis", "daemon", "daemon.preview", "daemon.limits"
#: The one table of daemon settings. Command-line options (``aistem serve``), control ``set`` (the ``settable``
#: ones), the config file keys and the status message (``settings``, ``ranges``) are all derived from it.
SETTINGS: tuple[Setting, ...] = (
    _s("window", "analysis.window", _A, float, "window side [Å]", range=Range(1.0, 1000.0, "Å"), settable=True, metavar="Å"),
    _s("stride", "analysis.stride", _A, float, "step between windows [Å]", range=Range(0.05, 1000.0, "Å"), settable=True,
       metavar="Å"),
    _s("samples", "analysis.samples", _A, int, "Monte-Carlo dropout samples per window",
       range=Range(1, 1000, "MC samples", whole=True), settable=True, metavar="T"),
    _s("threshold", "analysis.threshold", _A, float, "MI threshold for interface [bit]", range=Range(0.0, 10.0, "bit"),
       settable=True, metavar="BIT"),
    _s("seed", "analysis.seed", _A, int, "seed of the dropout masks, the same for every frame; -1: fresh masks",
       range=Range(-1, 2**31 - 1, "", whole=True), settable=True, empty_none=True),
    _s("adaptive", "analysis.adaptive", _A, bool,
       "adaptive MC sampling: settled windows stop early, --samples is the maximum; --no-adaptive: the paper's fixed "
       "sampling", settable=True),
    _s("precision", "analysis.precision", _A, str, PRECISION_HELP, choices=USER_PRECISIONS, settable=True),
    _s("rotation", "analysis.rotation", _A, bool, "measure the local lattice rotation of bulk windows", settable=True),
    _s("domain", "analysis.domain", _A, bool, "domain check: windows outside the model's domain are unknown",
       settable=True),
    _s("coarse_step", "analysis.coarse_step", _A, int,
       "coarse-to-fine: every K-th window first (published as the live preview), then only where the map can change",
       range=Range(1, 64, "windows", whole=True), settable=True, metavar="K",
       switch=("--dense", 1, "evaluate every window (the paper's full grid; same as --coarse-step 1)")),
    _s("model", "model", _A, str, "model file (.keras or the paper's .h5); default: the shipped model", metavar="FILE",
       empty_none=True),
    _s("frames", "frames", _D, str, "acquisition frame endpoint to connect to", metavar="ENDPOINT"),
    _s("socket", "socket", _D, str, "frame socket kind: sub (PUB/SUB) or pull (PUSH/PULL)", choices=SOCKET_KINDS),
    _s("mode", "mode", _D, str, "live: newest frame wins; lossless: every frame", choices=MODES, settable=True),
    _s("results", "results", _D, str, "endpoint to bind for results, PUB", metavar="ENDPOINT"),
    _s("control", "control", _D, str, "endpoint to bind for control, REP", metavar="ENDPOINT"),
    _s("batch_size", "batch_size", _D, int, "windows per network call [windows]",
       range=Range(1, 4096, "windows", whole=True), settable=True, metavar="N"),
    _s("save", "save", _D, str, "write every result to DIR/<series>.results.h5 (HDF5, flushed per frame)", metavar="DIR",
       empty_none=True),
    _s("status_interval", "status_interval", _D, float, "time between status messages [s]",
       range=Range(0.05, 3600.0, "s"), metavar="S"),
    _s("queue_length", "queue_length", _D, int, "frames waiting, lossless mode [frames]",
       range=Range(1, 4096, "frames", whole=True), metavar="N"),
    _s("frames_hwm", "frames_hwm", _D, int, "receive high-water mark of the frame socket [messages]",
       range=Range(1, 100_000, "messages", whole=True), metavar="N"),
    _s("results_hwm", "results_hwm", _D, int, "send high-water mark of the result socket, per viewer [messages]",
       range=Range(1, 100_000, "messages", whole=True), metavar="N"),
    _s("warm_up", "warm_up", _D, bool, "compile the network for the current settings while no frame is waiting"),
    _s("preview", "preview.enabled", _P, bool,
       "live mode: publish a preview of each frame (final: false) before the full result", key="enabled", settable=True),
    _s("preview_step", "preview.step", _P, int,
       "dense analysis (--dense): preview stride in units of --stride [windows]", key="step",
       range=Range(1, 100, "strides", whole=True), settable=True, metavar="N"),
    _s("preview_samples", "preview.samples", _P, int, "dense analysis (--dense): MC samples per preview window",
       key="samples", range=Range(1, 1000, "MC samples", whole=True), settable=True, metavar="T"),
    _s("limits.max_rows", "limits.max_rows", _L, int, "largest frame height accepted [px]",
       range=Range(1, 65536, "px", whole=True), metavar="PX"),
    _s("limits.max_cols", "limits.max_cols", _L, int, "largest frame width accepted [px]",
       range=Range(1, 65536, "px", whole=True), metavar="PX"),
    _s("limits.max_pixels", "limits.max_pixels", _L, int, "largest frame area accepted [px]",
       range=Range(1, 2**30, "px", whole=True), metavar="PX"),
    _s("limits.max_header_bytes", "limits.max_header_bytes", _L, int, "largest frame header accepted [bytes]",
       range=Range(64, 1 << 20, "bytes", whole=True), metavar="BYTES"),
)  # fmt: skip
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
#: Names a control ``set`` request may change.
SETTABLE: tuple[str, ...] = tuple(s.name for s in SETTINGS if s.settable)
#: Every numeric setting's range, by name: the command line, the config file, control ``set`` and the status
#: (``ranges``) all take their limits from here.
RANGES: dict[str, Range] = {s.name: s.range for s in SETTINGS if s.range is not None}


def settable_values(settings: DaemonSettings) -> dict[str, Any]:
    """The run-time settings by name, as in the status message and the reply to ``set``."""
    return {s.name: s.get(settings) for s in SETTINGS if s.settable}


def status_ranges() -> dict[str, list[float]]:
    """The ranges of the settings in the status message (``limits.*`` are fixed at start: not listed)."""
    return {k: [r.low, r.high] for k, r in RANGES.items() if not k.startswith("limits.")}


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
    coarse_step : int
        Coarse-to-fine evaluation (``docs/coarse-to-fine.md``): every ``coarse_step``-th window first — in live mode
        published as the preview — then only where the map can change; 1: every window (the paper's dense grid).
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
    coarse_step: int = 4

    def validate(self) -> AnalysisSettings:
        for name in ("window", "stride", "samples", "threshold", "coarse_step"):
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

    frames: str = DEFAULT_FRAMES
    socket: str = "sub"
    mode: str = "live"
    results: str = DEFAULT_RESULTS
    control: str = DEFAULT_CONTROL
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
        """From ``aistem.config.load_config()``'s dict: every setting of :data:`SETTINGS` its config key sets."""
        changes = {}
        for st in SETTINGS:
            table: Any = cfg
            for part in st.section.split("."):
                table = table.get(part, {})
            if st.key in table:
                changes[st.name] = table[st.key]
        new = cls().replace(**changes)
        new.curve = CurveSettings(**cfg["daemon"]["curve"])
        return new.validate()

    def replace(self, **changes: Any) -> DaemonSettings:
        """A copy with the settings ``changes`` (names of :data:`SETTINGS`) changed.

        Raises
        ------
        TypeError
            For a name that is not a setting.
        ValueError
            For a value out of its range (see :meth:`validate`).
        """
        unknown = sorted(set(changes) - set(BY_NAME))
        if unknown:
            raise TypeError(f"unknown setting(s) {', '.join(unknown)}")
        parts: dict[str, dict[str, Any]] = {"": {}, "analysis": {}, "preview": {}, "limits": {}, "curve": {}}
        for name, v in changes.items():
            st = BY_NAME[name]
            if st.empty_none and (v == "" or (name == "seed" and isinstance(v, int) and not isinstance(v, bool) and v < 0)):
                v = None
            group, _, attr = st.attr.rpartition(".")
            parts[group][attr] = v
        new = dataclasses.replace(self, **parts[""])
        for group in ("analysis", "preview", "limits", "curve"):
            setattr(new, group, dataclasses.replace(getattr(self, group), **parts[group]))
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
                raise ValueError(f"{name} must be a ZeroMQ endpoint such as {DEFAULT_RESULTS}, got {ep!r}")
        for st in SETTINGS:  # the numeric settings outside [analysis] and [daemon.preview] (checked below)
            if st.range is not None and st.section in ("daemon", "daemon.limits"):
                check_range(st.name, st.get(self))
        if not isinstance(self.warm_up, bool):
            raise ValueError(f"warm_up must be true or false, got {self.warm_up!r}")
        if self.curve.enabled and not self.curve.secret_key:
            raise ValueError("CURVE is enabled but [daemon.curve] secret_key names no certificate file")
        self.analysis.validate()
        self.preview.validate()
        return self
