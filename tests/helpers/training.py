"""A smooth toy operator batch and a short overfitting loop for the model tests, and a
trainer callback that interrupts a run (as Ctrl-C) for the resume tests."""

from __future__ import annotations

import math

import torch


def smooth_batch(n: int, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random inputs ``a`` on an n×n grid and the target ``u = tanh(a)``."""
    gen = torch.Generator().manual_seed(seed)
    g = torch.linspace(0.0, 1.0, n)
    x, y = torch.meshgrid(g, g, indexing="ij")
    c = torch.randn(batch, 3, generator=gen)
    a = (c[:, 0, None, None] * torch.sin(2 * math.pi * x) + c[:, 1, None, None]
         * torch.cos(2 * math.pi * y) + c[:, 2, None, None] * torch.sin(math.pi * (x + y)))
    return a[:, None], torch.tanh(a[:, None])


def overfit(model: torch.nn.Module, a: torch.Tensor, u: torch.Tensor, steps: int,
            t: torch.Tensor | None = None, lr: float = 5e-3) -> float:
    """Adam on the relative L2 loss of one batch; returns the final relative L2 error."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        loss = (model(a, t) - u).norm() / u.norm()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return ((model(a, t) - u).norm() / u.norm()).item()


class InterruptAfter:
    """Trainer callback: raise ``KeyboardInterrupt`` (as Ctrl-C) at the end of epoch ``after``."""

    def __init__(self, after: int) -> None:
        self.after = after

    def __call__(self, trainer, record) -> None:
        if record["epoch"] == self.after:
            raise KeyboardInterrupt
