"""Report rows and figures of a ``local`` evaluation (``rom report`` shows both).

Figures (PNG in the evaluation directory): the training and evaluated
parameters coloured by cluster (first two parameter coordinates), the
per-cluster POD singular values (normalised by the first) against the global
ones, the mean relative projection error against the online dimension for the
local bases (true cluster) and the global basis, and the selector's confusion
matrix (true cluster against chosen one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data.evaluation import Draw, semilogy


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def report_rows(record: dict[str, Any]) -> list[list[str]]:
    """``[label, value]`` rows for ``rom report``."""
    rows = [["clusters K", str(record["K"])],
            ["dissimilarity / local model / selector",
             f"{record['dissimilarity']} / {record['local']} / {record['selector']}"],
            ["mean rel. L2: local (selected) | local (true cluster) | global",
             f"{_fmt(record['rel_l2']['mean'])} | {_fmt(record['oracle_rel_l2_mean'])} | "
             f"{_fmt(record['global']['rel_l2']['mean'])}"],
            ["selector accuracy", f"{record['selector_accuracy']:.3f}"],
            ["wrong choices: n, mean extra rel. L2",
             f"{record['wrong_choice']['n']}, {_fmt(record['wrong_choice']['mean_extra_rel_l2'])}"]]
    c = record["criterion"]
    rows.append(["criterion gain: predicted (in-sample | cross-validated) vs measured "
                 "(projection | prediction)",
                 f"{_fmt(c['predicted_gain_in_sample'])} | {_fmt(c['predicted_gain_cv'])} vs "
                 f"{_fmt(c['measured_gain_projection'])} | {_fmt(c['measured_gain_prediction'])}"])
    for pc in record["per_cluster"]:
        rows.append([f"cluster {pc['cluster']} (n={pc['n']}, dim {pc['local_dim']})",
                     f"mean rel. L2 {_fmt(pc['mean_rel_l2'])}"])
    return rows


def _params_by_cluster(train_p: np.ndarray, train_l: np.ndarray, mus: np.ndarray,
                       chosen: np.ndarray) -> Draw:
    def draw(ax: Any) -> None:
        j = 1 if train_p.shape[1] > 1 else 0
        ax.scatter(train_p[:, 0], train_p[:, j], c=train_l, cmap="tab20", s=10, marker="o",
                   label="training")
        ax.scatter(mus[:, 0], mus[:, j], c=chosen, cmap="tab20", s=18, marker="x",
                   label="evaluated (chosen cluster)")
        ax.set_xlabel("parameter 1")
        ax.set_ylabel(f"parameter {j + 1}")
        ax.set_title("parameters coloured by cluster")
        ax.legend(fontsize=7)
    return draw


def _confusion(M: np.ndarray) -> Draw:
    def draw(ax: Any) -> None:
        im = ax.imshow(M, cmap="Blues")
        ax.figure.colorbar(im, ax=ax)
        ax.set_xlabel("chosen cluster")
        ax.set_ylabel("true cluster")
        ax.set_title("selector confusion")
    return draw


def figures(model: Any, mus: np.ndarray, chosen: np.ndarray, true: np.ndarray,
            ev: Any) -> dict[str, Draw]:
    """The figures of the module docstring."""
    from ..selectors import confusion

    t = model
    out: dict[str, Draw] = {}
    train_p = getattr(t, "train_params", None)
    if train_p is not None:
        out["clusters_parameters"] = _params_by_cluster(train_p, t.train_labels, mus, chosen)
    sv = {"global": t.global_sv / t.global_sv[0]} if t.global_sv is not None and \
        t.global_sv.size and t.global_sv[0] > 0 else {}
    for c, s in enumerate(t.local_sv):
        if s.size and s[0] > 0:
            sv[f"cluster {c}"] = s / s[0]
    if sv:
        n = min(60, max(len(v) for v in sv.values()))
        out["singular_values_local_vs_global"] = semilogy(
            None, {k: v[:n] for k, v in sv.items()}, "index", "POD singular values (normalised)")
    if ev.proj_local and ev.proj_global:
        out["error_vs_dimension"] = semilogy(
            ev.dims, {"local (true cluster)": ev.proj_local, "global": ev.proj_global},
            "online dimension N", "mean rel. projection error")
    out["selector_confusion"] = _confusion(confusion(true, chosen, int(model.meta["K"])))
    return out
