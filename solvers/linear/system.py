"""The object every sequence solver consumes: one linear system ``A x = b``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class LinearSystem:
    """``A x = b`` with ``A`` a square CSR matrix; ``symmetric`` / ``spd`` are known facts."""

    A: sp.csr_matrix
    b: np.ndarray
    symmetric: bool = False
    spd: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
