"""Time-dependent operator learning: training pairs of trajectories and rollouts.

A trajectory is a sequence of states ``u(t_0), ..., u(t_{T-1})``. Training pairs
(built by :class:`data.torch_dataset.OperatorDataset`):

* **all2all** -- ``(u(t_i), u(t_j))`` for all ``j >= i`` with lead time
  ``t_j - t_i``: ``T (T + 1) / 2`` pairs per trajectory (Poseidon);
* **window** -- ``k_in`` states to the next ``k_out`` states (FNO's 10 -> 10).

Inference from the initial state only (what ``rom evaluate`` measures):

* ``direct`` (all2all models): ``u(t_j) ~ G(u(t_0), t_j - t_0)`` for every ``j``;
* ``autoregressive`` (all2all models): ``u(t_{j+1}) ~ G(u(t_j), t_{j+1} - t_j)``,
  feeding predictions back;
* window models roll out ``k_out`` states at a time from the last ``k_in``
  (true states for the first window, predictions afterwards).

``predict(x, t)`` is any callable on batches ``(B, C, *spatial)``, ``t`` of shape ``(B,)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from data.torch_dataset import all2all_pairs, window_pairs

__all__ = ["all2all_pairs", "window_pairs", "rollout_all2all", "rollout_window"]

Predict = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def rollout_all2all(predict: Predict, u0: torch.Tensor, static: torch.Tensor,
                    times: np.ndarray, mode: str = "direct") -> torch.Tensor:
    """States ``(B, T, C, *spatial)`` predicted from ``u0`` (``(B, C, *spatial)``);
    entry 0 is ``u0`` itself. ``static`` holds conditioning channels (possibly 0)."""
    if mode not in ("direct", "autoregressive"):
        raise ValueError(f"unknown rollout mode {mode!r}")
    B = u0.shape[0]
    out, u = [u0], u0
    for j in range(1, len(times)):
        if mode == "direct":
            dt = torch.full((B,), float(times[j] - times[0]), device=u0.device)
            u = predict(torch.cat([u0, static], dim=1), dt)
        else:
            dt = torch.full((B,), float(times[j] - times[j - 1]), device=u0.device)
            u = predict(torch.cat([u, static], dim=1), dt)
        out.append(u)
    return torch.stack(out, dim=1)


def rollout_window(predict: Predict, first: torch.Tensor, static: torch.Tensor,
                   n_times: int) -> torch.Tensor:
    """Roll a ``k_in -> k_out`` model forward: ``first`` is ``(B, k_in, C, *spatial)``;
    returns ``(B, n_times, C, *spatial)`` whose first ``k_in`` states are ``first``."""
    B, k_in, C = first.shape[:3]
    spatial = first.shape[3:]
    states = list(first.unbind(dim=1))
    zeros = torch.zeros(B, device=first.device)
    while len(states) < n_times:
        x = torch.cat([torch.stack(states[-k_in:], dim=1).reshape(B, k_in * C, *spatial),
                       static], dim=1)
        y = predict(x, zeros)
        states.extend(y.reshape(B, -1, C, *spatial).unbind(dim=1))
    return torch.stack(states[:n_times], dim=1)
