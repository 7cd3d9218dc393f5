"""Dask-distributed generation: bitwise equal to one process, worker deaths, driver resume."""

import os
import signal
import sys
from functools import partial
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

from cli.main import main
from data.distributed import (
    generate_distributed,
    load_plan,
    make_slurm_cluster,
    map_chunks,
    run_shard,
    tune_malloc,
)
from data.generate import generate
from data.run_settings import run_config
from data.shards import shard_name
from solvers.linear import make_solver
from solvers.problems import make_problem
from tests.helpers.runs import assert_same_run, interrupt_at_call

distributed = pytest.importorskip("distributed")
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/

N = 6


def darcy():
    return make_problem("darcy", 16)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", scheduler_port=0) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "one.h5"
    generate(darcy(), N, out, seed=4, progress=False)
    return out


def test_two_workers_equal_a_single_process_run(client, single, tmp_path):
    out = generate_distributed(darcy(), N, tmp_path / "d.h5", seed=4, client=client,
                               progress=False)
    assert_same_run(single, out)
    assert not (tmp_path / "d.h5.shards").exists() and not (tmp_path / "d.h5.lock").exists()


def kill_first_attempt(marker, spec):
    """Kill this worker process (SIGKILL, no cleanup) the first time shard 1 is attempted."""
    if spec["shard"][0] == 1 and not Path(marker).exists():
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return run_shard(spec)


def test_a_killed_worker_is_replaced_and_the_run_completes(client, single, tmp_path):
    marker = tmp_path / "killed"
    out = generate_distributed(darcy(), N, tmp_path / "d.h5", seed=4, client=client, chunks=3,
                               progress=False, task=partial(kill_first_attempt, str(marker)))
    assert marker.exists()
    assert_same_run(single, out)


def record_calls(log_dir, fail_shard, spec):
    """Note each attempted shard; raise on ``fail_shard``."""
    Path(log_dir, f"call-{spec['shard'][0]}-{os.getpid()}-{os.urandom(4).hex()}").touch()
    if spec["shard"][0] == fail_shard:
        raise ValueError("boom")
    return run_shard(spec)


