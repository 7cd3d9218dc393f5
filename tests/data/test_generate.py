"""Samplers, the journal and the crash-safe generation driver (in process)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from scipy.stats import qmc

from data import journal as jr
from data.check import check_dataset
from data.dataset import Dataset
from data.generate import (
    JournalProgress,
    generate,
    journal_path,
    journal_progress,
    lock_path,
    output_lock,
    sample_stats,
)
from solvers.problems.sampling import sample_unit
from tests.helpers.toys import Heat1D, Poisson1D


# --------------------------------------------------------------------------- samplers
@pytest.mark.parametrize("sampler", ["random", "lhs", "sobol"])
def test_samplers_are_deterministic_and_open(sampler):
    u = sample_unit(16, 3, sampler, seed=5)
    assert u.shape == (16, 3) and np.all((u > 0) & (u < 1))
    assert np.array_equal(u, sample_unit(16, 3, sampler, seed=5))
    assert not np.array_equal(u, sample_unit(16, 3, sampler, seed=6))


@pytest.mark.parametrize("sampler", ["lhs", "sobol"])
def test_stratified_designs_hit_every_stratum_once(sampler):
    n = 32  # a power of two: scrambled Sobol' is then a (0, m, 1)-net per coordinate
    u = sample_unit(n, 4, sampler, seed=2)
    for j in range(4):
        assert np.array_equal(np.sort(np.floor(u[:, j] * n)), np.arange(n))


def test_sobol_discrepancy_beats_random():
    n, d = 256, 2
    disc = {s: qmc.discrepancy(sample_unit(n, d, s, seed=0)) for s in ("random", "sobol")}
    assert disc["sobol"] < 0.2 * disc["random"]


def test_sampler_errors():
    with pytest.raises(ValueError, match="unknown sampler 'grid'; valid: random, lhs, sobol"):
        sample_unit(4, 2, "grid")
    with pytest.raises(ValueError, match="must be positive"):
        sample_unit(0, 2)
    assert sample_unit(3, 0).shape == (3, 0)


# --------------------------------------------------------------------------- journal
def test_journal_records_round_trip(tmp_path):
    arrays = {"a": np.arange(6.0).reshape(2, 3), "b": np.array([True, False]),
              "c": np.array([1 + 2j]), "d": np.arange(4, dtype=np.int32)}
    with jr.Journal(tmp_path / "j", {"x": 1}, {"p": np.ones(3)}) as j:
        j.append({"index": 0, "v": np.float64(2.5)}, arrays)
    records, end = jr.scan(tmp_path / "j", with_arrays=True)
    assert end == (tmp_path / "j").stat().st_size and len(records) == 2
    assert records[0].meta == {"kind": "config", "config": {"x": 1}}
    assert records[1].meta["v"] == 2.5
    for k, a in arrays.items():
        assert records[1].arrays[k].dtype == a.dtype and np.array_equal(records[1].arrays[k], a)


@pytest.mark.parametrize("damage", ["torn", "flip", "garbage"])
def test_journal_discards_a_bad_tail(tmp_path, damage):
    path = tmp_path / "j"
    with jr.Journal(path, {"x": 1}) as j:
        for i in range(3):
            j.append({"index": i}, {"u": np.full(10, float(i))})
    size = path.stat().st_size
    last = j.samples[-1]
    data = bytearray(path.read_bytes())
    if damage == "torn":
        data = data[: size - 7]
    elif damage == "flip":
        data[last.offset + last.size - 3] ^= 0xFF
    else:
        data += b"\x00garbage"
    path.write_bytes(bytes(data))
    with jr.Journal(path, {"x": 1}) as j2:
        expect = 3 if damage == "garbage" else 2
        assert [r.meta["index"] for r in j2.samples] == list(range(expect))
        assert path.stat().st_size == (size if damage == "garbage" else last.offset)
        j2.append({"index": 9}, {"u": np.zeros(2)})
    assert [r.meta.get("index") for r in jr.scan(path)[0]][1:] == [*range(expect), 9]


def test_journal_refuses_other_config(tmp_path):
    jr.Journal(tmp_path / "j", {"seed": 1, "n": 3}, {"p": np.ones(2)}).close()
    with pytest.raises(ValueError, match=r"different settings \(seed\).*overwrite=True"):
        jr.Journal(tmp_path / "j", {"seed": 2, "n": 3})
    with pytest.raises(ValueError, match="stored p differ"):
        jr.Journal(tmp_path / "j", {"seed": 1, "n": 3}, {"p": np.zeros(2)})


def test_journal_never_unpickles(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        jr.encode_record({}, {"o": np.array([object()])})


# --------------------------------------------------------------------------- statistics
def test_sample_stats_totals():
    recs = [{"iterations": 3, "matvecs": 4, "residual": 1e-9, "seconds": 0.5, "converged": True,
             "status": "ok", "info": {"omega": 1.2}},
            {"iterations": 5, "matvecs": 6, "residual": 1e-7, "seconds": 0.25, "converged": False,
             "status": "maxiter", "info": {"omega": 1.4}}]
    st, info = sample_stats(recs, 2.0, 7)
    assert st == {"iterations": 8, "matvecs": 10, "residual": 1e-7, "seconds": 2.0,
                  "solve_seconds": 0.75, "converged": False, "n_solves": 2, "order_position": 7}
    assert info == {"statuses": {"ok": 1, "maxiter": 1}, "first": {"omega": 1.2},
                    "last": {"omega": 1.4}}
    st, info = sample_stats([], 1.0, 0)  # no linear solves (explicit time stepping)
    assert st["converged"] and st["n_solves"] == 0 and np.isnan(st["residual"])


# --------------------------------------------------------------------------- generation
def _gen(problem, out, **kw):
    return generate(problem, kw.pop("n", 6), out, progress=False, **{"seed": 3, **kw})


def test_generate_solves_each_sample(tmp_path):
    p = Poisson1D(12)
    _gen(p, tmp_path / "d.h5", sampler="lhs")
    mu = p.parameter_space.from_unit(sample_unit(6, 2, "lhs", 3))
    with Dataset(tmp_path / "d.h5") as ds:
        assert ds.complete and ds.done.all() and ds.sampler == "lhs" and ds.seed == 3
        assert np.array_equal(ds.parameters, mu)
        u = ds.outputs()["u"]
        for i in range(6):
            s = p.assemble(mu[i])
            assert np.allclose(u[i, 1:-1], spla.spsolve(s.A.tocsc(), s.b), rtol=1e-12)
            assert np.array_equal(ds.inputs(i)["f"], np.full(12, mu[i, 1]))
        assert np.array_equal(ds.stats["order_position"], np.arange(6))
        assert ds.stats["converged"].all() and (ds.stats["residual"] < 1e-12).all()
        assert np.array_equal(ds.stats["n_solves"], np.ones(6))
        assert ds.solver == "direct" and ds.config["n_samples"] == 6
        assert ds.info[0]["status"] == "ok"
    assert not journal_path(tmp_path / "d.h5").exists()
    assert not lock_path(tmp_path / "d.h5").exists()


def test_generate_trajectories(tmp_path):
    _gen(Heat1D(9, n_out=4), tmp_path / "t.h5", n=3)
    with Dataset(tmp_path / "t.h5") as ds:
        assert ds.field("u").shape == (3, 4, 9) and len(ds.times) == 4
        assert np.array_equal(ds.stats["n_solves"], [3, 3, 3])
        # the first output time is the initial condition
        assert np.array_equal(ds.outputs()["u"][:, 0], ds.inputs()["u0"])
        assert set(ds.info[0]) == {"statuses", "first", "last"}
    assert check_dataset(tmp_path / "t.h5") == ([], [])


def test_interrupt_leaves_incomplete_file_and_resume_is_bitwise(tmp_path):
    ref = _gen(Poisson1D(10), tmp_path / "ref.h5")
    out = tmp_path / "d.h5"
    with pytest.raises(KeyboardInterrupt):
        _gen_fixed(Poisson1D(10, interrupt_at=4), out)
    with Dataset(out) as ds:
        assert not ds.complete and ds.done.sum() == 4
        assert np.isnan(ds.outputs(~ds.done)["u"]).all()
        assert np.isfinite(ds.outputs(ds.done)["u"]).all()
    assert journal_path(out).exists() and not lock_path(out).exists()
    with pytest.raises(ValueError, match=r"different settings \(seed\)"):
        _gen_fixed(Poisson1D(10), out, seed=4)
    p = Poisson1D(10)
    _gen_fixed(p, out)
    assert p.calls == 2  # only the missing samples were solved
    _same(ref, out)
    assert not journal_path(out).exists()


def test_resume_after_journal_tail_damage(tmp_path):
    ref = _gen(Poisson1D(10), tmp_path / "ref.h5")
    out = tmp_path / "d.h5"
    with pytest.raises(KeyboardInterrupt):
        _gen_fixed(Poisson1D(10, interrupt_at=5), out)
    j = journal_path(out)
    with open(j, "r+b") as fh:  # tear the last record
        fh.truncate(j.stat().st_size - 5)
    out.unlink()  # as after kill -9: only the journal is left
    p = Poisson1D(10)
    _gen_fixed(p, out)
    assert p.calls == 2  # the torn 5th sample and the 6th
    _same(ref, out)


def _gen_fixed(p, out, **kw):
    """Generate with a config that does not see the toy's interrupt option."""
    p.config = lambda: {"problem": p.name, "resolution": p.resolution, "options": {}}
    return _gen(p, out, **kw)


