"""Every Python block of README.md runs as written: the analysis blocks on a simulated lattice saved as a real EMD
file, the acquisition-script block against a real daemon (in a thread, on free ports) standing in for the microscope
side."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from aistem.core.synthetic import square_lattice

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_has_the_python_blocks_these_tests_run():
    assert len(BLOCKS) == 2 and "publish_frame" in BLOCKS[0] and "analyze" in BLOCKS[1]


def test_analysis_block_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("rsciio", reason="the block reads an EMD file: the io extra (RosettaSciIO)")
    from rsciio.emd import file_writer

    from aistem.core.io.results import _extra

    image = square_lattice((130, 130))
    axes = [{"name": n, "size": 130, "scale": 0.012, "offset": 0.0, "units": "nm", "navigate": False} for n in "yx"]
    meta = {"General": {"title": "HAADF"}, "Signal": {"signal_type": ""}}
    file_writer(str(tmp_path / "scan.emd"), {"data": image, "axes": axes, "metadata": meta, **_extra()})
    monkeypatch.chdir(tmp_path)
    namespace = {"image": image}
    exec(compile(BLOCKS[1], "README.md", "exec"), namespace)
    r = namespace["result"]
    assert r.pixel_size == pytest.approx(0.12) and r.classes.shape == (3, 3)
    assert (tmp_path / "result.npz").is_file() and namespace["model"].name == "aistem_default"


def test_acquisition_block_runs_against_a_daemon(monkeypatch, capsys):
    from aistem.core import load_model
    from aistem.daemon.server import Daemon
    from aistem.daemon.sources import client
    from tests.daemon.conftest import fast_settings, free_port

    frames = f"tcp://127.0.0.1:{free_port()}"
    d = Daemon(fast_settings(frames, mode="lossless"), load_model())
    thread = d.serve_in_thread()
    try:
        # the block's endpoints are the daemon's defaults; this test's daemon listens on free ports instead
        monkeypatch.setattr(client, "publish_frame", functools.partial(client.publish_frame, endpoint=frames, connect_wait=2.0))
        monkeypatch.setattr(client, "iter_results", functools.partial(client.iter_results, d.results_endpoint))
        exec(compile(BLOCKS[0], "README.md", "exec"), {"image": square_lattice((130, 130))})
    finally:
        d.request_stop()
        thread.join(30)
        client.close_publishers()
    out = capsys.readouterr().out.split()
    assert out[:4] == ["scan-7", "0", "(1,", "1)"], out
