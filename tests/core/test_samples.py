"""The shipped sample series is found without importing the package that holds it (the daemon may not depend on
training)."""

from __future__ import annotations

import subprocess
import sys


def test_sample_series_is_found_without_importing_training():
    code = (
        "import sys; from aistem.core.samples import sample_series_path; p = sample_series_path();"
        "import numpy as np; n = len(np.load(p)['frames']) if p else -1;"
        "bad = [m for m in sys.modules if m.startswith('aistem.training')];"
        "print(p, n, bad); sys.exit(1 if bad or p is None or n < 1 else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
