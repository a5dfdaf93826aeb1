"""Reading every format a clean checkout can make itself: files written at test time with RosettaSciIO, tifffile,
PIL and NumPy (no ../shared needed). The real files of microscope software are in test_io_real_files.py."""

import json

import numpy as np
import pytest
import tifffile

from aistem.core.io import list_signals, normalise_unit, parse_frames, read_frames, read_image, to_angstrom
from aistem.core.io.results import _extra
from aistem.core.io.signals import SignalInfo, choose_signal
from aistem.core.io.units import axis_kind

pytest.importorskip("rsciio", reason="the io extra (RosettaSciIO) is not installed")


def _signal(data, units="nm", scale=0.012, title="HAADF", nav=0, stype="", names=None):
    names = names or [f"a{i}" for i in range(data.ndim)]
    axes = [
        {"name": n, "size": data.shape[i], "scale": 1.0 if i < nav else scale, "offset": 0.0,
         "units": "s" if i < nav else units, "navigate": i < nav}
        for i, n in enumerate(names)
    ]  # fmt: skip
    return {"data": data, "axes": axes, "metadata": {"General": {"title": title}, "Signal": {"signal_type": stype}}, **_extra()}


def _hspy(path, *args, **kw):
    from rsciio.hspy import file_writer

    file_writer(str(path), _signal(*args, **kw), show_progressbar=False)
    return path


@pytest.mark.parametrize(
    ("units", "angstrom"),
    [("n_m", 1.2), ("nm", 1.2), ("µm", 1.2e3), ("μm", 1.2e3), ("um", 1.2e3), ("Å", 0.12), ("\u212b", 0.12),
     ("pm", 0.0012), ("m", 1.2e9), ("Angstrom", 0.12), (" NM ", 1.2)],
)  # fmt: skip
def test_unit_spellings(units, angstrom):
    assert to_angstrom(0.12, units) == pytest.approx(angstrom)
    assert axis_kind(units) == "length"


def test_axis_kinds_and_unknown_units():
    assert normalise_unit("1 / nm") == "1/nm" and axis_kind("1 / nm") == "reciprocal"
    assert axis_kind("mrad") == "reciprocal" and axis_kind("eV") == "energy" and axis_kind("keV") == "energy"
    for u in (None, "", "[]", "px", "<undefined>"):
        assert axis_kind(u) == "unknown" and to_angstrom(1.0, u) is None


def test_hspy_image_with_nm_spelled_n_m(tmp_path):
    img = np.random.default_rng(0).random((30, 40)).astype(np.float32)
    p = _hspy(tmp_path / "a.hspy", img, units="n_m")
    data = read_image(p)
    assert data.pixel_size == pytest.approx(0.12)
    np.testing.assert_array_equal(data.frames[0], img)
    assert data.meta["title"] == "HAADF" and data.meta["kind"] == "image"


def test_hspy_stack_every_frame_and_ranges(tmp_path):
    stack = np.arange(4 * 20 * 20, dtype=np.uint16).reshape(4, 20, 20)
    p = _hspy(tmp_path / "s.hdf5", stack, units="Å", scale=0.1, nav=1)
    (info,) = list_signals(p)
    assert info.kind == "stack" and info.shape == (4, 20, 20) and info.pixel_size == pytest.approx(0.1) and info.selected
    assert read_frames(p).frames.shape == (4, 20, 20)
    two = read_frames(p, frames="1:3")
    assert two.meta["frame_indices"] == [1, 2]
    np.testing.assert_array_equal(two.frames, stack[1:3])
    np.testing.assert_array_equal(read_image(p, frame=-1).frames[0], stack[3])
    with pytest.raises(ValueError, match="frame 9 does not exist"):
        read_frames(p, frames="9")


def test_scale_without_units_is_unknown(tmp_path):
    p = _hspy(tmp_path / "u.hspy", np.zeros((20, 20), np.float32), units="", scale=1.0)
    (info,) = list_signals(p)
    assert info.kind == "image" and info.pixel_size is None and "without units" in info.note


@pytest.mark.parametrize(
    ("units", "stype", "shape", "nav", "kind", "said"),
    [
        ("1/nm", "", (16, 16), 0, "diffraction", "diffraction pattern"),
        ("nm", "electron_diffraction", (16, 16), 0, "diffraction", "diffraction pattern"),
        ("eV", "EELS", (64,), 0, "spectrum", "spectrum"),
        ("eV", "EELS", (3, 4, 64), 2, "spectrum-image", "spectrum-image"),
    ],
)
def test_diffraction_and_spectra_are_refused_saying_what_they_are(tmp_path, units, stype, shape, nav, kind, said):
    p = _hspy(tmp_path / "d.hspy", np.ones(shape, np.float32), units=units, stype=stype, nav=nav, title="thing")
    (info,) = list_signals(p)
    assert info.kind == kind and not info.selected and info.pixel_size is None
    with pytest.raises(ValueError, match=f"{said}.*AI-STEM analyses real-space"):
        read_frames(p)
    with pytest.raises(ValueError, match=said):
        read_frames(p, signal=0)


def test_emd_ncem_written_by_rsciio(tmp_path):
    from rsciio.emd import file_writer

    img = np.random.default_rng(1).random((24, 32)).astype(np.float32)
    file_writer(str(tmp_path / "a.emd"), _signal(img, units="nm", scale=0.015))
    data = read_image(tmp_path / "a.emd")
    assert data.pixel_size == pytest.approx(0.15) and data.frames.shape == (1, 24, 32)


