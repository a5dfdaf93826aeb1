import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aistem.core.windows import extract_windows, to_pixels, window_grid


def test_grid_positions_start_at_origin_and_stay_inside():
    g = window_grid((250, 310), 100, 12)
    assert g.shape == ((250 - 100) // 12 + 1, (310 - 100) // 12 + 1)
    o = g.origins
    assert tuple(o[0, 0]) == (0, 0)
    assert tuple(o[0, 1]) == (0, 12)
    assert tuple(o[1, 0]) == (12, 0)
    assert o[..., 0].max() + 100 <= 250 and o[..., 1].max() + 100 <= 310
    assert o[..., 0].max() + 12 + 100 > 250  # one more step would leave the image


@given(
    rows=st.integers(20, 90),
    cols=st.integers(20, 90),
    w=st.integers(1, 20),
    s=st.integers(1, 9),
)
def test_extracted_windows_equal_plain_slices(rows, cols, w, s):
    img = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols)
    g = window_grid(img.shape, w, s)
    got = extract_windows(img, g)
    ref = np.stack([img[r : r + w, c : c + w] for r, c in g.origins.reshape(-1, 2)])
    np.testing.assert_array_equal(got, ref)
    # arbitrary ranges of the flat window index
    a, b = g.size // 3, max(g.size // 3 + 1, 2 * g.size // 3)
    np.testing.assert_array_equal(extract_windows(img, g, a, b), ref[a:b])


def test_angstrom_to_pixels():
    assert to_pixels(12.0, 0.12) == 100
    assert to_pixels(1.5, 0.12) == 12  # 12.5 rounds to even
    assert to_pixels(0.01, 0.12) == 1
    with pytest.raises(ValueError, match="pixel size"):
        to_pixels(12.0, 0.0)
    with pytest.raises(ValueError, match="pixel size"):
        to_pixels(12.0, float("nan"))
    with pytest.raises(ValueError, match="window must be a positive"):
        to_pixels(-1.0, 0.12, name="window")


def test_window_grid_errors():
    with pytest.raises(ValueError, match="smaller than one window"):
        window_grid((80, 200), 100, 10, pixel_size=0.12)
    with pytest.raises(ValueError, match="2-D"):
        window_grid((3, 80, 200), 10, 10)
    with pytest.raises(ValueError, match="stride"):
        window_grid((200, 200), 100, 0)
    with pytest.raises(ValueError, match="window"):
        window_grid((200, 200), 0, 10)
