import json

import numpy as np
import pytest
import tifffile

from aistem.core.io import read_frames, read_image


def test_npy_stack_and_frame_selection(tmp_path):
    stack = np.arange(3 * 20 * 30, dtype=np.uint16).reshape(3, 20, 30)
    np.save(tmp_path / "s.npy", stack)
    data = read_frames(tmp_path / "s.npy")
    assert data.frames.shape == (3, 20, 30) and data.pixel_size is None
    one = read_image(tmp_path / "s.npy", frame=2)
    np.testing.assert_array_equal(one.frames[0], stack[2])
    with pytest.raises(ValueError, match="frame 5 does not exist"):
        read_image(tmp_path / "s.npy", frame=5)


def test_npz_with_pixel_size(tmp_path):
    np.savez(tmp_path / "f.npz", frames=np.zeros((2, 10, 10), np.float32), pixel_size=0.12)
    data = read_frames(tmp_path / "f.npz")
    assert data.frames.shape == (2, 10, 10) and data.pixel_size == pytest.approx(0.12)


def test_tiff_pixel_size_from_imagej_metadata(tmp_path):
    img = np.zeros((16, 16), np.float32)
    # ImageJ: resolution in pixels per unit; 0.012 nm/px = 0.12 Å/px
    tifffile.imwrite(tmp_path / "a.tif", img, imagej=True, resolution=(1 / 0.012, 1 / 0.012), metadata={"unit": "nm"})
    data = read_frames(tmp_path / "a.tif")
    assert data.pixel_size == pytest.approx(0.12, rel=1e-4)
    tifffile.imwrite(tmp_path / "b.tif", img, description=json.dumps({"pixel_size": 0.2}))
    assert read_frames(tmp_path / "b.tif").pixel_size == pytest.approx(0.2)
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((4, 16, 16), np.uint16), photometric="minisblack")
    c = read_frames(tmp_path / "c.tif")
    assert c.frames.shape == (4, 16, 16) and c.pixel_size is None


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such image"):
        read_frames(tmp_path / "missing.npy")
    (tmp_path / "x.xyz").write_bytes(b"xyz")
    with pytest.raises(ValueError, match="unsupported image format"):
        read_frames(tmp_path / "x.xyz")
    (tmp_path / "x.dm3").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="could not read"):
        read_frames(tmp_path / "x.dm3")
    (tmp_path / "x.tif").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="could not read TIFF"):
        read_frames(tmp_path / "x.tif")
    np.save(tmp_path / "v.npy", np.zeros(5))
    with pytest.raises(ValueError, match="2-D image or a stack"):
        read_frames(tmp_path / "v.npy")
    (tmp_path / "t.npy").write_bytes(b"\x93NUMPY broken")
    with pytest.raises(ValueError, match="could not read"):
        read_frames(tmp_path / "t.npy")


def test_analyze_takes_npz_and_npy_paths_like_arrays(small_model, tmp_path):
    """``analyze("file.npz")`` (once "unknown device") reads the file, its pixel size and frame 0."""
    from aistem.core import analyze
    from aistem.core.synthetic import square_lattice

    img = square_lattice((130, 130)).astype(np.float32)
    np.savez(tmp_path / "scan.npz", frames=np.stack([img, img[::-1]]), pixel_size=0.12)
    np.save(tmp_path / "scene.npy", img)
    (tmp_path / "scene.json").write_text(json.dumps({"pixel_size": 0.12}))
    kw = {"model": small_model, "samples": 2, "seed": 1, "stride": 3.0, "rotation": False, "domain": False}
    ref = analyze(img, 0.12, **kw)
    for path in (tmp_path / "scan.npz", str(tmp_path / "scene.npy")):
        r = analyze(path, **kw)
        assert r.pixel_size == pytest.approx(0.12) and r.window_px == ref.window_px == 100
        np.testing.assert_array_equal(r.classes, ref.classes)
        np.testing.assert_allclose(r.mutual_information, ref.mutual_information, atol=1e-6)
