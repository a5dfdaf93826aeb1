"""Starting Keras: no scikit-learn, no TensorFlow start-up notices, nothing else lost."""

import os
import subprocess
import sys

import pytest

from aistem.core.startup import without_start_up_notices

NOTICES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796281614.049918    3769 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. To turn "
    "them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n"
    "I0000 00:00:1796279861.510559    1803 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.\n"
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.\n"
)


def test_only_the_notices_are_dropped():
    other = "E0000 something went wrong in a kernel\nTraceback (most recent call last):\n"
    assert without_start_up_notices(NOTICES) == ""
    assert without_start_up_notices(NOTICES[:60] + "\n" + other) == NOTICES[:60] + "\n" + other  # a cut line stays
    assert without_start_up_notices(other + NOTICES + "last line without newline") == other + "last line without newline"


# a second interpreter start (≈ 7 s) for logs asked for (level 0): make test-slow
@pytest.mark.parametrize("level", ["3", pytest.param("0", marks=pytest.mark.slow)])
def test_first_keras_import_is_quiet_unless_logs_are_asked_for(level):
    code = (
        "import sys\n"
        "from aistem.core.startup import import_keras\n"
        "print('before', file=sys.stderr, flush=True)\n"
        "keras = import_keras()\n"
        "print('after', keras.ops.convert_to_numpy(keras.ops.ones(2)).sum(), file=sys.stderr)\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": level}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert lines[0] == "before" and lines[-1] == "after 2.0"
    noisy = "oneDNN custom operations" in out.stderr
    assert noisy == (level == "0"), out.stderr  # level 0: the user asked for TensorFlow's logs, they are all there


def test_two_threads_importing_at_once_leave_stderr_where_it_was():
    code = (
        "import os, sys, threading\n"
        "from aistem.core.startup import import_keras\n"
        "got = []\n"
        "threads = [threading.Thread(target=lambda: got.append(import_keras())) for _ in range(2)]\n"
        "[t.start() for t in threads]\n"
        "print('during', file=sys.stderr, flush=True)\n"
        "[t.join() for t in threads]\n"
        "os.write(2, b'raw after\\n')\n"
        "print(len(got), got[0] is got[1], file=sys.stderr)\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert lines[-2:] == ["raw after", "2 True"] and "during" in lines, out.stderr  # held back, then passed on
    assert "oneDNN custom operations" not in out.stderr
