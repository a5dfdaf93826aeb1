"""Coarse-to-fine evaluation of a window grid: spend the network only where the map can change.

Neighbouring windows overlap by most of their area (12 Å windows every 1.5 Å overlap by 87 %), so inside a grain
class, MI and lattice rotation change slowly.  :func:`coarse_to_fine` evaluates

1. a coarse sub-grid: every ``k``-th window row and column, plus the last row and column, so that every window lies
   in a *cell* whose four corners are coarse windows;
2. every window of a cell whose corners differ — in class, interface or unknown status, in MI by more than
   ``mi_tolerance`` or in lattice rotation by more than ``rotation_tolerance`` (modulo the projection's period) —
   and of every cell next to a cell with an interface or unknown window; a cell whose refined windows (on its
   border, shared with a refined neighbour) disagree with its corners is refined too, until nothing changes;
3. and *fills* the remaining cells from their identical corners: the corners' class, bulk and known status, MI
   interpolated bilinearly, rotation interpolated bilinearly on the circle of its period.

What is evaluated is exact (the same function as the dense grid); only filled windows are interpolated, and the
result marks them (``filled``).  ``level`` records how each window was obtained: 0 coarse, 1 refined, 2 filled.

The function is pure bookkeeping around an ``evaluate(rows, cols)`` callback that computes any set of windows, so it
is tested against synthetic maps and used by :func:`aistem.core.analyze` with the network.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["COARSE", "FILLED", "REFINED", "Refinement", "coarse_levels", "coarse_to_fine"]

COARSE, REFINED, FILLED = 0, 1, 2

#: Per-window maps the callback must return (``lattice_rotation`` is optional).
REQUIRED = ("classes", "interface", "unknown", "mutual_information")


@dataclass
class Refinement:
    """Dense maps from a coarse-to-fine evaluation.

    Attributes
    ----------
    maps : dict of str to ndarray of shape (rows, cols, ...)
        Every map the callback returned, on the whole grid.
    filled : ndarray of shape (rows, cols), bool
        Windows interpolated from their cell's corners, not evaluated.
    level : ndarray of shape (rows, cols), int8
        0 coarse, 1 refined, 2 filled.
    """

    maps: dict[str, np.ndarray]
    filled: np.ndarray
    level: np.ndarray

    @property
    def evaluated_fraction(self) -> float:
        """Share of the grid's windows that were evaluated (not filled)."""
        return float(1.0 - self.filled.mean()) if self.filled.size else 1.0


def coarse_levels(n: int, k: int) -> np.ndarray:
    """Coarse indices along one axis of ``n`` windows: 0, k, 2k, … and n − 1."""
    if n < 1 or k < 1:
        raise ValueError(f"need n ≥ 1 windows and a step k ≥ 1, got n={n}, k={k}")
    return np.unique(np.concatenate([np.arange(0, n, k), [n - 1]]))


class _Grid:
    """The dense maps being filled in, and which windows are computed."""

    def __init__(self, shape: tuple[int, int], evaluate: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]):
        self.shape = shape
        self.evaluate = evaluate
        self.maps: dict[str, np.ndarray] = {}
        self.done = np.zeros(shape, bool)
        self.level = np.full(shape, FILLED, np.int8)

    def compute(self, mask: np.ndarray, level: int) -> None:
        todo = mask & ~self.done
        if not todo.any():
            return
        rows, cols = np.nonzero(todo)
        out = self.evaluate(rows, cols)
        missing = [k for k in REQUIRED if k not in out]
        if missing:
            raise ValueError(f"evaluate() must return {', '.join(missing)}")
        for name, values in out.items():
            values = np.asarray(values)
            if name not in self.maps:
                fill = np.nan if values.dtype.kind == "f" else 0
                self.maps[name] = np.full(self.shape + values.shape[1:], fill, values.dtype)
            self.maps[name][rows, cols] = values
        self.done[rows, cols] = True
        self.level[rows, cols] = level


