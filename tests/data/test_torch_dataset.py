"""HDF5-backed torch dataset: field selection, pairing modes, splits, lazy per-worker files.

The fixture builders here (``write_steady``, ``write_heat``) are reused by the other
operator tests: exact solutions of linear periodic PDEs, so FNO can fit them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data.torch_dataset import OperatorDataset, dataset_from_meta, parse_field_list, split_indices
from tests.helpers.fields import write_heat, write_steady


def test_steady_pairs_shapes_and_values(tmp_path):
    path = write_steady(tmp_path / "s.h5", n=5, res=8, channels=True)
    ds = OperatorDataset(path)
    assert ds.mode == "steady" and len(ds) == 5
    assert (ds.in_channels, ds.out_channels) == (1, 3)  # a | u (2 channels), v
    item = ds[2]
    assert item["x"].shape == (1, 8, 8) and item["y"].shape == (3, 8, 8)
    assert item["x"].dtype == torch.float32 and float(item["t"]) == 0.0
    import h5py

    with h5py.File(path) as f:
        np.testing.assert_allclose(item["y"][1].numpy(), f["outputs/u"][2, ..., 1], rtol=1e-6)
        np.testing.assert_allclose(item["y"][2].numpy(), f["outputs/v"][2], rtol=1e-6)


def test_field_and_channel_selection(tmp_path):
    path = write_steady(tmp_path / "s.h5", n=4, res=8, channels=True)
    ds = OperatorDataset(path, outputs="u:1", indices=[3, 1])
    assert ds.out_channels == 1 and len(ds) == 2
    assert int(ds[0]["index"]) == 3
    assert [str(s) for s in parse_field_list("a:0,1,b")] == ["a:0,1", "b"]
    with pytest.raises(ValueError, match="no field"):
        OperatorDataset(path, inputs="nope")
    with pytest.raises(ValueError, match="channels"):
        OperatorDataset(path, outputs="u:5")


def test_all2all_pairs_and_lead_times(tmp_path):
    path = write_heat(tmp_path / "h.h5", n=3, n_times=4)
    ds = OperatorDataset(path)
    assert ds.mode == "all2all" and [s.name for s in ds.initial] == ["u0"]
    T = 5  # the initial condition is prepended at t = 0
    assert len(ds) == 3 * T * (T + 1) // 2
    np.testing.assert_allclose(ds.times, [0, 0.1, 0.2, 0.3, 0.4])
    leads = sorted({round(float(ds[k]["t"]), 6) for k in range(len(ds))})
    assert leads == [0.0, 0.1, 0.2, 0.3, 0.4]
    for k in range(len(ds)):  # identity pairs have lead time 0 and x == y
        it = ds[k]
        if float(it["t"]) == 0.0:
            torch.testing.assert_close(it["x"], it["y"])


def test_initial_condition_is_matched_by_name(tmp_path):
    """Inputs f (a conditioning field) and u0: u0 is the state at t = 0, f a static channel."""
    path = write_heat(tmp_path / "h.h5", n=2, n_times=2, forcing=True)
    ds = OperatorDataset(path)
    assert [s.name for s in ds.initial] == ["u0"] and [s.name for s in ds.static] == ["f"]
    assert ds.in_channels == 2 and ds.out_channels == 1
    item = ds[1]  # pair (t_0, t_1): x = [u0, f]
    torch.testing.assert_close(item["x"][1], torch.ones(16))


def test_window_mode_and_time_steps(tmp_path):
    path = write_heat(tmp_path / "h.h5", n=2, n_times=6)
    ds = OperatorDataset(path, time_mode="window", steps_in=2, steps_out=2, time_steps="0:6")
    assert ds.in_channels == 2 and ds.out_channels == 2
    assert len(ds) == 2 * (7 - 4 + 1)
    traj = ds.states(int(ds[0]["index"]))
    torch.testing.assert_close(ds[1]["y"], torch.from_numpy(traj[3:5, 0]))
    with pytest.raises(ValueError, match="needs 20 time steps"):
        OperatorDataset(path, time_mode="window", steps_in=10, steps_out=10)
    with pytest.raises(ValueError, match="time axis"):
        OperatorDataset(path, time_mode="steady")


def test_split_is_deterministic_and_disjoint():
    s1, s2 = split_indices(20, 0.2, 0.1, seed=3), split_indices(20, 0.2, 0.1, seed=3)
    assert s1 == s2
    assert (len(s1["train"]), len(s1["val"]), len(s1["test"])) == (14, 4, 2)
    assert sorted(s1["train"] + s1["val"] + s1["test"]) == list(range(20))
    with pytest.raises(ValueError):
        split_indices(2, 0.5, 0.5)


def test_rebuild_from_describe_and_workers(tmp_path):
    path = write_heat(tmp_path / "h.h5", n=4, n_times=3)
    ds = OperatorDataset(path, indices=[0, 2], cache_bytes=0)  # chunked reads, no cache
    again = dataset_from_meta(path, ds.describe(), [0, 2])
    torch.testing.assert_close(ds[7]["y"], again[7]["y"])
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    batches = list(loader)  # each worker opens the file itself
    assert sum(b["x"].shape[0] for b in batches) == len(ds)
    torch.testing.assert_close(batches[0]["x"][1], ds[1]["x"])
