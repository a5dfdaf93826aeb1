"""The dataset command's engine: HDF5 layout, labels, resume after an interruption, settings checks."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from aistem.training.config import load_simulate_config
from aistem.training.crystals import CLASS_NAMES
from aistem.training.dataset import generate_dataset, plan_dataset, read_dataset


def small_config(materials=None, **dataset):
    """Two classes at their own metal (the paper's set: [materials] lists empty) unless ``materials`` is given."""
    return load_simulate_config(
        overrides={
            "dataset": {"classes": ["FCC_Cu_100", "HCP_Ti_0001"], "lattice_deltas": [0.0, 0.1], **dataset},
            "simulation": {"cell_size": 16.0, "thickness": 4.0},
            "augment": {"rotation_step": 45.0, "shear_step": 0.05},
            "materials": materials or {"fcc": [], "bcc": [], "hcp": [], "exclude": []},
        }
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("haadf-cache")


def test_dataset_is_written_resumed_and_labelled(tmp_path, cache):
    cfg = small_config()
    plan = plan_dataset(cfg)
    per = plan.recipe.per_base
    assert per == 3 * 3 + 4 * 14 and plan.total == 4 * per
    out = tmp_path / "set.h5"
    # an interrupted run: two of four base images done
    partial = generate_dataset(cfg, out, progress=False, cache_dir=cache, max_units=2)
    assert partial == tmp_path / "set.h5.partial" and not out.exists()
    assert sorted(p.name for p in partial.glob("unit_*.npz")) == ["unit_0000.npz", "unit_0001.npz"]
    messages = []
    assert generate_dataset(cfg, out, progress=False, cache_dir=cache, log=messages.append) == out
    assert any("resuming: 2 of 4" in m for m in messages)
    assert not partial.exists()

    d = read_dataset(out)
    assert d["descriptors"].shape == (plan.total, 64, 64) and d["descriptors"].dtype == np.float32
    assert d["descriptors"].min() >= 0 and d["descriptors"].max() <= 1 and np.isfinite(d["descriptors"]).all()
    assert d["class_names"] == list(CLASS_NAMES)
    cu, ti = CLASS_NAMES.index("FCC_Cu_100"), CLASS_NAMES.index("HCP_Ti_0001")
    assert np.array_equal(np.bincount(d["labels"], minlength=10)[[cu, ti]], [2 * per, 2 * per])
    assert {round(float(v), 3) for v in np.unique(d["meta"]["lattice_delta"])} == {0.0, 0.1}
    assert set(np.unique(d["meta"]["rotation"])) == {0.0, 45.0, 90.0}
    assert set(np.unique(d["meta"]["augmentation"])) == set(range(6))
    a = d["attrs"]
    assert a["pixel_size"] == 0.12 and a["window"] == 12.0 and a["window_px"] == 100 and a["threshold"] == 0.1
    assert "aistem" in a["code_version"] and json.loads(a["config"])["dataset"]["lattice_deltas"] == [0.0, 0.1]
    assert json.loads(a["units"])[0] == ["FCC_Cu_100", 0.0, "Cu", 3.63, None]
    ranges = json.loads(a["lattice_constants"])
    assert ranges == {"FCC_Cu_100": {"a": [3.63, 3.73]}, "HCP_Ti_0001": {"a": [2.95, 3.05], "c": [4.68, 4.8386]}}

    # the resumed file equals an uninterrupted run with the same seed
    full = generate_dataset(cfg, tmp_path / "full.h5", progress=False, cache_dir=cache)
    with h5py.File(full) as f:
        assert np.array_equal(f["descriptors"][()], d["descriptors"])

    # the training issue's reader understands the file
    from aistem.training.train import load_training_data

    td = load_training_data(out, hash_file=False)
    assert td.x.shape == (plan.total, 64, 64) and td.class_names == list(CLASS_NAMES) and td.pixel_size == 0.12
    assert td.domain == {"lattice_constants": ranges}

    # a second run has nothing to do; other settings do not silently mix
    messages.clear()
    generate_dataset(cfg, out, progress=False, cache_dir=cache, log=messages.append)
    assert any("nothing to do" in m for m in messages)
    with pytest.raises(FileExistsError, match="other settings"):
        generate_dataset(small_config(seed=5), out, progress=False, cache_dir=cache)


def test_descriptors_are_those_of_the_core(tmp_path, cache):
    """Each stored descriptor is aistem.core's FFT-HAADF descriptor of the stored window."""
    from aistem.core.descriptor import fft_haadf_descriptor

    cfg = small_config(classes=["BCC_Fe_110"], lattice_deltas=[0.0], store_windows=True)
    out = generate_dataset(cfg, tmp_path / "w.h5", progress=False, cache_dir=cache)
    d = read_dataset(out, windows=True)
    assert d["windows"].shape == (d["labels"].size, 100, 100) and d["windows"].dtype == np.float16
    clean = np.flatnonzero(d["meta"]["augmentation"] == 0)[:5]
    again = fft_haadf_descriptor(d["windows"][clean].astype(np.float32))
    np.testing.assert_allclose(again, d["descriptors"][clean], atol=2e-2)  # float16 windows


def test_bad_settings_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown class"):
        plan_dataset(small_config(classes=["FCC_Cu_999"]))
    with pytest.raises(ValueError, match="lattice_deltas"):
        plan_dataset(small_config(lattice_deltas=[]))
    cfg = load_simulate_config(overrides={"simulation": {"cell_size": -1.0}})
    with pytest.raises(ValueError, match="cell_size"):
        plan_dataset(cfg)
    cfg = load_simulate_config(overrides={"augment": {"window": 6.0}})
    with pytest.raises(ValueError, match="smaller than the 64"):
        plan_dataset(cfg)


@pytest.mark.timeout(600)
def test_dataset_on_a_local_dask_cluster_equals_in_process_and_resumes(tmp_path, cache):
    pytest.importorskip("distributed", reason="Dask distributed is not installed (the cluster extra)")
    from aistem.core.cluster import cluster_client

    cfg = small_config()
    local = generate_dataset(cfg, tmp_path / "local.h5", progress=False, cache_dir=cache)
    out = tmp_path / "dask.h5"
    partial = generate_dataset(cfg, out, progress=False, cache_dir=cache, max_units=1)  # a stopped run, resumed on Dask
    assert sorted(p.name for p in partial.glob("unit_*.npz")) == ["unit_0000.npz"]
    messages: list[str] = []
    with cluster_client(workers=2) as client:
        assert generate_dataset(cfg, out, progress=False, cache_dir=cache, client=client, log=messages.append) == out
    assert any("resuming: 1 of 4" in m for m in messages)
    a, b = read_dataset(local), read_dataset(out)
    np.testing.assert_array_equal(a["descriptors"], b["descriptors"])
    np.testing.assert_array_equal(a["labels"], b["labels"])
    for k in a["meta"]:
        np.testing.assert_array_equal(a["meta"][k], b["meta"][k])