def test_journal_progress_reads_how_far_a_run_got(tmp_path):
    out = tmp_path / "d.h5"
    assert journal_progress(out) is None
    with pytest.raises(KeyboardInterrupt):
        _gen_fixed(Poisson1D(10, interrupt_at=3), out, n=7)
    progress = journal_progress(out)
    assert progress == JournalProgress(journal_path(out), 3, 7)
    journal_path(out).write_bytes(b"RJ1")  # torn before the config record was complete
    assert journal_progress(out) == JournalProgress(journal_path(out), 0, None)
    _gen_fixed(Poisson1D(10), out, n=7, overwrite=True)
    assert journal_progress(out) is None


def _same(a, b):
    with Dataset(a) as x, Dataset(b) as y:
        assert x.complete and y.complete
        assert np.array_equal(x.parameters, y.parameters)
        for k in x.output_names:
            assert np.array_equal(x.outputs()[k], y.outputs()[k])
        for k in x.input_names:
            assert np.array_equal(x.inputs()[k], y.inputs()[k])
        assert np.array_equal(x.stats["order_position"], y.stats["order_position"])


def test_existing_complete_output_needs_overwrite(tmp_path):
    out = _gen(Poisson1D(8), tmp_path / "d.h5", n=2)
    with pytest.raises(ValueError,
                       match="exists and is complete with other settings; use overwrite=True"):
        _gen(Poisson1D(8), out, n=3)
    _gen(Poisson1D(8), out, n=3, overwrite=True)
    with Dataset(out) as ds:
        assert ds.n_samples == 3
    (tmp_path / "x.h5").write_text("not mine")
    with pytest.raises(ValueError, match="not a resumable rom dataset"):
        _gen(Poisson1D(8), tmp_path / "x.h5", n=2)