def _cells(rc: np.ndarray, cc: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Cells (r0, r1, c0, c1), inclusive bounds, between consecutive coarse rows and columns."""
    rp = list(itertools.pairwise(rc)) or [(int(rc[0]), int(rc[0]))]
    cp = list(itertools.pairwise(cc)) or [(int(cc[0]), int(cc[0]))]
    return [(int(a), int(b), int(c), int(d)) for a, b in rp for c, d in cp]


def _agree(g: _Grid, cell: tuple[int, int, int, int], period: np.ndarray | None, mi_tol: float, rot_tol: float) -> bool:
    """True if every computed window of ``cell`` is bulk, known and like its corners (class, MI, rotation)."""
    r0, r1, c0, c1 = cell
    sl = (slice(r0, r1 + 1), slice(c0, c1 + 1))
    done = g.done[sl]
    m = g.maps
    if (m["interface"][sl] & done).any() or (m["unknown"][sl] & done).any():
        return False
    cls = m["classes"][sl][done]
    if cls.size and (cls != cls[0]).any():
        return False
    mi = m["mutual_information"][sl][done]
    if mi.size and float(mi.max() - mi.min()) > mi_tol:
        return False
    rot = m.get("lattice_rotation")
    if rot is not None and period is not None and cls.size:
        a = rot[sl][done]
        if np.isnan(a).any() != np.isnan(a).all():
            return False
        if not np.isnan(a).all():
            p = float(period[int(cls[0])])
            d = (a - a[0] + p / 2) % p - p / 2
            if float(d.max() - d.min()) > rot_tol:
                return False
    return True


def _flagged_cells(g: _Grid, cells: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Cells holding a computed interface or unknown window, bool of shape (len(cells),)."""
    flag = (g.maps["interface"] | g.maps["unknown"]) & g.done
    return np.array([bool(flag[r0 : r1 + 1, c0 : c1 + 1].any()) for r0, r1, c0, c1 in cells])


def _touching(which: np.ndarray, cell_shape: tuple[int, int]) -> np.ndarray:
    """Cells that share a window with any cell in ``which`` (itself and its 8 neighbours on the cell grid)."""
    from scipy.ndimage import binary_dilation

    grid = which.reshape(cell_shape)
    return binary_dilation(grid, structure=np.ones((3, 3), bool)).ravel() if grid.any() else which.copy()


def _fill(g: _Grid, cell: tuple[int, int, int, int], period: np.ndarray | None) -> None:
    """Fill the windows of an agreeing cell not computed yet from its four corners."""
    r0, r1, c0, c1 = cell
    rr, cc = np.mgrid[r0 : r1 + 1, c0 : c1 + 1]
    todo = ~g.done[r0 : r1 + 1, c0 : c1 + 1]
    if not todo.any():
        return
    tr = (rr - r0) / max(1, r1 - r0)
    tc = (cc - c0) / max(1, c1 - c0)
    w = [(1 - tr) * (1 - tc), (1 - tr) * tc, tr * (1 - tc), tr * tc]
    corners = [(r0, c0), (r0, c1), (r1, c0), (r1, c1)]
    sl = (slice(r0, r1 + 1), slice(c0, c1 + 1))
    for name, arr in g.maps.items():
        vals = [arr[r, c] for r, c in corners]
        if name == "lattice_rotation" and period is not None and not np.isnan(vals[0]):
            p = float(period[int(g.maps["classes"][r0, c0])])
            rel = [(v - vals[0] + p / 2) % p - p / 2 for v in vals]
            est = vals[0] + sum(wi * ri for wi, ri in zip(w, rel, strict=True))
            est = (est + p / 2) % p - p / 2
        elif arr.dtype.kind == "f":
            est = sum(wi[(...,) + (None,) * (arr.ndim - 2)] * np.asarray(v) for wi, v in zip(w, vals, strict=True))
        else:
            est = np.broadcast_to(vals[0], rr.shape + arr.shape[2:])
        arr[sl][todo] = np.asarray(est, dtype=arr.dtype)[todo]


def _compute_cells(g: _Grid, cells: list[tuple[int, int, int, int]], bad: np.ndarray) -> None:
    mask = np.zeros(g.shape, bool)
    for b in np.flatnonzero(bad):
        r0, r1, c0, c1 = cells[int(b)]
        mask[r0 : r1 + 1, c0 : c1 + 1] = True
    g.compute(mask, REFINED)


def _refine_to_fixpoint(
    g: _Grid,
    cells: list[tuple[int, int, int, int]],
    cell_shape: tuple[int, int],
    refined: np.ndarray,
    period: np.ndarray | None,
    mi_tol: float,
    rot_tol: float,
    margin: bool,
) -> None:
    """Refine (in place) every cell whose evaluated windows disagree, until none does."""
    while True:
        bad = np.array([not refined[i] and not _agree(g, c, period, mi_tol, rot_tol) for i, c in enumerate(cells)])
        if margin:
            bad |= _touching(_flagged_cells(g, cells), cell_shape) & ~refined
        if not bad.any():
            return
        _compute_cells(g, cells, bad)
        refined |= bad


def coarse_to_fine(
    shape: tuple[int, int],
    evaluate: Callable[[np.ndarray, np.ndarray], dict[str, Any]],
    *,
    k: int = 4,
    mi_tolerance: float = 0.05,
    rotation_tolerance: float = 2.0,
    period: np.ndarray | None = None,
    on_level: Callable[[int, Refinement], None] | None = None,
    margin: bool = False,
    check: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> Refinement:
    """Evaluate a window grid coarse-to-fine (see the module docstring).

    Parameters
    ----------
    shape : (int, int)
        (rows, cols) of the window grid.
    evaluate : callable
        ``evaluate(rows, cols) -> maps``: rows, cols ndarray of shape (M,) of window indices; maps a dict of ndarrays
        of shape (M, ...) with at least ``classes`` (int), ``interface`` and ``unknown`` (bool) and
        ``mutual_information`` [bit]; ``lattice_rotation`` [°] is compared and interpolated on its period's circle.
        Any other map (e.g. class probabilities, samples used) is carried and interpolated like MI.
    k : int
        Coarse step [windows]; 1 evaluates every window (the dense grid).
    mi_tolerance : float
        Largest MI spread [bit] among a cell's computed windows for it to be filled.
    rotation_tolerance : float
        Largest rotation spread [°] among a cell's computed windows for it to be filled.
    period : ndarray of shape (n_classes,), optional
        Rotation period of each class [°] (:func:`aistem.core.rotation.rotation_period`); needed for rotation.
    margin : bool
        Also refine every cell touching a cell that holds an interface or unknown window (a margin of one cell
        around flagged regions). Without it the cells holding a flagged window are refined, and through their
        shared borders every cell the flagged region reaches.
    check : callable, optional
        ``check(rows, cols, classes) -> flagged`` (bool, shape (M,)): a cheap test of filled windows with the class
        they were given (the domain check, which needs no network). A cell holding a flagged filled window is
        evaluated, and the refinement goes on from there; so the unknown map is the dense grid's. A filled window's
        values depend on its cell's corners only, so each window is checked once.
    on_level : callable, optional
        ``on_level(level, partial)`` after the coarse level (0) with the coarse windows only filled in — the live
        preview — and never again; the final result is the return value.

    Returns
    -------
    Refinement
    """
    gr, gc = int(shape[0]), int(shape[1])
    g = _Grid((gr, gc), evaluate)
    rc, cc = coarse_levels(gr, k), coarse_levels(gc, k)
    coarse = np.zeros((gr, gc), bool)
    coarse[np.ix_(rc, cc)] = True
    g.compute(coarse, COARSE)
    if on_level is not None:
        on_level(0, Refinement({n: a.copy() for n, a in g.maps.items()}, ~g.done, g.level.copy()))
    cells = _cells(rc, cc)
    cell_shape = (max(1, len(rc) - 1), max(1, len(cc) - 1))
    refined = np.zeros(len(cells), bool)
    checked = np.zeros((gr, gc), bool)  # a filled window keeps its corners' values: checked once is enough
    while True:
        _refine_to_fixpoint(g, cells, cell_shape, refined, period, mi_tolerance, rotation_tolerance, margin)
        for i, cell in enumerate(cells):
            if not refined[i]:
                _fill(g, cell, period)
        if check is None or (g.done | checked).all():
            break
        rows, cols = np.nonzero(~g.done & ~checked)
        checked[rows, cols] = True
        flagged = np.asarray(check(rows, cols, g.maps["classes"][rows, cols]), bool)
        if not flagged.any():
            break
        hit = np.zeros((gr, gc), bool)
        hit[rows[flagged], cols[flagged]] = True
        bad = np.array([hit[r0 : r1 + 1, c0 : c1 + 1].any() for r0, r1, c0, c1 in cells]) & ~refined
        _compute_cells(g, cells, bad)
        refined |= bad
    return Refinement(g.maps, ~g.done, g.level)
