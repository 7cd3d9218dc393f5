"""The ROM kinds implement the model-kind contract and their options reach `rom train`."""

import json

import pytest
from click.testing import CliRunner

from cli.main import cli
from data.model_kinds import MODEL_KINDS, ModelKind, Option, model_kind

ROM_KINDS = [name for name, target in MODEL_KINDS.items() if target.startswith("rom.")]


def test_rom_kinds_are_registered():
    assert sorted(ROM_KINDS) == ["eim", "galerkin", "local", "opinf", "pod", "rb"]


@pytest.mark.parametrize("name", ROM_KINDS)
def test_kind_satisfies_the_protocol(name):
    kind = model_kind(name)
    assert isinstance(kind, ModelKind)
    assert kind.name == name and kind.family == "rom" and kind.help
    assert all(isinstance(opt, Option) for opt in kind.options)
    assert len({opt.name for opt in kind.options}) == len(kind.options)


@pytest.mark.parametrize("name", ROM_KINDS)
def test_train_help_lists_the_declared_options(name):
    res = CliRunner().invoke(cli, ["train", name, "--help"])
    assert res.exit_code == 0, res.output
    for opt in model_kind(name).options:
        assert opt.cli_flag in res.output, (name, opt.cli_flag)


def test_option_defaults_reach_train(tmp_path, monkeypatch):
    """`rom train pod DATA -o M` calls the kind's train with every declared default."""
    kind = model_kind("pod")
    seen = {}

    def fake_train(data, out, *, progress=None, **options):
        seen.update(options)
        return {"n_modes": 1, "field": "u", "regressor": options["regressor"]}

    monkeypatch.setattr(kind, "train", fake_train)
    (tmp_path / "d.h5").write_bytes(b"")
    res = CliRunner().invoke(cli, ["train", "pod", str(tmp_path / "d.h5"), "-o",
                                   str(tmp_path / "m"), "--json"])
    assert res.exit_code == 0, res.output
    assert seen == {opt.name: opt.default for opt in kind.options}
    assert json.loads(res.output)["regressor"] == "rbf"


def test_summary_lines():
    """The closing `wrote OUT (...)` text of each kind."""
    assert model_kind("pod").summary({"n_modes": 3, "field": "u", "regressor": "gp"}) == \
        "3 modes of 'u', gp"
    assert model_kind("rb").summary({"N": 4, "greedy": [{"max_rel_bound": 1e-7}],
                                     "estimator": "stable"}) == \
        "N=4, max relative bound 1.00e-07 on the training set, stable estimator"
    assert model_kind("eim").summary({"M": 2, "field": "f", "train_error_rel_sup": [1, 0.5]}) == \
        "M=2 magic points of 'f', training error 5.00e-01"
    assert model_kind("eim").summary({"target": "operator", "M": 3, "M_rhs": 1, "N": 5,
                                      "eim_train_error_rel_sup": 1e-14}) == \
        "matrix EIM M=3 (rhs 1), training error 1.0e-14, RB N=5"
