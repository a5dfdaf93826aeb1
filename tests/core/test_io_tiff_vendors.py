"""TIFF calibrations as each vendor's software writes them, read through RosettaSciIO.

Small files built here with tifffile carry exactly the tags the vendors write (and RosettaSciIO's TIFF reader looks
for): DigitalMicrograph's private tags 65003–65011, ImageJ's description and resolution, FEI/Thermo Fisher SEM/FIB
metadata (tag 34680 ``FEI_SFEG`` or 34682 ``FEI_HELIOS``, an INI text with ``[Scan] PixelWidth`` in m; a FIB image with
``[IRBeam] HFW`` over ``[Image] ResolutionX`` instead), and Zeiss SmartSEM's tag 34118 ``CZ_SEM`` (its fourth unnamed
value is the pixel size [m] at 1024 px across, with ``AP_IMAGE_PIXEL_SIZE`` beside it). Real files of the first two
are tested in ``test_io_real_files.py`` when ../shared is there.
"""

import numpy as np
import pytest
import tifffile

from aistem.core.io import list_signals, read_frames

pytest.importorskip("rsciio", reason="the io extra (RosettaSciIO) is not installed")

IMG = np.random.default_rng(3).integers(0, 4000, (48, 64), dtype=np.uint16)


def _fei(path, tag: int, pixel_m: float | None, fib: bool = False) -> None:
    sections = ["[User]", "Date=12/03/2026", "Time=10:11:12 AM", "User=user", "[System]", "SystemType=Helios G4 UX"]
    if pixel_m is not None and not fib:
        sections += ["[Scan]", "InternalScan=true", "Dwelltime=1e-06", f"PixelWidth={pixel_m:.6e}",
                     f"PixelHeight={pixel_m:.6e}", f"HorFieldsize={pixel_m * IMG.shape[1]:.6e}"]  # fmt: skip
    if fib:
        sections += ["[IRBeam]", f"HFW={pixel_m * IMG.shape[1]:.6e}", f"VFW={pixel_m * IMG.shape[0]:.6e}",
                     "[Image]", f"ResolutionX={IMG.shape[1]}", f"ResolutionY={IMG.shape[0]}"]  # fmt: skip
    sections += ["[Beam]", "HV=30000", "[EBeam]", "BeamCurrent=5e-11"]
    text = "\r\n".join(sections) + "\r\n"
    tifffile.imwrite(path, IMG, extratags=[(tag, "s", 0, text, True)])


def _zeiss(path, pixel_m: float) -> None:
    # SmartSEM: unnamed values first (the fourth is the pixel size in m for a 1024-px-wide image), then named ones
    at_1k = pixel_m * IMG.shape[1] / 1024
    lines = ["0", "0", "0", f"{at_1k:.6e}", "0", "AP_IMAGE_PIXEL_SIZE", f"Image Pixel Size = {pixel_m * 1e9:.4g} nm",
             "AP_MAG", "Mag = 200.00 K X", "DP_DETECTOR_CHANNEL", "Signal A = InLens"]  # fmt: skip
    tifffile.imwrite(path, IMG, extratags=[(34118, "s", 0, "\r\n".join(lines) + "\r\n", True)])


def _dm(path, scale: float, unit: str) -> None:
    # DigitalMicrograph's TIFF export: units (65003 rows, 65004 cols), scales (65009 rows, 65010 cols), offsets
    u = unit.encode("latin-1")  # DM writes µ as the one byte 0xB5
    tags = [(65003, "s", 0, u, True), (65004, "s", 0, u, True), (65009, "d", 1, scale, True),
            (65010, "d", 1, scale, True), (65006, "d", 1, 0.0, True), (65007, "d", 1, 0.0, True)]  # fmt: skip
    tifffile.imwrite(path, IMG, extratags=tags)


@pytest.mark.parametrize("tag", [34680, 34682], ids=["FEI_SFEG", "FEI_HELIOS"])
def test_fei_thermo_sem_tiff(tmp_path, tag):
    _fei(tmp_path / "fei.tif", tag, 1.5e-11)  # 0.15 Å/px
    (info,) = list_signals(tmp_path / "fei.tif")
    assert info.selected and info.kind == "image" and info.pixel_size == pytest.approx(0.15, rel=1e-6)
    data = read_frames(tmp_path / "fei.tif")
    np.testing.assert_array_equal(data.frames[0], IMG)


def test_fei_fib_tiff_pixel_size_from_field_width(tmp_path):
    _fei(tmp_path / "fib.tif", 34682, 2.0e-9, fib=True)  # 20 Å/px, from [IRBeam] HFW / [Image] ResolutionX
    assert read_frames(tmp_path / "fib.tif").pixel_size == pytest.approx(20.0, rel=1e-6)


def test_fei_tiff_without_scan_section_is_uncalibrated(tmp_path):
    _fei(tmp_path / "nocal.tif", 34682, None)
    (info,) = list_signals(tmp_path / "nocal.tif")
    assert info.pixel_size is None and info.note


def test_zeiss_sem_tiff(tmp_path):
    _zeiss(tmp_path / "zeiss.tif", 1.2e-11)  # 0.12 Å/px
    (info,) = list_signals(tmp_path / "zeiss.tif")
    assert info.kind == "image" and info.pixel_size == pytest.approx(0.12, rel=1e-5)


@pytest.mark.parametrize(("scale", "unit", "angstrom"), [(0.012, "nm", 0.12), (1.2e-5, "µm", 0.12), (12.0, "pm", 0.12)])
def test_digitalmicrograph_tiff_tags(tmp_path, scale, unit, angstrom):
    _dm(tmp_path / "dm.tif", scale, unit)
    (info,) = list_signals(tmp_path / "dm.tif")
    assert info.kind == "image" and info.pixel_size == pytest.approx(angstrom, rel=1e-6)


def test_imagej_tiff_stack_in_nm(tmp_path):
    stack = np.stack([IMG, IMG[::-1]])
    tifffile.imwrite(tmp_path / "ij.tif", stack, imagej=True, resolution=(1 / 0.015, 1 / 0.015),
                     metadata={"unit": "nm", "axes": "ZYX"})  # fmt: skip
    data = read_frames(tmp_path / "ij.tif")
    assert data.frames.shape == (2, 48, 64) and data.pixel_size == pytest.approx(0.15, rel=1e-4)
