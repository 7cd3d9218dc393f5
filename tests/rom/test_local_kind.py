"""The `local` model kind through the CLI: train, evaluate, info, round trip, one-line errors."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli, main
from data.dataset import Dataset
from data.model_kinds import kind_of, model_kind
from rom.kinds.local import features


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture(scope="module")
def ad(tmp_path_factory):
    d = tmp_path_factory.mktemp("local")
    for name, n, seed in (("tr", 40, 1), ("te", 12, 2)):
        res = run("generate", "advection_diffusion", "-n", n, "--resolution", 12, "--seed", seed,
                  "--param", "eps_min=0.001", "-o", d / f"{name}.h5")
        assert res.exit_code == 0, res.output
    return d


def test_train_evaluate_info_round_trip(ad):
    res = run("train", "local", ad / "tr.h5", "-o", ad / "m", "--clusters", 3, "--modes", 4,
              "--selector", "boosting", "--overlap", 0.2, "--json")
    assert res.exit_code == 0, res.output
    meta = json.loads(res.output)
    assert meta["K"] == 3 and sum(c["size"] for c in meta["clusters"]) == 40
    assert all(1 <= c["local_dim"] <= 4 for c in meta["clusters"])
    kind = kind_of(ad / "m")[1]
    rec = kind.evaluate(ad / "m", ad / "te.h5", out_dir=ad / "ev")
    assert rec["model"] == "local" and rec["n_samples"] == 12 and not rec["on_training_data"]
    assert 0 <= rec["selector_accuracy"] <= 1 and len(rec["per_cluster"]) == 3
    assert sum(np.array(rec["confusion"]).ravel()) == 12
    proj = rec["projection"]
    # the local basis of the true cluster is the best approximation in its span: the
    # non-intrusive prediction cannot beat it (same basis, any coefficients)
    assert proj["local_mean_rel"][-1] <= rec["oracle_rel_l2_mean"] + 1e-12
    assert rec["criterion"]["predicted_gain_cv"] > 0 and rec["report_rows"]
    for png in ("clusters_parameters", "singular_values_local_vs_global",
                "error_vs_dimension", "selector_confusion"):
        assert (ad / "ev" / f"{png}.png").is_file()
    # the model reloaded from disk predicts what the evaluation wrote
    import h5py
    with h5py.File(ad / "ev" / "predictions.h5") as f:
        written, mus = f["u"][()], f["parameters"][()]
    again = kind.load(ad / "m").predict(mus).reshape(written.shape)
    assert np.allclose(again, written, rtol=0, atol=1e-12)
    res = run("info", ad / "m", "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["K"] == 3 and [c["size"] for c in info["clusters"]] == \
        [c["size"] for c in meta["clusters"]]
    res = run("evaluate", ad / "m", ad / "te.h5", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["K"] == 3


def test_surrogate_selector_round_trip(ad):
    """``--selector surrogate``: stored as the global model and the medoids only, reloaded,
    and at least as accurate as k-NN on this dataset; ``auto`` is k-NN for pod."""
    accs = {}
    for sel in ("surrogate", "auto"):
        res = run("train", "local", ad / "tr.h5", "-o", ad / f"s_{sel}", "--clusters", 4,
                  "--modes", 4, "--selector", sel, "--json")
        assert res.exit_code == 0, res.output
        meta = json.loads(res.output)
        assert meta["selector"] == ("knn" if sel == "auto" else "surrogate")
        kind = kind_of(ad / f"s_{sel}")[1]
        rec = kind.evaluate(ad / f"s_{sel}", ad / "te.h5")
        accs[sel] = rec["selector_accuracy"]
    model = kind_of(ad / "s_surrogate")[1].load(ad / "s_surrogate")
    with Dataset(ad / "te.h5") as ds:
        mus = ds.parameters[()]
        U = ds.field("u")[()].reshape(len(mus), -1)
    # the selector is the nearest medoid of the global model's prediction
    glob = model.glob.predict(features(mus, model.log))
    assert np.array_equal(model.select(mus), model.true_clusters(glob, mus))
    assert accs["surrogate"] >= accs["auto"] and model.true_clusters(U, mus).shape == (len(mus),)


def test_auto_clusters_and_cnn_selector(ad):
    res = run("train", "local", ad / "tr.h5", "-o", ad / "auto", "--modes", 3, "--k-max", 3,
              "--selector", "cnn", "--dissimilarity", "params", "--basis", "affine", "--json")
    assert res.exit_code == 0, res.output
    meta = json.loads(res.output)
    sweep = meta["criterion"]["sweep"]
    assert [p["K"] for p in sweep] == list(range(2, len(sweep) + 2)) and meta["K"] in \
        [p["K"] for p in sweep]
    rec = model_kind("local").evaluate(ad / "auto", ad / "te.h5")
    assert rec["selector"] == "cnn" and rec["n_samples"] == 12


@pytest.mark.parametrize("args,message", [
    (["--clusters", "500"], "500 clusters for 40 training samples"),
    (["--clusters", "many"], "clusters must be a positive integer or 'auto'"),
    (["--selector", "bound"], "bound selector needs certified local models"),
    (["--field", "nope"], "no field 'nope'"),
])
def test_bad_input_is_one_line(ad, args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "local", str(ad / "tr.h5"), "-o", str(ad / "bad"), *args])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and err.startswith("rom: error:") and message in err, err
    assert len(err.strip().splitlines()) == 1


def test_certified_local_rb_with_the_bound_selector(tmp_path):
    """`--local rb --selector bound` (rom.local_rb): the chosen model has the smallest bound
    of the candidates, and the bound covers the error."""
    for name, n, seed in (("tr", 24, 1), ("te", 6, 2)):
        res = run("generate", "thermal_block", "-n", n, "--resolution", 9, "--seed", seed,
                  "-o", tmp_path / f"{name}.h5")
        assert res.exit_code == 0, res.output
    res = run("train", "local", tmp_path / "tr.h5", "-o", tmp_path / "m", "--clusters", 2,
              "--local", "rb", "--selector", "bound", "--tol", 1e-8, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["local"] == "rb"
    rec = model_kind("local").evaluate(tmp_path / "m", tmp_path / "te.h5")
    assert rec["rel_l2"]["max"] < 1e-5 and rec["bound"]["selector"] == "bound"
    model = model_kind("local").load(tmp_path / "m")
    with Dataset(tmp_path / "te.h5") as ds:
        mus = ds.parameters[()]
    chosen = model.select(mus)
    _, bounds = model.local.candidate_bounds(mus)
    assert np.array_equal(chosen, np.argmin(bounds, axis=1))
