"""``Sequential``: run submodules one after another (MegEngine 1.13 container semantics).

Layers are attributes named ``"0"``, ``"1"``, ... (or the keys of an ``OrderedDict``),
so parameters are named ``"0.weight"``; slicing returns a new ``Sequential`` that
shares the layers and keeps their keys.

Example:
    >>> import mge.module as M
    >>> net = M.Sequential(M.Linear(4, 8), M.ReLU(), M.Linear(8, 2))
    >>> len(net), type(net[-1]).__name__, list(net[1:].layer_keys)
    (3, 'Linear', ['1', '2'])
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from .module import Module


class Sequential(Module):
    """A chain of modules: ``Sequential(m0, m1, ...)`` or ``Sequential(OrderedDict(...))``.

    Example:
        >>> from collections import OrderedDict
        >>> import mge.module as M
        >>> net = M.Sequential(OrderedDict(fc0=M.Linear(2, 3), act=M.ReLU()))
        >>> [k for k, _ in net.named_parameters()]
        ['fc0.bias', 'fc0.weight']
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer_keys: list[str] = []
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            items = list(args[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(args)]
        for key, module in items:
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential: layer {key!r} must be a Module, got {type(module).__name__}"
                )
            setattr(self, key, module)
            self.layer_keys.append(key)

    @property
    def layer_values(self) -> list[Module]:
        """The layers in order."""
        return [getattr(self, key) for key in self.layer_keys]

    def __getitem__(self, idx: int | slice) -> Module:
        if isinstance(idx, slice):
            keys = self.layer_keys[idx]
            return type(self)(OrderedDict((k, getattr(self, k)) for k in keys))
        return getattr(self, self.layer_keys[idx])

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self.layer_keys[idx], module)

    def __delitem__(self, idx: int | slice) -> None:
        keys = self.layer_keys[idx] if isinstance(idx, slice) else [self.layer_keys[idx]]
        for key in keys:
            delattr(self, key)
            self.layer_keys.remove(key)

    def __len__(self) -> int:
        return len(self.layer_keys)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layer_values)

    def forward(self, inp: Any) -> Any:
        for layer in self.layer_values:
            inp = layer(inp)
        return inp


__all__ = ["Sequential"]
