"""Handing an affine operator to a pyMOR worker: the terms ``A_q`` (CSR) and arrays in one ``.npz``.

numpy and scipy only, so the same module is imported by the benchmark (this
venv) and by its worker (the pyMOR venv).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp


def save_terms(npz: str | Path, A_terms: list[sp.spmatrix], **arrays: Any) -> None:
    """Write ``A_terms`` (as CSR data/indices/indptr) and ``arrays`` to ``npz``."""
    packed: dict[str, Any] = {"Q": len(A_terms), "shape": A_terms[0].shape, **arrays}
    for q, A in enumerate(A_terms):
        A = sp.csr_matrix(A)
        packed.update({f"A{q}_data": A.data, f"A{q}_indices": A.indices, f"A{q}_indptr": A.indptr})
    np.savez(npz, **packed)


def load_terms(npz: str | Path) -> tuple[list[sp.csr_matrix], Any]:
    """``(A_terms, arrays)`` as :func:`save_terms` wrote them."""
    d = np.load(npz)
    A_terms = [sp.csr_matrix((d[f"A{q}_data"], d[f"A{q}_indices"], d[f"A{q}_indptr"]),
                             shape=tuple(d["shape"])) for q in range(int(d["Q"]))]
    return A_terms, d
