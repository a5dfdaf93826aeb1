"""Real files written by microscope software (RosettaSciIO's test data in ../shared/real-files): the pixel size, the
signal chosen, stacks and refusals, as a user meets them."""

import gzip
import shutil
import zipfile
from pathlib import Path

import pytest

from aistem.core.io import list_signals, read_frames

pytest.importorskip("rsciio", reason="the io extra (RosettaSciIO) is not installed")

REAL = Path(__file__).resolve().parents[3] / "shared" / "real-files"


@pytest.fixture(scope="module")
def real() -> Path:
    if not REAL.is_dir():
        pytest.skip("needs ../shared/real-files (microscope files from RosettaSciIO's test data), absent on this checkout")
    return REAL


# file, selected index, kind, frames read, pixel size [Å/px] (None: unknown), detector
IMAGES = [
    ("digitalmicrograph/2D/test_STEM_image.dm3", 0, "image", 1, 2.48538, "DigiScan"),
    ("digitalmicrograph/2D/test-1.dm4", 0, "image", 1, None, None),
    ("emd/fei_example_tem_stack.emd", 0, "stack", 2, 0.0817288, "BM-Ceta"),
    ("emd/example_image.emd", 0, "image", 1, None, None),
    ("tia/new/128x128-TEM_search_1.ser", 0, "image", 1, 52.6121, "BM-Ceta"),
    ("tia/new/128x128-TEM_search.emi", 0, "image", 1, 52.6121, "BM-Ceta"),
    ("mrc/HAADFscan.mrc", 0, "image", 1, 56.7913, None),
    ("tiff/test_loading_image_saved_with_DM_stack.tif", 0, "stack", 2, 1686.74, None),
    ("tiff/test_loading_image_saved_with_imageJ_stack.tif", 0, "stack", 2, 1686.747, None),
    ("tiff/test_loading_image_saved_with_imageJ_no_scale.tif", 0, "image", 1, None, None),
    ("tiff/olympus_SIS.tif", 1, "image", 1, 0.23928, None),
]


@pytest.mark.parametrize(("name", "index", "kind", "n", "px", "detector"), IMAGES, ids=[i[0] for i in IMAGES])
def test_real_images_pixel_size_signal_and_frames(real, name, index, kind, n, px, detector):
    infos = list_signals(real / name)
    chosen = [i for i in infos if i.selected]
    assert [i.index for i in chosen] == [index]
    assert chosen[0].kind == kind and chosen[0].detector == detector
    data = read_frames(real / name)
    assert data.frames.ndim == 3 and data.frames.shape[0] == n and data.meta["signal"] == index
    if px is None:
        assert data.pixel_size is None and chosen[0].note
    else:
        assert data.pixel_size == pytest.approx(px, rel=1e-4)


def test_jeol_sightx_tiff(real, tmp_path):
    with gzip.open(real / "tiff/JEOL-SightX-TEM-mag-dummy.tif.gz") as f, open(tmp_path / "jeol.tif", "wb") as g:
        shutil.copyfileobj(f, g)
    data = read_frames(tmp_path / "jeol.tif")
    assert data.frames.shape == (1, 556, 556) and data.pixel_size == pytest.approx(18.2079, rel=1e-4)


def test_velox_emd_picks_haadf_not_eds(real, tmp_path):
    with zipfile.ZipFile(real / "emd/velox_emd_v11_elementSelection.zip") as z:
        z.extractall(tmp_path)
    (path,) = tmp_path.glob("*.emd")
    infos = list_signals(path)
    kinds = [i.kind for i in infos]
    assert kinds.count("spectrum") == 4 and "spectrum-image" in kinds
    (haadf,) = [i for i in infos if i.selected]
    assert haadf.title == "HAADF" and haadf.kind == "image" and haadf.pixel_size == pytest.approx(19.9685, rel=1e-4)
    assert read_frames(path).meta["title"] == "HAADF"
    with pytest.raises(ValueError, match=r"signal 5 'EDS' is a spectrum-image.*real-space images here: 4 'HAADF'"):
        read_frames(path, signal=5)


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("digitalmicrograph/3D/EELS_SI.dm4", "spectrum-image \\(EELS\\)"),
        ("digitalmicrograph/1D/test-EELS_spectrum.dm3", "spectrum \\(EELS\\)"),
        ("emd/Si100_4D.emd", "diffraction pattern .*1 / nm"),
        ("hspy/example2_v3.1.hspy", "diffraction pattern .*1/nm"),
        ("tia/new/128x128x5-diffraction_preview_1.ser", "diffraction pattern"),
        ("tia/new/128x128x5-diffraction_preview.emi", "diffraction pattern"),
        ("blockfile/test2.blo", "diffraction pattern"),
    ],
)
def test_real_diffraction_and_spectra_are_refused(real, name, said):
    infos = list_signals(real / name)
    assert not any(i.selected for i in infos) and all(i.pixel_size is None for i in infos)
    with pytest.raises(ValueError, match=f"no real-space image to analyse.*{said}"):
        read_frames(real / name)
