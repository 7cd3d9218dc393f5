"""Registry of neural-operator architectures (lazy imports).

Contract shared by every architecture (FNO, LSM, scOT)
-------------------------------------------------------

* ``MODELS`` maps a kind to ``"module:Class"``; the module is imported only
  when the kind is built, so ``rom --help`` stays fast and a half-written
  architecture does not break the others.
* Constructor: ``Model(in_channels: int, out_channels: int, ndim: int, **arch)``.
  Every ``arch`` keyword is JSON-serialisable (ints, floats, strings, bools,
  lists of those): the trainer stores ``arch`` in ``model.json`` and the model
  is rebuilt with ``build_model(kind, in_channels=..., out_channels=...,
  ndim=..., **arch)``.
* Every class defines ``ARCH_DEFAULTS: dict`` (the defaults of its keyword
  arguments: one training option each in :mod:`operators.kinds`, shown by
  ``rom train KIND --help``, and stored in ``model.json``) and may define
  ``ARCH_HELP: dict`` (their help texts) and ``ARCH_LEGACY: dict`` (for a keyword
  added after models were stored: the value that reproduces those models, applied
  by :func:`stored_arch` when ``model.json`` lacks the key).
* ``forward(x, t=None)``: ``x`` is a tensor ``(B, C_in, *spatial)`` with
  ``len(spatial) == ndim``; ``t`` is ``None`` or a tensor ``(B,)`` of lead times.
  Returns ``(B, C_out, *spatial)`` on the same grid as ``x``.
  scOT uses ``t`` in its time-conditioned normalisations; FNO/LSM may ignore
  it because the trainer appends ``t`` as one extra constant input channel
  when the task is time dependent (``in_channels`` then counts that channel).
  A class that consumes ``t`` itself sets ``USES_TIME = True`` (scOT) and
  gets no extra channel.
* Models must work at any resolution and in float32 (LSM and scOT pad to
  their patch/window multiples internally and crop back). ``RESOLUTION_INVARIANT``
  (class attribute, default false) marks an architecture whose trained weights
  mean the same operator at every resolution (FNO); only those are evaluated
  at another resolution (``rom evaluate --resolution``).
* Optional fine-tuning hook: ``replace_io(in_channels, out_channels)`` swaps
  the embedding/recovery layers for new channel counts (``--init MODEL``);
  without it the trainer rebuilds those layers by matching parameter names
  and shapes (weights with matching shapes are copied, others re-initialised).
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

from torch import nn

#: kind -> "module:Class" (imported lazily).
MODELS: dict[str, str] = {
    "fno": "operators.fno:FNO",
    "lsm": "operators.lsm:LSM",
    "scot": "operators.scot:ScOT",
}


def model_class(kind: str) -> type[nn.Module]:
    """Import and return the class registered for ``kind``."""
    if kind not in MODELS:
        raise ValueError(f"unknown operator kind {kind!r}; valid: {', '.join(sorted(MODELS))}")
    module, attr = MODELS[kind].split(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"operator kind {kind!r} is not available ({exc})") from None


def arch_defaults(kind: str) -> dict[str, Any]:
    """Default architecture keywords of ``kind`` (a copy of its ``ARCH_DEFAULTS``)."""
    return copy.deepcopy(model_class(kind).ARCH_DEFAULTS)


def stored_arch(kind: str, arch: dict[str, Any]) -> dict[str, Any]:
    """A stored architecture completed by the class's ``ARCH_LEGACY`` (the values keywords
    added later had before they existed), so an old ``model.json`` rebuilds the same model."""
    return {**getattr(model_class(kind), "ARCH_LEGACY", {}), **arch}


def build_model(kind: str, in_channels: int, out_channels: int, ndim: int,
                **arch: Any) -> nn.Module:
    """Build ``kind`` with the defaults overridden by ``arch``; unknown keys are an error."""
    defaults = arch_defaults(kind)
    unknown = set(arch) - set(defaults)
    if unknown:
        raise ValueError(f"unknown architecture option(s) {sorted(unknown)} for {kind}; "
                         f"valid: {', '.join(sorted(defaults))}")
    cls = model_class(kind)
    return cls(int(in_channels), int(out_channels), int(ndim), **{**defaults, **arch})


def count_parameters(model: nn.Module) -> int:
    """Number of trainable real parameters (a complex weight counts twice)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters()
               if p.requires_grad)
