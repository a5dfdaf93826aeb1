"""The viewer survives long sessions even on a Qt binding that leaks references to None/True."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    sys.path.insert(0, {root!r})
    import pyqtgraph as pg
    app = pg.mkQApp()
    from aistem.core.protocol import decode
    from aistem.gui.window import ViewerWindow
    from tests.gui.conftest import frame_message, result_message
    w = ViewerWindow(None)
    w.show()
    f, r = decode(frame_message(0)), decode(result_message(0))
    for _ in range(30):
        w.show_result(r, f)
        app.processEvents()
    from pyqtgraph.Qt import QtCore
    o = QtCore.QObject()
    for _ in range(300_000):  # as many C++ void calls as hours of redraws
        o.setObjectName("x")
    assert sys.getrefcount(None) > 1000
    print("alive")
    """
)


def test_a_long_session_does_not_exhaust_none(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([sys.executable, "-c", SCRIPT.format(root=root)], capture_output=True, text=True, timeout=120, cwd=root)
    assert p.returncode == 0 and "alive" in p.stdout, p.stderr[-2000:]
