"""``Optimizer``: the base of mge's optimizers (MegEngine 1.13's API and state layout).

Parameters come in groups (dicts with ``params`` and hyper-parameters); per-parameter
state tensors are made by ``_create_state`` and updated by ``_updates``. ``state_dict``
numbers parameters in group order as MegEngine does, so its pickles load here.

Example:
    >>> import mge
    >>> from mge.optimizer import SGD
    >>> w = mge.Parameter([1.0])
    >>> w.grad = mge.tensor([0.5])
    >>> _ = SGD([w], lr=0.1).step()
    >>> w.numpy()
    array([0.95], dtype=float32)
"""

from __future__ import annotations

import copy
from abc import ABCMeta, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ..tensor import Parameter, Tensor


class _RequiredParameter:
    def __repr__(self) -> str:
        return "<required parameter>"


#: marks a hyper-parameter every param group must give
required = _RequiredParameter()


class Optimizer(metaclass=ABCMeta):
    """Base class of all optimizers.

    Args:
        params: Parameters, or dicts of ``{"params": [...], hyper-parameter: value}``.
        defaults: default hyper-parameters of the groups.
    """

    def __init__(self, params: Parameter | dict | Iterable[Parameter | dict],
                 defaults: dict) -> None:
        self._state: dict[Tensor, dict[str, Tensor]] = {}
        self._defaults = defaults
        if isinstance(params, (Parameter, dict)):
            params = [params]
        elif not isinstance(params, Iterable):
            raise TypeError("params argument given to the optimizer should be Parameter or "
                            "dict, or Iterable of them")
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if any(not isinstance(g, type(groups[0])) for g in groups):
            raise TypeError("types of params argument given to the optimizer shoud be same")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)
        for group in self.param_groups:
            self._create_state(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (with its own hyper-parameters) to optimize."""
        assert isinstance(param_group, dict), "param group must be a dict"
        params = param_group["params"]
        param_group["params"] = [params] if isinstance(params, Parameter) else list(params)
        for param in param_group["params"]:
            if not isinstance(param, Parameter):
                raise TypeError("optimizer can only optimize Parameters, but one of the params "
                                f"is {type(param)}")
        for name, default in self._defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        assert seen.isdisjoint(map(id, param_group["params"])), \
            "some parameters appear in more than one parameter group"
        self.param_groups.append(param_group)

    def _add_state(self, param: Tensor, state_name: str, initializer: Any = None,
                   dtype: Any = "float32") -> None:
        if initializer is None:
            initializer = np.zeros(param.shape, dtype=np.float32)
        states = self._state.setdefault(param, {})
        assert state_name not in states
        states[state_name] = Tensor(initializer, dtype=dtype, device=param.device)

    @staticmethod
    def _grads(param_group: dict, l2: float = 0.0) -> Iterator[tuple[Parameter, Tensor]]:
        """``(param, grad)`` for the group's parameters that have a gradient, with the L2
        weight-decay term ``l2 * param`` added to the gradient when ``l2`` is not 0."""
        for param in param_group["params"]:
            if param.grad is None:
                continue
            grad = param.grad
            yield param, (grad + param * l2 if l2 != 0.0 else grad)

    @abstractmethod
    def _create_state(self, param_group: dict) -> None:
        """Make the state tensors of a group's parameters."""

    @abstractmethod
    def _updates(self, param_group: dict) -> None:
        """Update a group's parameters from their ``.grad``."""

    def _get_params(self) -> list[Parameter]:
        return [p for group in self.param_groups for p in group["params"]]

    def step(self) -> Optimizer:
        """One optimization step over every group (parameters without a grad are skipped)."""
        for group in self.param_groups:
            if isinstance(group["params"], set):
                raise TypeError("optimized parameters need to be organized in ordered "
                                "collections, but the ordering of parameters in sets will "
                                "change between runs. Please use a list instead.")
            self._updates(group)
        return self

    def zero_grad(self) -> None:
        """Fill existing gradients with zeros (deprecated in MegEngine: use clear_grad)."""
        for param in self._get_params():
            if param.grad is not None:
                param.grad.reset_zero()

    def clear_grad(self) -> None:
        """Set every parameter's ``grad`` to ``None``."""
        for param in self._get_params():
            param.grad = None

    def state_dict(self, keep_var: bool = False) -> dict:
        """``{"param_groups": [...], "state": {param number: {name: value}}}``; values are
        numpy arrays unless ``keep_var``."""
        ids: dict[Tensor, int] = {}
        for param in self._get_params():
            ids.setdefault(param, len(ids))
        state = {}
        for param, st in self._state.items():
            state[ids[param]] = copy.copy(st) if keep_var else {k: v.numpy()
                                                                for k, v in st.items()}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [ids[p] for p in g["params"]]} for g in self.param_groups]
        return {"param_groups": groups, "state": state}

    def load_state_dict(self, state: dict) -> None:
        """Load what :meth:`state_dict` returned (also MegEngine's pickled dicts)."""
        if len(self.param_groups) != len(state["param_groups"]):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for new, saved in zip(self.param_groups, state["param_groups"]):
            if len(new["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
            for param, number in zip(new["params"], saved["params"]):
                self._state[param] = {
                    k: v.detach() if isinstance(v, Tensor) else Tensor(v)
                    for k, v in state["state"][number].items()}
            if set(new) != set(saved):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the keys of optimizer's group")
            for key in new:
                if key != "params":
                    new[key] = saved[key]
        if len(self._state) != len(state["state"]):
            raise ValueError("loaded state dict contains a state that doesn't match the size "
                             "of optimizer's state")

    def backward(self, loss: Tensor) -> None:
        raise NotImplementedError("use autodiff.GradManager instead")

    def bcast_param(self) -> None:
        raise NotImplementedError("use distributed.bcast_list_ instead")


__all__ = ["Optimizer", "required"]
