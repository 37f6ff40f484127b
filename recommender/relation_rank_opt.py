"""Opt-in training speed-ups of relation-rank / fism: sparse id-table updates and ``torch.compile``.

Neither is used by default (the defaults' numbers do not depend on this module). ``sparse``: the id tables
are read through :class:`_SparseRows`, so their gradients cover only the rows a batch touched, and
:class:`_Optimiser` gives them ``torch.optim.SparseAdam`` (lazy Adam) while the dense parts keep Adam.
``compile``: :func:`_compiled` wraps the batch-loss function in ``torch.compile`` and turns a failing
backend (no C++ toolchain for the CPU backend, say) into a clear UserError.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from dancerec.errors import UserError


class _SparseRows(torch.autograd.Function):
    """``table[idx]`` whose gradient is a sparse COO tensor over the touched rows (for SparseAdam).

    Written here because ``F.embedding(sparse=True)`` needs a 2-D table and the item bias is 1-D; the
    state dict (and so every checkpoint) keeps the dense layout of the default path.
    """

    @staticmethod
    def forward(ctx, table: Tensor, idx: Tensor) -> Tensor:
        ctx.save_for_backward(idx)
        ctx.shape = table.shape
        return table[idx]

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (idx,) = ctx.saved_tensors
        flat = idx.reshape(-1)
        values = grad.reshape(flat.numel(), *ctx.shape[1:])
        return torch.sparse_coo_tensor(flat[None], values, ctx.shape, check_invariants=False), None


class _Optimiser:
    """Adam with an exponential lr decay; with ``sparse`` the id tables go to SparseAdam instead."""

    def __init__(self, net, lr: float, decay: float, weight_decay: float, *, sparse: bool):
        if sparse:
            tables = {id(t) for t in net.tables()}
            dense = [p for p in net.parameters() if id(p) not in tables]
            self.opts = [torch.optim.SparseAdam(net.tables(), lr=lr), torch.optim.Adam(dense, lr=lr)]
        else:
            self.opts = [torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)]
        self.scheds = [torch.optim.lr_scheduler.ExponentialLR(o, gamma=decay) for o in self.opts]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.opts:
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for o in self.opts:
            o.step()

    def decay(self) -> None:
        for sch in self.scheds:
            sch.step()


def _compiled(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``torch.compile(fn)``; a failure of the backend (e.g. no C++ toolchain) becomes a UserError."""
    try:
        compiled = torch.compile(fn, dynamic=True)
    except Exception as exc:  # torch raises RuntimeError or its own classes depending on the version
        raise UserError(
            f"compile=True: torch.compile is not available here ({exc.__class__.__name__}: {exc})"
        ) from exc
    state = {"checked": False}

    def run(*args):
        if state["checked"]:
            return compiled(*args)
        try:
            out = compiled(*args)
        except Exception as exc:  # the first call compiles: the toolchain's errors surface here
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise UserError(
                f"compile=True: torch.compile failed on this machine ({exc.__class__.__name__}: {first}); "
                "use compile=False"
            ) from exc
        state["checked"] = True
        return out

    return run
