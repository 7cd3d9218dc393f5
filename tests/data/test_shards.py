"""Shards of a generation run (`--shard K/N`), `rom merge` and `rom slurm` (no Dask here)."""

import os
import subprocess

import h5py
import numpy as np
import pytest

from cli.main import main
from data.dataset import Dataset
from data.generate import generate
from data.shards import merge_shards, parse_shard, plan_shard, shard_name
from solvers.problems import make_problem
from tests.helpers.runs import assert_same_run, interrupt_at_call

N = 7


def darcy():
    return make_problem("darcy", 16)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "one.h5"
    generate(darcy(), N, out, seed=5, order="sorted", progress=False)
    return out


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("shards")
    paths = [shard_name(d / "d.h5", k, 3) for k in range(3)]
    paths[0].parent.mkdir()
    for k, p in enumerate(paths):
        generate(darcy(), N, p, seed=5, order="sorted", progress=False, shard=(k, 3))
    return paths


def test_parse_shard():
    assert parse_shard("0/1") == (0, 1) and parse_shard("3/4") == (3, 4)
    for bad, msg in (("4/4", "0 <= K < N"), ("-1/4", "0 <= K < N"), ("1/0", "at least 1"),
                     ("1", "K/N"), ("a/b", "K/N")):
        with pytest.raises(ValueError, match=msg):
            parse_shard(bad)


def test_plan_covers_the_order_in_contiguous_chunks():
    perm = np.random.default_rng(0).permutation(11)
    plans = [plan_shard(perm, k, 4) for k in range(4)]
    assert [p.index.size for p in plans] == [3, 3, 3, 2]
    assert np.array_equal(np.sort(np.concatenate([p.index for p in plans])), np.arange(11))
    for p in plans:
        assert np.all(np.diff(p.index) > 0)
        # solving local samples in `seq` walks the global order; positions are global
        assert np.array_equal(perm[np.sort(p.position)], p.index[p.seq])
        assert np.array_equal(p.position[p.seq], np.sort(p.position))
    assert np.array_equal(np.sort(np.concatenate([p.position for p in plans])), np.arange(11))
    with pytest.raises(ValueError, match="at most one shard per sample"):
        plan_shard(perm, 0, 12)


def test_shard_file_holds_its_chunk_with_global_indices(shards, single):
    with Dataset(single) as one:
        order = np.argsort(one.stats["order_position"])
    seen = []
    for k, p in enumerate(shards):
        with Dataset(p) as ds, h5py.File(p) as f:
            a = ds.attrs
            assert (a["shard_index"], a["shard_count"], a["n_total"]) == (k, 3, N)
            assert ds.complete and ds.config["shard"] == {"index": k, "count": 3}
            idx = f["sample_index"][()]
            assert np.array_equal(idx, np.sort(np.array_split(order, 3)[k]))
            seen.append(idx)
            pos = ds.stats["order_position"]
            assert np.array_equal(order[pos], idx)          # global positions
            assert np.ptp(pos) == pos.size - 1               # one contiguous stretch
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(N))


def test_merged_shards_equal_a_single_run(shards, single, tmp_path):
    out = merge_shards(list(reversed(shards)), tmp_path / "m.h5")
    assert_same_run(single, out)
    with h5py.File(out) as m, h5py.File(single) as s:   # compressed chunks copied as they are
        for k in ("outputs/u",):
            assert m[k].id.read_direct_chunk((2, 0, 0)) == s[k].id.read_direct_chunk((2, 0, 0))
        assert "sample_index" not in m and "shard_index" not in m.attrs


def test_merge_reports_missing_shards_and_partial(shards, tmp_path):
    with pytest.raises(ValueError, match=r"missing shard\(s\) 1 of 3; 2 of 7 samples unsolved"):
        merge_shards([shards[0], shards[2]], tmp_path / "m.h5")
    out = merge_shards([shards[0], shards[2]], tmp_path / "p.h5", partial=True)
    with Dataset(out) as ds, Dataset(shards[1]) as s1, h5py.File(shards[1]) as f:
        assert not ds.complete and ds.done.sum() == N - s1.n_samples
        missing = f["sample_index"][()]
        assert not ds.done[missing].any()
        assert np.isnan(ds.outputs(missing)["u"]).all()


def test_merge_refuses_other_runs(shards, tmp_path):
    other = tmp_path / "o.h5"
    generate(darcy(), N, other, seed=6, order="sorted", progress=False, shard=(1, 3))
    with pytest.raises(ValueError, match=r"config differs in seed \(6 vs 5\)"):
        merge_shards([shards[0], other, shards[2]], tmp_path / "m.h5")
    with pytest.raises(ValueError, match="given twice"):
        merge_shards([shards[0], shards[0]], tmp_path / "m.h5")
    four = tmp_path / "four.h5"
    generate(darcy(), N, four, seed=5, order="sorted", progress=False, shard=(1, 4))
    with pytest.raises(ValueError, match="one of 4 shards"):
        merge_shards([shards[0], four], tmp_path / "m.h5")
    plain = tmp_path / "plain.h5"
    generate(darcy(), 2, plain, seed=5, progress=False)
    with pytest.raises(ValueError, match="not a shard"):
        merge_shards([plain], tmp_path / "m.h5")