def test_tiff_written_by_rsciio_and_imagej_micrometres(tmp_path):
    from rsciio.tiff import file_writer

    file_writer(str(tmp_path / "r.tif"), _signal(np.zeros((3, 20, 24), np.float32), units="µm", scale=1.2e-5, nav=1))
    data = read_frames(tmp_path / "r.tif")
    assert data.frames.shape == (3, 20, 24) and data.pixel_size == pytest.approx(0.12)
    tifffile.imwrite(tmp_path / "ij.tif", np.zeros((16, 16), np.float32), imagej=True,
                     resolution=(1 / 1.2e-5, 1 / 1.2e-5), metadata={"unit": "micron"})  # fmt: skip
    assert read_image(tmp_path / "ij.tif").pixel_size == pytest.approx(0.12, rel=1e-4)


def test_rgb_with_equal_channels_is_one_grey_image(tmp_path):
    grey = np.random.default_rng(2).integers(0, 255, (40, 50), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", np.stack([grey] * 3, axis=-1), photometric="rgb")
    data = read_frames(tmp_path / "rgb.tif")
    assert data.frames.shape == (1, 40, 50)
    np.testing.assert_array_equal(data.frames[0], grey)
    from PIL import Image

    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "rgb.png")
    Image.fromarray(grey).save(tmp_path / "grey.jpg", quality=100)
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png").frames[0], grey)
    jpg = read_image(tmp_path / "grey.jpg")
    assert jpg.frames.shape == (1, 40, 50) and jpg.pixel_size is None
    colour = np.stack([grey, grey[::-1], grey], axis=-1)
    Image.fromarray(colour).save(tmp_path / "colour.png")
    with pytest.raises(ValueError, match="colour .* channels differ"):
        read_frames(tmp_path / "colour.png")


def test_simulate_scene_npy_with_json_sidecar(tmp_path):
    from aistem.training.scenes import save_scene

    img = np.random.default_rng(3).random((40, 40)).astype(np.float32)
    paths = save_scene(tmp_path, "scene", img, np.zeros((40, 40), np.uint8), {"pixel_size": 0.1, "legend": ["a"]})
    data = read_image(paths["image"])
    assert data.pixel_size == pytest.approx(0.1)
    np.testing.assert_array_equal(data.frames[0], img)
    (tmp_path / "bad.npy").write_bytes(paths["image"].read_bytes())
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        read_image(tmp_path / "bad.npy")
    np.save(tmp_path / "plain.npy", img)
    (tmp_path / "plain.json").write_text(json.dumps({"other": 1}))
    assert read_image(tmp_path / "plain.npy").pixel_size is None


def test_signal_choice_prefers_haadf_then_adf_then_df():
    def infos(*titles, kinds=None):
        return [SignalInfo(i, t, (kinds or {}).get(t, "image"), (8, 8), 0.1) for i, t in enumerate(titles)]

    assert choose_signal(infos("BF", "DF4", "HAADF")).title == "HAADF"
    assert choose_signal(infos("EDS", "BF", "DF4"), None).title == "DF4"
    assert choose_signal(infos("C", "ADF"), None).title == "ADF"
    assert choose_signal(infos("BF", "ABF")).title == "BF"  # no dark field: the first image
    assert choose_signal(infos("EDS", "BF", kinds={"EDS": "spectrum-image"})).title == "BF"
    assert choose_signal(infos("BF", "HAADF"), "BF").title == "BF"
    assert choose_signal(infos("BF", "HAADF"), "0").title == "BF"
    assert choose_signal(infos("BF", "HAADF"), -1).title == "HAADF"
    with pytest.raises(ValueError, match="no signal 'X'.*0 'BF'"):
        choose_signal(infos("BF", "HAADF"), "X")
    with pytest.raises(ValueError, match="spectrum-image.*real-space images here: 1 'BF'"):
        choose_signal(infos("EDS", "BF", kinds={"EDS": "spectrum-image"}), "EDS")


def test_parse_frames():
    assert parse_frames("all", 3) == [0, 1, 2] and parse_frames("1", 3) == [1] and parse_frames("-1", 3) == [2]
    assert parse_frames("1:", 4) == [1, 2, 3] and parse_frames(":2", 4) == [0, 1] and parse_frames(None, 2) == [0]
    for bad in ("x", "1:2:3:4", "a:b"):
        with pytest.raises(ValueError, match="give all, a frame number N"):
            parse_frames(bad, 3)
    for missing in ("3", "5:9"):
        with pytest.raises(ValueError, match="does not exist|do not exist"):
            parse_frames(missing, 3)


def test_tiff_without_rosettasciio_reads_with_tifffile(tmp_path):
    from aistem.core.io.tiff_fallback import open_tiff

    tifffile.imwrite(tmp_path / "ij.tif", np.zeros((2, 16, 16), np.float32), imagej=True,
                     resolution=(1 / 0.012, 1 / 0.012), metadata={"unit": "nm"})  # fmt: skip
    ((info, data),) = open_tiff(tmp_path / "ij.tif")
    assert info.kind == "stack" and data.shape == (2, 16, 16) and info.pixel_size == pytest.approx(0.12, rel=1e-4)
    grey = np.arange(20 * 30, dtype=np.uint8).reshape(20, 30)
    tifffile.imwrite(tmp_path / "rgb.tif", np.stack([grey] * 3, axis=-1), photometric="rgb")
    ((info, data),) = open_tiff(tmp_path / "rgb.tif")
    assert info.kind == "image" and info.pixel_size is None
    np.testing.assert_array_equal(data, grey)
