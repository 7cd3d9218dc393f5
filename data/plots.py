"""Figures of datasets and solver statistics (matplotlib, Agg backend, no display).

Every function returns a ``matplotlib.figure.Figure``; :func:`save` writes it
as PNG (or PDF) and closes it. Fields share one colour scale per row so that
panels can be compared by eye.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def _show_field(ax: Any, field: np.ndarray, axes: Sequence[np.ndarray] | None,
                vmin: float | None = None, vmax: float | None = None, cmap: str = "viridis"):
    """Draw a 1-D field as a curve, a 2-D field as an image (x right, y up), 3-D as a mid slice."""
    f = np.asarray(field, dtype=float)
    if f.ndim == 3:
        f = f[:, :, f.shape[2] // 2]
    if f.ndim == 1:
        x = axes[0] if axes is not None else np.arange(f.size)
        ax.plot(x, f)
        ax.set_xlabel("x")
        return None
    extent = None
    if axes is not None and len(axes) >= 2:
        extent = (float(axes[0][0]), float(axes[0][-1]), float(axes[1][0]), float(axes[1][-1]))
    im = ax.imshow(f.T, origin="lower", extent=extent, vmin=vmin, vmax=vmax, cmap=cmap,
                   aspect="auto")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return im


def field_panels(rows: Sequence[dict[str, np.ndarray]], axes: Sequence[np.ndarray] | None = None,
                 row_labels: Sequence[str] | None = None, title: str = "") -> Figure:
    """One row per sample, one column per field; a colour bar per panel.

    Fields with a trailing channel axis show their first channel.
    """
    names = list(rows[0])
    fig, axs = plt.subplots(len(rows), len(names), figsize=(3.4 * len(names), 2.9 * len(rows)),
                            squeeze=False)
    for i, row in enumerate(rows):
        for j, name in enumerate(names):
            f = np.asarray(row[name])
            if axes is not None and f.ndim == len(axes) + 1:
                f = f[..., 0]
            im = _show_field(axs[i, j], f, axes)
            if im is not None:
                fig.colorbar(im, ax=axs[i, j])
            label = f"{row_labels[i]}: " if row_labels else ""
            axs[i, j].set_title(f"{label}{name}", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def trajectory_panels(traj: np.ndarray, times: np.ndarray, axes: Sequence[np.ndarray],
                      name: str = "u", n_frames: int = 4) -> Figure:
    """Snapshots of one trajectory ``(n_times, *spatial)`` at evenly spaced output times."""
    idx = np.unique(np.linspace(0, len(times) - 1, n_frames).round().astype(int))
    if len(axes) == 1:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for k in idx:
            ax.plot(axes[0], traj[k], label=f"t = {times[k]:.3g}")
        ax.set_xlabel("x")
        ax.set_ylabel(name)
        ax.legend(fontsize=8)
        return fig
    lo, hi = float(np.min(traj[idx])), float(np.max(traj[idx]))
    fig, axs = plt.subplots(1, len(idx), figsize=(3.3 * len(idx), 3.0), squeeze=False)
    im = None
    for a, k in zip(axs[0], idx):
        im = _show_field(a, traj[k], axes, vmin=lo, vmax=hi)
        a.set_title(f"{name}, t = {times[k]:.3g}", fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=list(axs[0]), shrink=0.85)
    return fig


def parameter_histograms(params: np.ndarray, names: Sequence[str], max_params: int = 8) -> Figure:
    """Histograms of the first ``max_params`` parameters (the sampler's marginals)."""
    k = min(params.shape[1], max_params)
    fig, axs = plt.subplots(1, k, figsize=(2.6 * k, 2.4), squeeze=False)
    for j in range(k):
        axs[0, j].hist(params[:, j], bins=min(20, max(5, len(params) // 3)), color="#4c72b0")
        axs[0, j].set_xlabel(names[j] if j < len(names) else f"mu_{j}")
    axs[0, 0].set_ylabel("samples")
    fig.tight_layout()
    return fig


def solver_statistics(stats: dict[str, np.ndarray], omega: np.ndarray | None = None) -> Figure:
    """Iterations, matvecs and wall time per system in solve order; ω choices if present."""
    order = np.argsort(stats.get("order_position", np.arange(len(stats["seconds"]))))
    panels = [("iterations", "iterations"), ("matvecs", "matrix-vector products"),
              ("seconds", "solve time [s]")]
    panels = [p for p in panels if p[0] in stats]
    n = len(panels) + (omega is not None)
    fig, axs = plt.subplots(1, n, figsize=(3.6 * n, 2.8), squeeze=False)
    for a, (key, label) in zip(axs[0], panels):
        a.plot(np.asarray(stats[key])[order], ".-", ms=3)
        a.set_xlabel("system (solve order)")
        a.set_ylabel(label)
    if omega is not None:
        a = axs[0, -1]
        a.plot(omega[order], ".", ms=3)
        a.set_xlabel("system (solve order)")
        a.set_ylabel("ω chosen")
    fig.tight_layout()
    return fig