def test_failed_task_is_retried_then_reported_and_driver_resumes(client, single, tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    out = tmp_path / "d.h5"
    with pytest.raises(RuntimeError, match=r"shard 2/3 failed after 1 retries: boom"):
        generate_distributed(darcy(), N, out, seed=4, client=client, chunks=3, retries=1,
                             progress=False, task=partial(record_calls, str(calls), 2))
    assert len(list(calls.glob("call-2-*"))) == 2            # first try + one retry
    done = [shard_name(out, k, 3) for k in (0, 1)]
    assert all(p.exists() for p in done) and not out.exists()
    for p in calls.iterdir():
        p.unlink()
    # a new driver with other defaults resumes the stored plan: only shard 2 runs
    generate_distributed(darcy(), N, out, seed=4, client=client, progress=False,
                         task=partial(record_calls, str(calls), -1))
    assert sorted(p.name.split("-")[1] for p in calls.iterdir()) == ["2"]
    assert_same_run(single, out)


def test_half_done_shard_resumes_from_its_journal(client, single, tmp_path):
    out = tmp_path / "d.h5"
    # as if a driver had been killed while shard 0 was being solved: its journal holds
    # one sample; shard 1 never started
    p = interrupt_at_call(darcy(), 2)
    sdir = tmp_path / "d.h5.shards"
    sdir.mkdir()
    cfg = run_config(p, N, seed=4, sampler="random", solver=make_solver("direct"),
                     solver_name="direct", precond=None, order="given")
    perm, _ = load_plan(out, cfg, 2, lambda: np.arange(N))
    with pytest.raises(KeyboardInterrupt):
        generate(p, N, shard_name(out, 0, 2), seed=4, progress=False, shard=(0, 2),
                 solve_perm=perm)
    journal = shard_name(out, 0, 2).with_name(shard_name(out, 0, 2).name + ".journal")
    assert journal.exists()
    generate_distributed(darcy(), N, out, seed=4, client=client, progress=False)
    assert_same_run(single, out)


def test_cli_on_an_existing_scheduler(client, single, tmp_path, capsys):
    out = tmp_path / "c.h5"
    main(["generate", "darcy", "-n", str(N), "--resolution", "16", "--seed", "4",
          "--scheduler", client.scheduler.address, "--chunks", "3", "--quiet", "-o", str(out)])
    assert_same_run(single, out)
    with pytest.raises(SystemExit) as e:
        main(["generate", "darcy", "-n", str(N), "--resolution", "16", "--chunks", "9",
              "--scheduler", client.scheduler.address, "-o", str(tmp_path / "x.h5")])
    assert e.value.code == 1 and "--chunks must be between 1 and n=6" in capsys.readouterr().err


def test_bad_cluster_options_are_one_line_errors(tmp_path, capsys):
    for extra, msg, code in ((["--workers", "0"], "must be at least 1", 2),
                             (["--workers", "2", "--scheduler", "tcp://x:1"],
                              "exclude each other", 2),
                             (["--cluster", "slurm", "--jobs", "0"], "must be at least 1", 2),
                             (["--cluster", "slurm", "--cores", "0"], "--cores: must be at least 1",
                              2),
                             (["--workers", "1", "--retries", "-1"],
                              "--retries must be non-negative, got -1", 1)):
        with pytest.raises(SystemExit) as e:
            main(["generate", "darcy", "-n", "4", "--resolution", "16", *extra,
                  "-o", str(tmp_path / "x.h5")])
        err = capsys.readouterr().err
        assert e.value.code == code and msg in err and err.count("\n") == 1


def test_map_chunks_keeps_chunk_order(client):
    out = map_chunks(np.sum, np.arange(10), chunks=3, client=client)
    assert out == [0 + 1 + 2 + 3, 4 + 5 + 6, 7 + 8 + 9]
    assert map_chunks(len, list("abcde"), chunks=9, client=client) == [1] * 5
    with pytest.raises(ZeroDivisionError):
        map_chunks(lambda c: 1 / 0, [1, 2], client=client, retries=0)


def online_chunk(online, mus):
    return online(mus)


def test_reduced_basis_sweep_with_map_chunks(client):
    """An rb online sweep over many parameters, split over the workers, equals one batch."""
    from rom.reduced_basis import ReducedBasis
    from tests.helpers.reduced_basis import thermal_block_terms

    box = (np.full(4, 0.1), np.ones(4))
    rb = ReducedBasis(thermal_block_terms(n=8, b=2), np.ones(4), box)
    rb.greedy(0.1 + 0.9 * np.random.default_rng(0).random((40, 4)), tol=1e-4, max_basis=8)
    online = rb.online()
    mus = 0.1 + 0.9 * np.random.default_rng(1).random((500, 4))
    parts = map_chunks(partial(online_chunk, online), mus, client=client)
    uN, bound = online(mus)
    assert len(parts) == 2
    assert np.allclose(np.concatenate([p[0] for p in parts]), uN, rtol=1e-12, atol=1e-14)
    assert np.allclose(np.concatenate([p[1] for p in parts]), bound, rtol=1e-10)


def test_slurm_cluster_needs_sbatch(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ValueError, match="needs SLURM's sbatch on PATH"):
        generate_distributed(darcy(), 2, tmp_path / "x.h5", slurm={"jobs": 1}, progress=False)


def test_slurm_cluster_job_script():
    with make_slurm_cluster(cores=2, memory="8GB", walltime="02:30:00", queue="cpu") as cluster:
        script = cluster.job_script()
    lines = script.splitlines()
    assert "#SBATCH -p cpu" in lines and "#SBATCH -t 02:30:00" in lines
    assert "#SBATCH --cpus-per-task=2" in lines
    assert "#SBATCH --mem=8G" in lines
    assert "--nworkers 2" in script and "--nthreads 1" in script
    assert "--memory-limit 3.73GiB" in script                # 8 GB shared by the 2 workers
    assert sys.executable in script


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_workers_reset_dasks_malloc_trim_setting(client):
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_, which made every large array an mmap
    (2x slower solves); run_shard resets glibc's thresholds in whatever worker it runs."""
    assert tune_malloc()
    assert all(client.run(tune_malloc).values())


DRIVER = """
import sys, time
from data.distributed import generate_distributed, run_shard
from solvers.problems import make_problem

def slow(spec):
    if spec["shard"][0] > 0:
        time.sleep(2.0)
    return run_shard(spec)

generate_distributed(make_problem("darcy", 16), 6, sys.argv[1], seed=4, scheduler=sys.argv[2],
                     chunks=3, task=slow, progress=False)
"""


def test_kill_9_driver_then_rerun_resumes(client, single, tmp_path):
    """A driver killed mid-run: the rerun skips finished shards and waits for the orphaned
    attempts the scheduler still runs, instead of failing on their locks."""
    import subprocess
    import time

    out = tmp_path / "d.h5"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(out), client.scheduler.address])
    first = shard_name(out, 0, 3)
    deadline = time.monotonic() + 120
    while not first.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert first.exists() and not out.exists()
    generate_distributed(darcy(), N, out, seed=4, client=client, progress=False)
    assert_same_run(single, out)
