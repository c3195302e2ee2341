"""Run a network again from one of its modules on, replaying what the modules before it
returned (for searches that change one module at a time and rerun the network).

In an eager forward pass, a module called before module ``k`` cannot depend on ``k``: if
only ``k`` (or what runs after it) changes, every leaf module called earlier returns what
it returned last time. :class:`PrefixReplay` records the output of every leaf module
(one with no submodules) for each batch, and :meth:`PrefixReplay.run_from` gives those
called before ``k`` their recorded outputs instead of running them, so a change near the
end of the network costs only the end. A leaf module called more than once in one pass
always runs (its calls may fall on both sides of ``k``). Functional code in the parents'
``forward`` between the modules still runs.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> net = M.Sequential(M.Linear(3, 3), M.ReLU(), M.Linear(3, 2))
    >>> x = [np.ones((2, 3), "float32")]
    >>> replay = PrefixReplay(net, x)
    >>> full = replay.record()
    >>> net[2].bias[...] = mge.tensor(np.ones(2, "float32"))  # change the last layer only
    >>> np.allclose(replay.run_from("2"), full + 1)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..module import Module
from ..tensor import Tensor


class PrefixReplay:
    """The leaf modules' outputs of ``module`` over ``batches`` (a list of arrays), replayed
    for the modules called before a given one."""

    def __init__(self, module: Module, batches: list[np.ndarray]) -> None:
        self.module, self.batches = module, batches
        self.leaves = {n: m for n, m in module.named_modules()
                       if n and not any(True for _ in m.children())}
        self.order: list[str] = []
        self.outputs: list[dict[str, Any]] = [{} for _ in batches]

    def _position(self, name: str) -> int:
        if name not in self.order:
            raise ValueError(f"PrefixReplay: module {name!r} was not called in the recorded "
                             "forward pass (call record() first)")
        return self.order.index(name)

    def run_from(self, name: str | None = None, keep: bool = False) -> np.ndarray:
        """The network's outputs over the batches (concatenated, float64), the leaf modules
        called before ``name`` replaying their recorded outputs (None: all run);
        ``keep``: record the outputs of the modules that ran (the new state)."""
        start = 0 if name is None else self._position(name)
        replayed = set(self.order[:start]) - {n for n in self.order if self.order.count(n) > 1}
        order: list[str] = []
        outs = []
        for b, batch in enumerate(self.batches):
            cache = self.outputs[b]
            for n in replayed:
                self.leaves[n].forward = _returns(cache[n])
            handles = [m.register_forward_hook(_recorder(n, cache, order if b == 0 else None,
                                                         keep))
                       for n, m in self.leaves.items() if n not in replayed]
            try:
                out = self.module(Tensor(batch))
            finally:
                for h in handles:
                    h.remove()
                for n in replayed:
                    del self.leaves[n].forward
            outs.append(np.asarray(out.numpy(), dtype=np.float64))
        if start == 0:
            self.order = order
        return np.concatenate(outs)

    def record(self) -> np.ndarray:
        """Run everything and record every leaf module's output (the call order too)."""
        return self.run_from(None, keep=True)


def _returns(value: Any) -> Callable[..., Any]:
    return lambda *args, **kwargs: value


def _recorder(name: str, cache: dict[str, Any], order: list[str] | None, keep: bool
              ) -> Callable[[Module, tuple, Any], None]:
    def hook(module: Module, inputs: tuple, output: Any) -> None:
        if order is not None:
            order.append(name)
        if keep:
            cache[name] = output
    return hook


__all__ = ["PrefixReplay"]
