"""The operator and precond model kinds: the registry contract, their options and checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.main import cli
from cli.train import click_option
from data.model_kinds import FAMILIES, MODEL_KINDS, ModelKind, Option, model_kind
from operators.kinds import FNO, architecture, parse_numbers
from operators.registry import MODELS, arch_defaults

ROOT = Path(__file__).resolve().parents[2]
KINDS = [k for k, target in MODEL_KINDS.items() if target.startswith("operators.")]


def test_the_registry_names_every_architecture_and_the_preconditioner():
    assert set(KINDS) == set(MODELS) | {"precond"}


@pytest.mark.parametrize("name", KINDS)
def test_every_kind_satisfies_the_protocol(name):
    kind = model_kind(name)
    assert isinstance(kind, ModelKind)
    assert kind.name == name and kind.family in FAMILIES and kind.help.strip()
    assert kind.family == ("precond" if name == "precond" else "operator")
    names = [o.name for o in kind.options]
    assert len(names) == len(set(names)) and all(isinstance(o, Option) for o in kind.options)
    for opt in kind.options:
        assert isinstance(click_option(opt), click.Option)
    if name != "precond":  # one option per architecture keyword, defaults kept
        declared = {o.name: o.default for o in kind.options}
        assert set(arch_defaults(name)) <= set(declared)
        assert architecture(name, declared, {}) == {}


def test_importing_the_kinds_does_not_import_torch():
    code = ("import sys, operators.kinds, operators.precond.kind; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_train_help_shows_the_architecture_options_with_defaults():
    res = CliRunner().invoke(cli, ["train", "fno", "--help"], prog_name="rom",
                             terminal_width=200)
    assert res.exit_code == 0, res.output
    lines = {ln.split()[0]: ln for ln in res.output.splitlines() if ln.strip().startswith("--")}
    for flag, default in (("--width", "32"), ("--modes", "12"), ("--layers", "4"),
                          ("--projection-channels", "128"), ("--factorization", "dense"),
                          ("--rank", "0.5"), ("--epochs", "100"), ("--lr", "0.001")):
        assert f"[default: {default}]" in lines[flag], lines[flag]
    assert "--no-grid-embedding" in lines["--grid-embedding"]
    assert "[default: grid-embedding]" in res.output
    assert "--arch" in lines and "KEY=VALUE" in lines["--arch"]
    scot = CliRunner().invoke(cli, ["train", "scot", "--help"], terminal_width=200).output
    assert "--depths TEXT" in scot and "[default: 2,2]" in scot


def test_architecture_keeps_only_changed_values_and_pairs_win():
    assert architecture("fno", {"width": 32, "modes": "12", "layers": 4}, {}) == {}
    assert architecture("fno", {"width": 8, "modes": "4,3"}, {}) == {"width": 8, "modes": [4, 3]}
    assert architecture("fno", {"modes": "6"}, {"modes": [2, 2], "rank": 4}) == \
        {"modes": [2, 2], "rank": 4}
    assert architecture("scot", {"depths": "2"}, {}) == {"depths": [2]}  # a list stays a list
    assert parse_numbers("rank", "[0.5]", 0.5) == 0.5
    with pytest.raises(ValueError, match="architecture option modes: expected numbers"):
        architecture("fno", {"modes": "4,x"}, {})


@pytest.mark.parametrize("options,message", [
    ({"resume": True, "width": 8}, "a resumed run continues as stored"),
    ({"resume": True, "init": "base"}, "a resumed run continues as stored"),
    ({"init": "base", "arch": {"layers": 2}}, "takes its architecture from base; got "
                                              "architecture options layers"),
    ({"depth": 3}, "unknown fno training option(s) ['depth']"),
])
def test_inconsistent_training_setups_are_value_errors(tmp_path, options, message):
    with pytest.raises(ValueError) as err:
        FNO.train(tmp_path / "missing.h5", tmp_path / "m", **options)
    assert message in str(err.value) and "--" not in str(err.value)
