"""``aistem replay --signal``: the chosen signal of a microscope file is what is sent."""

import numpy as np
import pytest

from aistem.daemon.sources.replay import load_series


def test_load_series_chooses_the_signal(tmp_path):
    pytest.importorskip("rsciio", reason="the io extra (RosettaSciIO) is not installed")
    from tests.cli.test_info_and_files import _two_signal_hspy

    path = _two_signal_hspy(tmp_path)
    (s,) = load_series([path])
    assert s.frames.shape == (2, 130, 130) and s.pixel_size == pytest.approx(0.12)
    assert s.meta["signal"] == 1 and s.meta["signal_title"] == "HAADF"
    (again,) = load_series([path], signal="HAADF")
    np.testing.assert_array_equal(again.frames, s.frames)
    with pytest.raises(ValueError, match="spectrum-image"):
        load_series([path], signal=0)