def test_interrupted_shard_resumes(tmp_path, single):
    p = interrupt_at_call(darcy(), 2)
    path = tmp_path / "s.h5"
    with pytest.raises(KeyboardInterrupt):
        generate(p, N, path, seed=5, order="sorted", progress=False, shard=(0, 2))
    with Dataset(path) as ds:
        assert not ds.complete and ds.done.sum() == 1
    with pytest.raises(ValueError, match="unsolved"):
        merge_shards([path], tmp_path / "m.h5")
    generate(darcy(), N, path, seed=5, order="sorted", progress=False, shard=(0, 2))
    generate(darcy(), N, tmp_path / "s1.h5", seed=5, order="sorted", progress=False,
             shard=(1, 2))
    assert_same_run(single, merge_shards([path, tmp_path / "s1.h5"], tmp_path / "m.h5"))


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    return e.value.code, capsys.readouterr()


def test_cli_shard_and_merge(tmp_path, capsys):
    base = ["generate", "darcy", "-n", "5", "--resolution", "16", "--seed", "2", "--quiet"]
    main([*base, "-o", str(tmp_path / "one.h5")])
    for k in range(2):
        main([*base, "--shard", f"{k}/2", "-o", str(tmp_path / f"s{k}.h5")])
    main(["merge", str(tmp_path / "s1.h5"), str(tmp_path / "s0.h5"), "-o", str(tmp_path / "m.h5")])
    assert "wrote" in capsys.readouterr().out
    assert_same_run(tmp_path / "one.h5", tmp_path / "m.h5")
    code, err = run_cli(["merge", str(tmp_path / "s1.h5"), "-o", str(tmp_path / "x.h5")], capsys)
    assert code == 1 and err.err.startswith("rom: error: cannot merge: missing shard(s) 0 of 2")
    assert err.err.count("\n") == 1
    code, err = run_cli([*base, "--shard", "2/2", "-o", str(tmp_path / "b.h5")], capsys)
    assert code == 1 and "0 <= K < N" in err.err
    code, err = run_cli([*base, "--shard", "0/2", "--workers", "2", "-o", str(tmp_path / "b.h5")],
                        capsys)
    assert code == 2 and "exclude each other" in err.err
    code, err = run_cli(["merge", str(tmp_path / "nope.h5"), "-o", str(tmp_path / "x.h5")], capsys)
    assert code == 1 and "no such file" in err.err
    code, err = run_cli(["merge", str(tmp_path / "s0.h5"), str(tmp_path / "s1.h5"), "-o",
                         str(tmp_path / "m.h5")], capsys)
    assert code == 1 and "--overwrite" in err.err


def test_slurm_script_runs_as_an_array_then_merges(tmp_path, capsys):
    """The written scripts, run by bash with SLURM's variables, give the single-run dataset."""
    out = tmp_path / "d.h5"
    gen = ["generate", "darcy", "-n", "4", "--resolution", "16", "--seed", "1", "-o", str(out)]
    main(["slurm", *gen, "--array", "2", "--partition", "cpu", "--mem", "2G",
          "--sbatch=--qos=short"])
    script, merge = tmp_path / "d.sbatch", tmp_path / "d.merge.sbatch"
    text = script.read_text()
    for line in ("#SBATCH --array=0-1", "#SBATCH --partition=cpu", "#SBATCH --mem=2G",
                 "#SBATCH --qos=short", "#SBATCH --cpus-per-task=1"):
        assert line in text.splitlines()
    assert '--shard "$K/2"' in text and "--dependency=afterok" in capsys.readouterr().out
    assert (tmp_path / "d.h5.shards").is_dir()   # SLURM needs the log directory up front
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in range(2):
        subprocess.run(["bash", str(script)], check=True, env={**env, "SLURM_ARRAY_TASK_ID": str(k)})
    subprocess.run(["bash", str(merge)], check=True, env=env)
    main([*gen[:-2], "--quiet", "-o", str(tmp_path / "one.h5")])
    assert_same_run(tmp_path / "one.h5", out)


def test_slurm_refuses_bad_arguments(tmp_path, capsys):
    gen = ["generate", "darcy", "-n", "4", "--resolution", "16", "-o", str(tmp_path / "d.h5")]
    for args, msg in (([*gen, "--array", "5"], "between 1 and n=4"),
                      ([*gen, "--workers", "2", "--array", "2"], "--workers cannot be used"),
                      ([*gen[:-2], "--array", "2"], "missing -o"),
                      (["info", "x", "--array", "2"], "expected `rom slurm generate")):
        code, err = run_cli(["slurm", *args], capsys)
        assert code == 2 and msg in err.err, err.err


def test_recycling_solver_shards_agree_to_tolerance(tmp_path):
    """def-CG recycles along each chunk: merged shards equal the single run to the solver
    tolerance (not bitwise: each chunk starts its recycle space afresh)."""
    kw = dict(seed=2, solver_name="def-cg", order="sorted", progress=False)
    generate(darcy(), N, tmp_path / "one.h5", **kw)
    for k in range(2):
        generate(darcy(), N, tmp_path / f"s{k}.h5", shard=(k, 2), **kw)
    merged = merge_shards([tmp_path / "s0.h5", tmp_path / "s1.h5"], tmp_path / "m.h5")
    with Dataset(tmp_path / "one.h5") as a, Dataset(merged) as b:
        assert a.config == b.config and np.array_equal(a.parameters, b.parameters)
        ua, ub = a.outputs()["u"], b.outputs()["u"]
        err = np.linalg.norm((ua - ub).reshape(N, -1), axis=1) / np.linalg.norm(
            ua.reshape(N, -1), axis=1)
        assert err.max() < 1e-6
        assert (b.stats["residual"] < 1e-7).all() and b.stats["converged"].all()
        assert np.array_equal(a.stats["order_position"], b.stats["order_position"])
