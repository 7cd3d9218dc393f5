"""``rom report``: one self-contained HTML (or PDF) file from a run directory.

A run directory holds any of: rom datasets (``*.h5``), model directories
(``model.json``) and evaluation directories (``metrics.json`` + PNG figures,
written by ``rom evaluate -o DIR``). The report finds them by walking the
directory and shows a section only when its data exist:

* **Dataset** — problem, grid, parameter marginals, a few input/output fields;
* **Solvers** — iterations, matvecs, time per system (and ω choices of bandit SOR);
* **Reduced-order models** / **Neural operators** — each evaluation's metrics and figures;
* **Accuracy and speed** — one table of every model against the reference solver.

Images are embedded as base64 PNG (readable offline) and also written as PNG
files next to the report (``<report>_files/``).
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from . import plots
from .atomic import atomic_write_text
from .model_dir import rom_version
from .model_kinds import MODEL_KINDS, model_kind

#: report group of each model family (:attr:`data.model_kinds.ModelKind.family`);
#: other families (learned preconditioners) and unknown kinds go with the solvers
FAMILY_GROUPS = {"rom": "Reduced-order models", "operator": "Neural operators"}


def family_group(kind: Any) -> str:
    """The report group of an evaluation of model kind ``kind``."""
    family = model_kind(kind).family if kind in MODEL_KINDS else None
    return FAMILY_GROUPS.get(family, "Solvers")


@dataclass
class Section:
    title: str
    html: list[str] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)


def find_datasets(run_dir: Path) -> list[Path]:
    """Every ``*.h5`` under ``run_dir`` whose root says ``format = rom-dataset``."""
    found = []
    for p in sorted(run_dir.rglob("*.h5")):
        try:
            with h5py.File(p, "r") as f:
                if f.attrs.get("format") == "rom-dataset":
                    found.append(p)
        except OSError:
            continue
    return found


def find_evaluations(run_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """``(directory, metrics)`` of every ``metrics.json`` under ``run_dir``."""
    out = []
    for p in sorted(run_dir.rglob("metrics.json")):
        try:
            out.append((p.parent, json.loads(p.read_text())))
        except (OSError, json.JSONDecodeError):
            continue
    return out


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
                    for k, v in rows)
    return f"<table class='kv'>{cells}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return str(v)


def dataset_sections(path: Path, fig_dir: Path) -> list[Section]:
    """The dataset section and, when the file has solver statistics, the solver section."""
    from .dataset import Dataset

    stem = path.stem
    with Dataset(path) as ds:
        sec = Section(f"Dataset: {path.name}")
        fields = {n: tuple(ds.field(n).shape[1:]) for n in [*ds.input_names, *ds.output_names]}
        sec.html.append(_table([
            ("problem", ds.problem), ("samples", ds.n_samples), ("complete", ds.complete),
            ("grid", " × ".join(map(str, ds.grid.shape))),
            ("time steps", "—" if ds.times is None else len(ds.times)),
            ("inputs", ", ".join(ds.input_names) or "—"), ("outputs", ", ".join(ds.output_names)),
            ("field shapes", ", ".join(f"{k} {v}" for k, v in fields.items())),
            ("solver", ds.solver), ("seed", ds.seed)]))
        if ds.parameters.size:
            fig = plots.parameter_histograms(ds.parameters, ds.parameter_names)
            sec.figures.append(("parameter marginals", plots.save(fig, fig_dir / f"{stem}_params.png")))
        k = min(3, ds.n_samples)
        if ds.times is None:
            rows = [{**ds.inputs(i), **ds.outputs(i)} for i in range(k)]
            rows = [{n: v for n, v in r.items() if np.ndim(v) >= 1} for r in rows]
            fig = plots.field_panels(rows, ds.grid.axes, [f"sample {i}" for i in range(k)])
            sec.figures.append(("input and solution fields",
                                plots.save(fig, fig_dir / f"{stem}_fields.png")))
        else:
            name = ds.output_names[0]
            traj = np.asarray(ds.field(name)[0])
            if traj.ndim == ds.grid.ndim + 2:
                traj = traj[..., 0]
            fig = plots.trajectory_panels(traj, ds.times, ds.grid.axes, name)
            sec.figures.append((f"trajectory of {name}, sample 0",
                                plots.save(fig, fig_dir / f"{stem}_trajectory.png")))
        sections = [sec]
        stats = {k: np.asarray(v) for k, v in ds.stats.items() if np.ndim(v) == 1}
        if stats.get("seconds") is not None and len(stats["seconds"]):
            solv = Section(f"Solvers: {path.name}")
            solv.html.append(_table([
                ("solver", ds.solver), ("settings", json.dumps(ds.solver_settings)),
                ("total iterations", int(np.sum(stats.get("iterations", 0)))),
                ("total matvecs", int(np.sum(stats.get("matvecs", 0)))),
                ("total solve time [s]", float(np.sum(stats["seconds"]))),
                ("max true residual", float(np.max(stats.get("residual", [np.nan])))),
                ("all converged", bool(np.all(stats.get("converged", True))))]))
            omega = _omega(ds)
            fig = plots.solver_statistics(stats, omega)
            solv.figures.append(("per-system statistics in solve order",
                                 plots.save(fig, fig_dir / f"{stem}_solver.png")))
            sections.append(solv)
    return sections


def _omega(ds: Any) -> np.ndarray | None:
    """ω chosen per sample when the solver recorded it (bandit SOR), else ``None``."""
    info = ds.stats.get("info")
    if info is None:
        return None
    vals = []
    for s in np.asarray(info):
        try:
            d = json.loads(s.decode() if isinstance(s, bytes) else str(s))
        except (json.JSONDecodeError, TypeError):
            return None
        if not isinstance(d, dict) or "omega" not in d:
            return None
        w = d["omega"]
        vals.append(float(np.mean(w)) if isinstance(w, list) else float(w))
    return np.asarray(vals)


def _num(v: Any, spec: str) -> str:
    """A metric formatted with ``spec``; ``None`` (metrics.json's undefined number) as n/a."""
    return "n/a" if v is None else format(v, spec)


def evaluation_section(eval_dir: Path, metrics: dict[str, Any], run_dir: Path) -> Section:
    kind = str(metrics.get("model", "?"))
    sec = Section(f"{kind}: {eval_dir.relative_to(run_dir) if eval_dir != run_dir else eval_dir.name}")
    r, t = metrics.get("rel_l2", {}), metrics.get("time_per_sample_s", {})
    rows = [("model", kind), ("samples", metrics.get("n_samples")),
            ("relative L2 (mean / median / max)",
             " / ".join(_num(r.get(k), ".3e") for k in ("mean", "median", "max"))),
            ("time per sample: model / solver [s]",
             f"{_num(t.get('model'), '.3e')} / {_num(t.get('solver'), '.3e')}"),
            ("speedup", metrics.get("speedup"))]
    if "bound" in metrics:
        b = metrics["bound"]
        rows.append(("bound (violations, effectivity min–max)",
                     f"{b.get('violations')}, {_num(b.get('min_effectivity'), '.3g')}–"
                     f"{_num(b.get('max_effectivity'), '.3g')}"))
    # a kind's own rows (e.g. per-cluster errors, output effectivities): metrics["report_rows"]
    rows.extend((str(label), value) for label, value in metrics.get("report_rows", []))
    sec.html.append(_table(rows))
    for png in sorted(eval_dir.glob("*.png")):
        sec.figures.append((png.stem.replace("_", " "), png))
    return sec


def summary_table(evals: list[tuple[Path, dict[str, Any]]], run_dir: Path) -> str:
    head = ("<tr><th>model</th><th>evaluation</th><th>samples</th><th>mean rel. L2</th>"
            "<th>max rel. L2</th><th>model s/sample</th><th>solver s/sample</th>"
            "<th>speedup</th></tr>")
    body = []
    for d, m in evals:
        t = m.get("time_per_sample_s", {})
        r = m.get("rel_l2", {})
        cells = [m.get("model"), d.relative_to(run_dir) if d != run_dir else d.name,
                 m.get("n_samples"), r.get("mean"), r.get("max"), t.get("model"),
                 t.get("solver"), m.get("speedup")]
        body.append("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in cells) + "</tr>")
    return f"<table class='grid'>{head}{''.join(body)}</table>"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}th,td{padding:.25em .7em;text-align:left;
font-size:.92em}table.grid td,table.grid th{border:1px solid #ccc}table.kv th{color:#555;
font-weight:normal}figure{margin:1em 0}figcaption{color:#555;font-size:.9em}img{max-width:100%}"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<img alt='{html.escape(path.stem)}' src='data:image/png;base64,{data}'>"


def _render_html(title: str, groups: list[tuple[str, list[Section]]], summary: str) -> str:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by rom "
             f"{html.escape(rom_version())}.</p>"]
    for group, sections in groups:
        if not sections:
            continue
        parts.append(f"<section class='{group.lower().replace(' ', '-')}'><h2>{group}</h2>")
        for s in sections:
            parts.append(f"<h3>{html.escape(s.title)}</h3>")
            parts.extend(s.html)
            for caption, png in s.figures:
                parts.append(f"<figure>{_img(png)}<figcaption>{html.escape(caption)}"
                             "</figcaption></figure>")
        parts.append("</section>")
    if summary:
        parts.append(f"<section class='accuracy-and-speed'><h2>Accuracy and speed</h2>{summary}"
                     "</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(run_dir: str | Path, out: str | Path, fmt: str = "html") -> Path:
    """Write the report of ``run_dir`` to ``out`` (``fmt`` html or pdf) and return its path."""
    run_dir, out = Path(run_dir), Path(out)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    fig_dir = out.parent / f"{out.stem}_files"
    data_secs, solver_secs = [], []
    for p in find_datasets(run_dir):
        secs = dataset_sections(p, fig_dir)
        data_secs.append(secs[0])
        solver_secs.extend(secs[1:])
    evals = find_evaluations(run_dir)
    by_group: dict[str, list[Section]] = {"Solvers": solver_secs,
                                          **{g: [] for g in FAMILY_GROUPS.values()}}
    for d, m in evals:
        by_group[family_group(m.get("model"))].append(evaluation_section(d, m, run_dir))
    if not (data_secs or evals):
        raise ValueError(f"{run_dir}: nothing to report (no rom datasets or metrics.json found)")
    groups = [("Dataset", data_secs), *by_group.items()]
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "pdf":
        return _render_pdf(groups, out)
    if fmt != "html":
        raise ValueError(f"unknown report format {fmt!r}; valid: html, pdf")
    text = _render_html(f"rom report — {run_dir.name}", groups,
                        summary_table(evals, run_dir) if evals else "")
    return atomic_write_text(out, text)


def _render_pdf(groups: list[tuple[str, list[Section]]], out: Path) -> Path:
    """One page per figure, titled by section (matplotlib's PdfPages)."""
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(out) as pdf:
        for group, sections in groups:
            for s in sections:
                for caption, png in s.figures:
                    img = mpimg.imread(png)
                    h, w = img.shape[:2]
                    fig = plt.figure(figsize=(8.5, 8.5 * h / w + 0.8))
                    ax = fig.add_axes([0, 0, 1, 1 - 0.8 / (8.5 * h / w + 0.8)])
                    ax.imshow(img)
                    ax.axis("off")
                    fig.suptitle(f"{group} — {s.title}\n{caption}", fontsize=9)
                    pdf.savefig(fig)
                    plt.close(fig)
    return out