def test_lock_stops_a_second_writer(tmp_path):
    out = tmp_path / "d.h5"
    with output_lock(out):
        with pytest.raises(ValueError, match="being written by another process"):
            _gen(Poisson1D(8), out, n=2)
    _gen(Poisson1D(8), out, n=2)  # released


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="must be positive"):
        _gen(Poisson1D(8), tmp_path / "d.h5", n=0)
    with pytest.raises(ValueError, match="unknown order"):
        _gen(Poisson1D(8), tmp_path / "d.h5", order="random")
    with pytest.raises(ValueError, match="unknown solver 'nope'"):
        _gen(Poisson1D(8), tmp_path / "d.h5", solver_name="nope")
    with pytest.raises(ValueError, match="does not exist"):
        _gen(Poisson1D(8), tmp_path / "no" / "d.h5")


def test_sorted_order_stores_original_order(tmp_path, monkeypatch):
    monkeypatch.setattr("data.generate.order_systems",
                        lambda problem, mu: np.argsort(mu[:, 0])[::-1])
    ref = _gen(Poisson1D(8), tmp_path / "ref.h5")
    out = _gen(Poisson1D(8), tmp_path / "s.h5", order="sorted")
    with Dataset(ref) as x, Dataset(out) as y:
        assert np.array_equal(x.parameters, y.parameters)
        assert np.allclose(x.outputs()["u"], y.outputs()["u"], rtol=1e-13, atol=0)
        perm = np.argsort(y.parameters[:, 0])[::-1]
        assert np.array_equal(y.stats["order_position"][perm], np.arange(6))
        assert y.config["order"] == "sorted"


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_journal_chunks_are_hdf5_chunks(tmp_path, dtype):
    """shuffle+deflate1 bytes, stored with write_direct_chunk, read back through HDF5's filters."""
    import h5py

    from data.dataset import create_field

    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 5, 7, 3)).astype(dtype)
    with jr.Journal(tmp_path / "j", {}) as j:
        j.append({"index": 0}, {"outputs/u": a[0], "mu": np.ones(2)}, compress=["outputs/u"])
        j.append({"index": 1}, {"outputs/u": a[1]}, compress=["outputs/u"])
        recs = list(j.load(keep_compressed=True))
        plain = list(j.load())
    assert set(recs[0].chunks) == {"outputs/u"} and set(recs[0].arrays) == {"mu"}
    assert np.array_equal(plain[1].arrays["outputs/u"], a[1])
    with h5py.File(tmp_path / "f.h5", "w") as f:
        d = create_field(f, "u", a.shape, np.dtype(dtype))
        for i, r in enumerate(recs):
            d.id.write_direct_chunk((i, 0, 0, 0), r.chunks["outputs/u"][2])
    with h5py.File(tmp_path / "f.h5") as f:
        assert np.array_equal(f["u"][()], a)


