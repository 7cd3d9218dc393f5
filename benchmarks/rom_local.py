"""Local ROM dictionaries (ROM-net) against one global POD basis, side by side in one run.

For each problem a training and a test dataset are generated (``rom generate``,
one BLAS thread), then for every dissimilarity (sine, Euclidean on snapshots,
Euclidean on parameters; Grassmann for trajectories) and K local bases
(k-medoids, :mod:`rom.clustering`) the test errors at equal online dimension N
are measured against the global POD basis of the same training snapshots:

* ``proj``: relative l2 error of the best approximation in the affine space of
  the basis (mean + N modes), the local basis chosen online by the
  ``surrogate`` selector (the nearest medoid of the global POD + RBF model's
  prediction, :class:`rom.selectors.SurrogateSelector`), and side by side by
  k-NN (the ``local`` kind's default) and gradient boosting on the parameters and the CNN on
  the input fields (ROM-net; datasets with input fields); ``proj*``: by the
  true cluster, the nearest medoid of the true solution;
* ``pred``: the non-intrusive prediction (RBF regression of the N
  coefficients on the parameters, log-uniform ones in log scale), local
  (surrogate selected) against global.

Benchmark 4: the a priori criterion (:func:`rom.local_criterion.sweep_k`,
cross-validated on the training snapshots only) picks K; the test error of
that K against the best measured K of the sweep.

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rom_local.py [--quick]``
(writes ``benchmarks/results/rom_local.md``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import platform
import subprocess
import tempfile
import time

import numpy as np

from data.dataset import Dataset
from rom.clustering import cluster
from rom.dissimilarity import cross_dissimilarity, dissimilarity_matrix
from rom.kinds.local import features, input_fields, log_coordinates, read_snapshots
from rom.local_criterion import sweep_k
from rom.local_pod import LocalPOD, fit_model
from rom.regression import PODRegression
from rom.selectors import BoostingSelector, CNNSelector, KNNSelector, SurrogateSelector

ROOT = Path(__file__).resolve().parents[1]
ROM = str(ROOT / ".venv" / "bin" / "rom")


def generate(problem: str, n: int, res: int, seed: int, params: list[str], out: Path) -> float:
    cmd = [ROM, "generate", problem, "-n", str(n), "--resolution", str(res), "--seed", str(seed),
           "-o", str(out)] + [a for p in params for a in ("--param", p)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - t0


def load(path: Path) -> tuple[np.ndarray, np.ndarray, list[bool], list[np.ndarray], int]:
    """Snapshots, parameter features, log flags, input fields and spatial dimensions."""
    with Dataset(path) as ds:
        idx = np.arange(ds.n_samples)
        S = read_snapshots(ds, ds.output_names[0], idx)
        log = log_coordinates(ds.parameter_space)
        return (S, features(ds.parameters[()], log), log, input_fields(ds, idx),
                len(ds.grid.axes))


def truncated(model: PODRegression, mus: np.ndarray, N: int) -> np.ndarray:
    """Prediction with the first N modes (RBF interpolation is linear per coefficient, so
    truncating the predicted coefficients equals fitting on the truncated ones)."""
    coef = model.regressor(model.scale(mus))
    return model.mean + coef[:, :N] @ model.modes[:, :N].T


def rel(pred: np.ndarray, U: np.ndarray) -> np.ndarray:
    return np.linalg.norm(pred - U, axis=1) / np.linalg.norm(U, axis=1)


def study(name: str, tr: Path, te: Path, Ns: list[int], Ks: list[int], dissims: list[str],
          crit_N: int, crit_K: list[int], basis: str = "linear") -> dict:
    S_tr, P_tr, _, I_tr, dims = load(tr)
    S_te, P_te, _, I_te, _ = load(te)
    F_tr, F_te = S_tr.reshape(len(S_tr), -1), S_te.reshape(len(S_te), -1)
    Nmax = max(Ns)
    lo, hi = P_tr.min(0), P_tr.max(0)
    width = np.where(hi > lo, hi - lo, 1.0)
    glob, glob_all = {}, {}
    models = {b: fit_model(P_tr, F_tr, basis=b, tol=None, max_modes=Nmax)
              for b in ("affine", "linear")}
    # the kind's global model (max local dimension, the kind's basis) is the surrogate;
    # the criterion's check uses the one of its dimension
    surrogate = models[basis]
    crit_surrogate = fit_model(P_tr, F_tr, basis=basis, tol=None, max_modes=crit_N)
    for b, g in models.items():
        for N in Ns:
            V = g.modes[:, :N]
            R = (F_te - g.mean) - ((F_te - g.mean) @ V) @ V.T
            pe = np.linalg.norm(R, axis=1) / np.linalg.norm(F_te, axis=1)
            pr = rel(truncated(g, P_te, N), F_te)
            glob_all[(b, N)] = (pe.mean(), pe.max(), pr.mean(), pr.max())
    for N in Ns:    # the strongest global baseline: the better basis, per error kind
        a, li = glob_all[("affine", N)], glob_all[("linear", N)]
        pa = a if a[0] <= li[0] else li
        qa = a if a[2] <= li[2] else li
        glob[N] = (pa[0], pa[1], qa[2], qa[3])
    rows = []
    crit = {}
    for dis in dissims:
        t0 = time.perf_counter()
        D = dissimilarity_matrix(S_tr, dis, params=P_tr)
        t_d = time.perf_counter() - t0
        for K in Ks:
            cl = cluster(D, K, seed=0)
            true = np.argmin(cross_dissimilarity(S_te, S_tr[cl.medoids], dis, params_a=P_te,
                                                 params_b=P_tr[cl.medoids], lo=lo, width=width),
                             axis=1)
            loc = LocalPOD.fit(P_tr, F_tr, cl.labels, cl.medoids, D, tol=None, max_modes=Nmax,
                               basis=basis)
            # the same local bases, each regression on its cluster's members only
            loc_members = LocalPOD(
                [PODRegression.with_regression(m.mean, m.modes, m.singular_values, "rbf",
                                               P_tr[idx], F_tr[idx])
                 for m, idx in zip(loc.models, loc.members)], loc.members)
            picks = {"sur": SurrogateSelector(surrogate, S_tr[cl.medoids], P_tr[cl.medoids],
                                              dis, lo, width).predict(P_te),
                     "knn": KNNSelector.fit(P_tr, cl.labels, K).predict(P_te),
                     "boost": BoostingSelector.fit(P_tr, cl.labels, K, rounds=40).predict(P_te)}
            if I_tr:
                picks["cnn"] = CNNSelector.fit(I_tr, cl.labels, K, dims).predict(fields=I_te)
            norms = np.linalg.norm(F_te, axis=1)
            for N in Ns:
                p_true = loc.projection_error(F_te, true, N) / norms
                row = {"dis": dis, "K": K, "N": N, "proj_true_mean": p_true.mean(), "t_dis": t_d}
                for name, chosen in picks.items():
                    p = loc.projection_error(F_te, chosen, N) / norms
                    row.update({f"proj_{name}_mean": p.mean(), f"proj_{name}_max": p.max(),
                                f"acc_{name}": float(np.mean(chosen == true))})
                for key, sel, model in (("pred", "sur", loc), ("pred_knn", "knn", loc),
                                        ("pred_members", "knn", loc_members)):
                    pred = np.empty_like(F_te)
                    for c in np.unique(picks[sel]):
                        rows_c = picks[sel] == c
                        pred[rows_c] = truncated(model.models[c], P_te[rows_c], N)
                    pr = rel(pred, F_te)
                    row.update({f"{key}_mean": pr.mean(), f"{key}_max": pr.max()})
                rows.append(row)
        if crit_K:
            t0 = time.perf_counter()
            k_star, sweep = sweep_k(F_tr, D, crit_K, crit_N, seed=0, basis=basis)
            t_c = time.perf_counter() - t0
            measured = {}
            for K in crit_K:
                cl = cluster(D, K, seed=0)
                loc = LocalPOD.fit(P_tr, F_tr, cl.labels, cl.medoids, D, tol=None,
                                   max_modes=crit_N, basis=basis)
                chosen = SurrogateSelector(crit_surrogate, S_tr[cl.medoids], P_tr[cl.medoids],
                                           dis, lo, width).predict(P_te)
                measured[K] = float(np.mean(loc.projection_error(F_te, chosen, crit_N)
                                            / np.linalg.norm(F_te, axis=1)))
            crit[dis] = {"k_star": k_star, "sweep": sweep, "measured": measured, "t": t_c,
                         "glob": glob.get(crit_N, (np.nan,))[0]}
    return {"name": name, "glob": glob, "glob_all": glob_all, "rows": rows, "crit": crit,
            "n_tr": len(S_tr),
            "n_te": len(S_te), "dim": F_tr.shape[1]}


def _f(row: dict, key: str, spec: str = ".2e") -> str:
    return format(row[key], spec) if key in row else "-"


def table(r: dict, Ns: list[int]) -> list[str]:
    out = [f"### {r['name']} ({r['n_tr']} train / {r['n_te']} test, {r['dim']} values per "
           "sample)", "",
           "Mean relative l2 error on the test set (max in brackets). `proj`: best "
           "approximation in the local basis chosen by each selector: `sur` the nearest "
           "medoid of the global surrogate's prediction, `k-NN` (the `local` kind's default) "
           "and `boost` on the parameters, `cnn` on the input fields (`-`: no input fields); "
           "`proj*`: by the true cluster. `pred`: non-intrusive RBF prediction, surrogate "
           "selected, each local regression fitted on all training parameters (the kind's "
           "default `--local-regression all`); `gain pred k-NN all / members`: k-NN "
           "selected, regressions on all parameters / on the cluster's members. Accuracies against the true cluster (nearest medoid of the true "
           "solution). Local bases: linear (unit-norm snapshots). Global: the better of the "
           "affine and linear global POD bases for each column. Gain = global mean / local "
           "mean at equal N.", "",
           "| dissimilarity | K | N | proj sur | proj k-NN | proj boost | proj cnn | proj* "
           "| pred sur | acc. sur / k-NN / boost / cnn | gain proj sur | gain k-NN | gain boost "
           "| gain cnn | gain proj* | gain pred | gain pred k-NN all / members |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for N in Ns:
        g = r["glob"][N]
        for b in ("affine", "linear"):
            a = r["glob_all"][(b, N)]
            out.append(f"| global POD ({b}) | 1 | {N} | {a[0]:.2e} ({a[1]:.2e}) | - | - | - | "
                       f"- | {a[2]:.2e} ({a[3]:.2e}) | - | {g[0] / a[0]:.2f} | - | - | - | - | "
                       f"{g[2] / a[2]:.2f} | - |")
        for row in (x for x in r["rows"] if x["N"] == N):
            acc = " / ".join(_f(row, f"acc_{k}", ".2f") for k in ("sur", "knn", "boost", "cnn"))
            gains = " | ".join(f"{g[0] / row[f'proj_{k}_mean']:.1f}"
                               if f"proj_{k}_mean" in row else "-"
                               for k in ("sur", "knn", "boost", "cnn", "true"))
            out.append(f"| {row['dis']} | {row['K']} | {N} | {row['proj_sur_mean']:.2e} "
                       f"({row['proj_sur_max']:.2e}) | {_f(row, 'proj_knn_mean')} | "
                       f"{_f(row, 'proj_boost_mean')} | {_f(row, 'proj_cnn_mean')} | "
                       f"{row['proj_true_mean']:.2e} | {row['pred_mean']:.2e} "
                       f"({row['pred_max']:.2e}) | {acc} | {gains} | "
                       f"{g[2] / row['pred_mean']:.2f} | {g[2] / row['pred_knn_mean']:.2f} / "
                       f"{g[2] / row['pred_members_mean']:.2f} |")
    out.append("")
    for N in Ns:
        g = r["glob"][N]
        best = {}
        for row in (x for x in r["rows"] if x["N"] == N):
            b = best.get(row["dis"])
            if b is None or row["proj_sur_mean"] < b["proj_sur_mean"]:
                best[row["dis"]] = row
        line = ", ".join(f"{d} K={b['K']} {g[0] / b['proj_sur_mean']:.1f}x (k-NN "
                         f"{g[0] / b['proj_knn_mean']:.1f}x, pred {g[2] / b['pred_mean']:.2f}x)"
                         for d, b in best.items())
        out.append(f"- N={N}: best gain in projection error per dissimilarity (surrogate "
                   f"selector): {line}")
    out.append("")
    return out


def crit_table(r: dict, N: int) -> list[str]:
    out = []
    for dis, c in r["crit"].items():
        best_K = min(c["measured"], key=c["measured"].get)
        ok = c["measured"][c["k_star"]] <= 1.2 * c["measured"][best_K]
        out += [f"#### {r['name']}, {dis}, N = {N} (sweep {c['t']:.1f} s)", "",
                "| K | predicted gain (in-sample) | predicted gain (cross-val.) | predicted "
                "error (cross-val.) | measured error (test, proj) | measured gain |",
                "|---:|---:|---:|---:|---:|---:|"]
        for p in c["sweep"]:
            m = c["measured"][p.K]
            out.append(f"| {p.K}{' **(chosen)**' if p.K == c['k_star'] else ''} | "
                       f"{p.gain_in_sample:.3g} | {p.gain_cv:.2f} | {p.cv_local:.2e} | "
                       f"{m:.2e} | {c['glob'] / m:.2f} |")
        out += ["", f"Chosen K = {c['k_star']} (test error {c['measured'][c['k_star']]:.2e}); "
                f"best measured K = {best_K} ({c['measured'][best_K]:.2e}); within 20 %: "
                f"**{'yes' if ok else 'no'}**.", ""]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small datasets (a smoke run)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "rom_local.md"))
    ap.add_argument("--only", default=None, help="comma list of problems to run")
    a = ap.parse_args()
    q = a.quick
    Ns = [5, 10, 20]
    Ks = [2, 4, 8, 16] if not q else [2, 4, 8]
    cases = [
        ("advection_diffusion", ["eps_min=0.001", "eps_max=1.0"], 32 if q else 48,
         (120, 60) if q else (400, 200), ["sine", "euclidean", "params"]),
        ("helmholtz", ["k_min=2", "k_max=40"], 32 if q else 48,
         (80, 40) if q else (300, 100), ["sine", "euclidean", "params"]),
        ("burgers", ["n_modes=4", "nu=0.002", "nu_max=0.05"], 64 if q else 128,
         (60, 30) if q else (200, 100), ["sine", "grassmann", "euclidean", "params"]),
    ]
    only = set(a.only.split(",")) if a.only else None
    lines = ["# Local ROM dictionaries (ROM-net) vs one global POD basis", "",
             f"Command: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rom_local.py"
             f"{' --quick' if q else ''}`", "",
             f"Machine: {platform.machine()} {os.cpu_count()}-core VM shared with other jobs, "
             f"one BLAS thread; load average at start {os.getloadavg()[0]:.1f}.", ""]
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for prob, params, res, (ntr, nte), dissims in cases:
            if only and prob not in only:
                continue
            tr, te = Path(tmp) / f"{prob}_tr.h5", Path(tmp) / f"{prob}_te.h5"
            t_gen = generate(prob, ntr, res, 1, params, tr) + generate(prob, nte, res, 2,
                                                                       params, te)
            crit_K = list(range(2, 17)) if not q else [2, 3, 4, 6, 8]
            t0 = time.perf_counter()
            r = study(prob, tr, te, Ns, Ks, dissims, 10, crit_K)
            lines += [f"## {prob} at resolution {res}, options {' '.join(params)}", "",
                      f"Generation {t_gen:.1f} s, study {time.perf_counter() - t0:.1f} s "
                      f"(load {os.getloadavg()[0]:.1f}).", ""]
            lines += table(r, Ns)
            if r["crit"]:
                lines += ["### The a priori criterion (benchmark 4)", ""]
                lines += crit_table(r, 10)
            print(f"{prob} done in {time.perf_counter() - t_all:.0f} s", flush=True)
    lines += [f"Total {time.perf_counter() - t_all:.0f} s; load average at end "
              f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())}.", ""]
    Path(a.out).write_text("\n".join(lines))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
