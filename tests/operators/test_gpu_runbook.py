"""benchmarks/gpu/run.sh, the 15-device-minute plan: ``--dry-run`` lists the commands of stages
a and b, and every one is accepted by its benchmark script's argument parser (so a session
that is lent a GPU does not spend device time on a usage error)."""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _dry_run(**env: str) -> list[list[str]]:
    out = subprocess.run(["bash", "benchmarks/gpu/run.sh", "--dry-run", "a", "b"], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, **env}, check=True)
    return [shlex.split(line) for line in out.stdout.splitlines() if line.strip()]


def _script(stem: str):
    """benchmarks/STEM.py as a module named ``bench_STEM`` (benchmarks/operators.py would
    shadow the ``operators`` package under its own name)."""
    import operators.training  # noqa: F401  (the package first)

    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.append(str(ROOT / "benchmarks"))  # operator_common
    name = f"bench_{stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{stem}.py")
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.parametrize("env", [{}, {"SMOKE": "1", "DEVICE": "cpu", "WORKERS": "2"}])
def test_the_plan_lists_darcy_and_ns_commands_its_scripts_accept(env, tmp_path):
    commands = _dry_run(OUT=str(tmp_path), **env)
    scripts = [c[1] if c[0] != "ns_data" else "ns_data" for c in commands]
    assert scripts == ["benchmarks/operators.py", "ns_data", "benchmarks/operators.py",
                       "benchmarks/operators.py", "benchmarks/operators.py",
                       "benchmarks/operators_ns.py"]
    assert not list(tmp_path.iterdir())  # a dry run writes nothing
    for cmd in commands:
        if cmd[0] == "ns_data":
            module, argv = "operators_ns", [a for a in cmd[1:] if a not in ("&", "(background)")]
        else:
            module, argv = Path(cmd[1]).stem, cmd[2:]
        args = _script(module).parse_args(argv)
        assert args.device == env.get("DEVICE", "cuda")
        if not env and module == "operators" and args.part in ("rom", "neuraloperator"):
            assert (args.epochs, args.scheduler, args.step_size) == (100, "step", 20)
            assert args.n_train == 1000 and args.n_test == 200 and args.resolution == 85
    parts = [c[c.index("--part") + 1] for c in commands if "--part" in c]
    assert parts == ["step", "step", "rom", "neuraloperator"]
    if not env:  # eager, then both compiled (CUDA graphs)
        assert "--compile" not in commands[0] and "--compile-neuralop" in commands[2]