def test_background_journal_thread_gives_the_same_file(tmp_path):
    ref = _gen(Poisson1D(10), tmp_path / "ref.h5")
    out = tmp_path / "d.h5"
    with pytest.raises(KeyboardInterrupt):
        _gen_fixed(Poisson1D(10, interrupt_at=3), out)
    with Dataset(out) as ds:  # the queue was drained before the incomplete file was written
        assert ds.done.sum() == 3
    p = Poisson1D(10)
    _gen_fixed(p, out)
    assert p.calls == 3
    _same(ref, out)


def test_journal_write_errors_surface(tmp_path, monkeypatch):
    def broken(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(jr.Journal, "append", broken)
    with pytest.raises(OSError, match="disk full"):
        _gen(Poisson1D(8), tmp_path / "d.h5", n=3)


def test_crash_during_final_write_resumes_without_solving(tmp_path, monkeypatch):
    import data.generate as gen

    ref = _gen(Poisson1D(9), tmp_path / "ref.h5")
    real = gen.write_from_journal

    def crash(out, journal, **kw):
        raise RuntimeError("power cut")

    monkeypatch.setattr(gen, "write_from_journal", crash)
    out = tmp_path / "d.h5"
    with pytest.raises(RuntimeError, match="power cut"):
        _gen_fixed(Poisson1D(9), out)
    assert not out.exists() and journal_path(out).exists()
    assert not list(tmp_path.glob(".d.h5.tmp-*"))
    monkeypatch.setattr(gen, "write_from_journal", real)
    p = Poisson1D(9)
    _gen_fixed(p, out)
    assert p.calls == 0
    _same(ref, out)


def test_resume_reuses_the_recorded_solve_order(tmp_path, monkeypatch):
    calls = []

    def order_systems(problem, mu):  # not reproducible: a resume must not recompute it
        calls.append(1)
        return np.random.default_rng(len(calls)).permutation(mu.shape[0])

    monkeypatch.setattr("data.generate.order_systems", order_systems)
    out = tmp_path / "d.h5"
    with pytest.raises(KeyboardInterrupt):
        _gen_fixed(Poisson1D(8, interrupt_at=2), out, order="sorted")
    with Dataset(out) as first:
        position = first.stats["order_position"].copy()
    p = Poisson1D(8)
    _gen_fixed(p, out, order="sorted")
    assert len(calls) == 1 and p.calls == 4
    with Dataset(out) as ds:
        assert np.array_equal(ds.stats["order_position"], position)
        assert ds.complete


# --------------------------------------------------------------------------- issue 15, item 9
class _InfiniteRange(Poisson1D):
    @property
    def parameter_space(self):
        from solvers.problems import ParameterSpace

        return ParameterSpace(("a", "s"), ("uniform", "uniform"), ((1.0, np.inf), (0.1, 10.0)))


class _FailsToAssemble(Poisson1D):
    def assemble(self, mu):
        raise ValueError("matrix or right-hand side contains NaN or inf")


def test_invalid_settings_leave_no_files_and_the_corrected_rerun_works(tmp_path):
    out = tmp_path / "d.h5"
    with pytest.raises(ValueError, match="unknown preconditioner 'bogus'"):
        _gen(Poisson1D(8), out, solver_name="cg", precond="bogus")
    with pytest.raises(ValueError, match=r"non-finite values: a in \[1.0, inf\]"):
        _gen(_InfiniteRange(8), out)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="contains NaN or inf"):
        _gen(_FailsToAssemble(8), out)  # fails at the first sample: no 0-sample journal
    assert list(tmp_path.iterdir()) == []
    _gen(Poisson1D(8), out, solver_name="cg", precond="jacobi")
    with Dataset(out) as ds:
        assert ds.complete


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "d.h5"
    stale = tmp_path / f".d.h5.tmp-{dead.pid}"
    stale.write_bytes(b"torn by kill -9")
    live = tmp_path / f".d.h5.tmp-{os.getppid()}"
    live.write_bytes(b"a live writer's")
    _gen(Poisson1D(8), out)
    assert not stale.exists() and live.exists()


def test_identical_rerun_on_a_complete_file_is_a_no_op(tmp_path):
    out = _gen(Poisson1D(8), tmp_path / "d.h5", n=3)
    before = out.stat().st_mtime_ns, out.stat().st_ino
    problem = Poisson1D(8)
    assert _gen(problem, out, n=3) == out
    assert (out.stat().st_mtime_ns, out.stat().st_ino) == before and problem.calls == 0
    with pytest.raises(ValueError, match="complete with other settings"):
        _gen(Poisson1D(8), out, n=3, seed=4)
