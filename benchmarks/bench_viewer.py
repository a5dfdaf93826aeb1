"""How long the viewer takes per message and per redraw: ``python benchmarks/bench_viewer.py`` (offscreen).

Prints a Markdown table: decoding a frame and a result, and one redraw (frame + class overlay + outline +
legend, painted) for several frame sizes. The redraw rate limit (15/s by default) must leave the event loop
free time: a redraw well under 66 ms keeps the window responsive at any stream rate.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _messages(size: int, stride: int) -> tuple[list[bytes], list[bytes]]:
    from aistem.core.protocol import encode_frame, encode_result_arrays

    rng = np.random.default_rng(0)
    img = rng.integers(0, 4000, (size, size), dtype=np.uint16)
    window = 100
    g = (size - window) // stride + 1
    classes = rng.integers(0, 10, (g, g)).astype(np.uint8)
    probs = rng.dirichlet(np.ones(10), (g, g)).astype(np.float32)
    mi = rng.random((g, g), dtype=np.float32) * 0.3
    arrays = {"classes": classes, "probabilities": probs, "mutual_information": mi, "interface": (mi > 0.1).astype(np.uint8)}
    names = [f"class_{i}" for i in range(10)]
    res = encode_result_arrays("bench", 0, arrays, window_px=window, stride_px=stride, class_names=names, pixel_size=0.12)
    return encode_frame(img, "bench", 0, 0.12), res


def _time(fn: Callable[[], object], repeat: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat * 1000.0


def main() -> None:
    import pyqtgraph as pg

    from aistem.core.protocol import decode
    from aistem.gui.window import ViewerWindow

    app = pg.mkQApp("aistem-view-bench")
    rows = []
    for size, stride in ((512, 12), (1024, 12), (2048, 12), (4096, 24)):
        fm, rm = _messages(size, stride)
        f, r = decode(fm), decode(rm)
        t_frame = _time(lambda fm=fm: decode(fm), 20)
        t_result = _time(lambda rm=rm: decode(rm), 20)
        w = ViewerWindow(None)
        w.resize(1280, 820)
        w.show()
        app.processEvents()

        def redraw(w=w, r=r, f=f) -> None:
            w.show_result(r, f)
            w.glw.viewport().repaint()
            app.processEvents()

        t_draw = _time(redraw, 10)
        w.close()
        w.deleteLater()
        app.processEvents()
        rows.append((f"{size}×{size} uint16", f"{r.grid[0]}×{r.grid[1]}", t_frame, t_result, t_draw))
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Qt offscreen\n")
    print("| frame | grid | decode frame [ms] | decode result [ms] | redraw [ms] |")
    print("|---|---|---|---|---|")
    for name, grid, a, b, c in rows:
        print(f"| {name} | {grid} | {a:.2f} | {b:.2f} | {c:.1f} |")


if __name__ == "__main__":
    main()
