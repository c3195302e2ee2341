"""``Module``: the base class of every layer and model (MegEngine 1.13 semantics).

A module owns its state through plain attributes: a :class:`~mge.Parameter` is a
parameter, any other :class:`~mge.Tensor` is a buffer, a ``Module`` is a child, and
lists, tuples and dicts of them are walked too (``layer1.0.conv1.weight``). Keys are
visited in sorted attribute order, as MegEngine does, so names and orders match
MegEngine's ``named_parameters()`` and ``state_dict()`` exactly.

Example:
    >>> import mge, mge.module as M
    >>> net = M.Sequential(M.Linear(4, 3), M.ReLU())
    >>> [name for name, _ in net.named_parameters()]
    ['0.bias', '0.weight']
    >>> net.load_state_dict(net.state_dict())
"""

from __future__ import annotations

import itertools
import logging
from abc import ABCMeta, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from ..core.tracing import active_call_tracer
from ..tensor import Parameter, Tensor

logger = logging.getLogger(__name__)

StateClosure = Callable[[str, Tensor], Any]


class HookHandler:
    """Returned by ``register_forward_(pre_)hook``; ``remove()`` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: dict[int, Callable], hook: Callable) -> None:
        self.id = next(HookHandler._ids)
        self._hooks = hooks
        hooks[self.id] = hook

    def remove(self) -> None:
        """Unregister the hook (a second call is a no-op)."""
        self._hooks.pop(self.id, None)


def _expand(prefix: str, obj: Any) -> list[tuple[str, Any]]:
    """``(dotted key, leaf)`` for every Tensor/Module in ``obj`` (lists, tuples, dicts walked)."""
    if isinstance(obj, (Tensor, Module)):
        return [(prefix, obj)]
    if isinstance(obj, dict):
        items: Any = ((k, obj[k]) for k in sorted(obj, key=str))
    elif isinstance(obj, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(obj))
    else:
        return []
    found = []
    for key, value in items:
        sub = _expand(str(key), value)
        if sub and not isinstance(key, str):  # MegEngine's exception type and words
            raise AssertionError(
                f"keys for Tensor and Module must be str, error key: {key} "
                f"(a dict holding Tensors or Modules in {prefix!r})"
            )
        found += [(f"{prefix}.{k}", v) for k, v in sub]
    return found


def _ignore_requires_grad(requires_grad: Any) -> None:
    if requires_grad is not None:
        logger.warning("Tensor currently has no requires_grad attribute so requires_grad "
                       "argument is ignored here")


def _is_parameter(obj: Any) -> bool:
    return isinstance(obj, Parameter)


def _is_buffer(obj: Any) -> bool:
    return isinstance(obj, Tensor) and not isinstance(obj, Parameter)


def _is_state(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def _is_module(obj: Any) -> bool:
    return isinstance(obj, Module)


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


class Module(metaclass=ABCMeta):
    """Base class of layers and models; subclasses implement ``forward``.

    Args:
        name: optional non-empty name of this module.

    Calling a module runs the forward pre-hooks, ``forward`` and the forward hooks.
    **Tracing protocol.** When a call tracer is active
    (:func:`mge.core.tracing.active_call_tracer`) and it has a method
    ``call_module(module, run, args, kwargs)``, ``module(*args, **kwargs)`` returns
    ``tracer.call_module(self, run, args, kwargs)`` instead, where ``run(*args, **kwargs)``
    runs the hooks and ``forward`` without consulting the tracer again. The tracer decides:
    to keep the module as a leaf it records the call and runs ``run`` with tracing paused
    (``with call_tracer(None)``); to trace into it, it runs ``run`` with itself active, so
    the inner ``F.*`` and submodule calls reach it. A tracer without ``call_module`` only
    sees the inner calls.

    Example:
        >>> import mge, mge.functional as F, mge.module as M
        >>> class Net(M.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = M.Linear(2, 2)
        ...     def forward(self, x):
        ...         return F.relu(self.fc(x))
        >>> Net()(mge.tensor([[1.0, 2.0]])).shape
        (1, 2)
    """

    #: True when this module's state tensors are kept 4-d but reported flattened by
    #: ``state_dict()`` and loaded by element count (MegEngine's rule for BatchNorm).
    _flat_state: ClassVar[bool] = False

    def __init__(self, name: str | None = None) -> None:
        object.__setattr__(self, "_modules", [])
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError(f"a Module's name must be a non-empty string, got {name!r}")
        self.name = name
        self.training = True
        self.quantize_disabled = False
        self._forward_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._forward_hooks: OrderedDict[int, Callable] = OrderedDict()
        # MegEngine's naming slots (its pickles carry them; kept so that both load alike)
        self._name: str | None = None
        self._short_name: str | None = None

    @abstractmethod
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """The computation; called by ``__call__`` between the hooks."""

    # ------------------------------------------------------------------ calling
    def register_forward_pre_hook(self, hook: Callable) -> HookHandler:
        """Call ``hook(module, inputs)`` before ``forward``; a non-None result replaces inputs."""
        return HookHandler(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook: Callable) -> HookHandler:
        """Call ``hook(module, inputs, outputs)`` after ``forward``; non-None replaces outputs."""
        return HookHandler(self._forward_hooks, hook)

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        tracer = active_call_tracer()
        if tracer is not None:
            call_module = getattr(tracer, "call_module", None)
            if call_module is not None:
                return call_module(self, self._run, inputs, kwargs)
        return self._run(*inputs, **kwargs)

    def _run(self, *inputs: Any, **kwargs: Any) -> Any:
        """Pre-hooks, ``forward``, hooks (what ``__call__`` does when no tracer intercepts)."""
        if not self._forward_pre_hooks and not self._forward_hooks:
            return self.forward(*inputs, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            replaced = hook(self, inputs)
            if replaced is not None:
                inputs = replaced if isinstance(replaced, tuple) else (replaced,)
        outputs = self.forward(*inputs, **kwargs)
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, inputs, outputs)
            if replaced is not None:
                outputs = replaced
        return outputs

    # ------------------------------------------------------------------ traversal
    def _flatten(
        self,
        *,
        recursive: bool = True,
        with_key: bool = False,
        with_parent: bool = False,
        prefix: str | None = None,
        predicate: Callable[[Any], bool] = lambda _: True,
        seen: set[int] | None = None,
    ) -> Iterator[Any]:
        """Tensors and Modules reachable from this module's attributes, depth first.

        Attributes are visited in sorted order; each object is yielded once (shared
        parameters and modules are not repeated). Yields ``(key, obj)`` with ``with_key``,
        and the module holding the attribute last with ``with_parent``.
        """
        if seen is None:
            seen = {id(self)}
        dot = "" if prefix is None else prefix + "."
        attrs = vars(self)
        for attr in sorted(attrs):
            for key, leaf in _expand(attr, attrs[attr]):
                if id(leaf) in seen:
                    continue
                seen.add(id(leaf))
                if predicate(leaf):
                    item = ((dot + key,) if with_key else ()) + (leaf,)
                    item += (self,) if with_parent else ()
                    yield item if len(item) > 1 else leaf
                if recursive and isinstance(leaf, Module):
                    yield from leaf._flatten(
                        recursive=True,
                        with_key=with_key,
                        with_parent=with_parent,
                        prefix=dot + key,
                        predicate=predicate,
                        seen=seen,
                    )

    def parameters(self, recursive: bool = True, requires_grad: Any = None
                   ) -> Iterator[Parameter]:
        """The Parameters of this module (and of its submodules when ``recursive``).

        ``requires_grad`` is ignored with a warning, as in MegEngine (tensors have no such
        attribute: ``GradManager.attach`` chooses what is differentiated)."""
        _ignore_requires_grad(requires_grad)
        yield from self._flatten(recursive=recursive, predicate=_is_parameter)

    def named_parameters(
        self, prefix: str | None = None, recursive: bool = True, requires_grad: Any = None
    ) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, Parameter)`` pairs, e.g. ``("layer1.0.conv1.weight", p)``."""
        _ignore_requires_grad(requires_grad)
        yield from self._flatten(
            recursive=recursive, with_key=True, prefix=prefix, predicate=_is_parameter
        )

    def buffers(self, recursive: bool = True) -> Iterator[Tensor]:
        """Tensors that are not Parameters (BatchNorm's running statistics, ...)."""
        yield from self._flatten(recursive=recursive, predicate=_is_buffer)

    def named_buffers(
        self, prefix: str | None = None, recursive: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` pairs."""
        yield from self._flatten(
            recursive=recursive, with_key=True, prefix=prefix, predicate=_is_buffer
        )

    def tensors(self, recursive: bool = True) -> Iterator[Tensor]:
        """Parameters and buffers."""
        yield from self._flatten(recursive=recursive, predicate=_is_state)

    def named_tensors(
        self, prefix: str | None = None, recursive: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, tensor)`` pairs for parameters and buffers."""
        yield from self._flatten(
            recursive=recursive, with_key=True, prefix=prefix, predicate=_is_state
        )

    def children(self) -> Iterator[Module]:
        """The direct submodules."""
        yield from self._flatten(recursive=False, predicate=_is_module)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(attribute key, submodule)`` for the direct submodules (``"layers.0"`` in lists)."""
        yield from self._flatten(recursive=False, with_key=True, predicate=_is_module)

    def modules(self, with_parent: bool = False) -> Iterator[Any]:
        """This module and every module inside it (``(module, parent)`` with ``with_parent``;
        this module's parent is None)."""
        yield (self, None) if with_parent else self
        yield from self._flatten(with_parent=with_parent, predicate=_is_module)

    def named_modules(self, prefix: str | None = None, with_parent: bool = False
                      ) -> Iterator[tuple[Any, ...]]:
        """``(dotted path, module)``, starting with ``("", self)`` (or ``prefix``); with
        ``with_parent``, ``(path, module, parent)`` (None for this module)."""
        top = "" if prefix is None else prefix
        yield (top, self, None) if with_parent else (top, self)
        yield from self._flatten(with_key=True, with_parent=with_parent, prefix=prefix,
                                 predicate=_is_module)

    def apply(self, fn: Callable[[Module], Any]) -> None:
        """Call ``fn`` on every module (this one included)."""
        for module in self.modules():
            fn(module)

    def zero_grad(self) -> None:
        """Fill the gradients of all parameters with zeros (those without one stay ``None``)."""
        for param in self.parameters():
            if param.grad is not None:
                param.grad.reset_zero()

    def train(self, mode: bool = True, recursive: bool = True) -> None:
        """Set ``training`` to ``mode`` on this module (and all submodules if ``recursive``)."""
        if not recursive:
            self.training = mode
            return
        for module in self.modules():
            module.train(mode, recursive=False)

    def eval(self) -> None:
        """Inference mode everywhere: ``train(False)``."""
        self.train(False)

    def disable_quantize(self, value: bool = True) -> None:
        """Set ``quantize_disabled`` on this module and every submodule: ``quantize_qat``
        leaves them float."""
        for module in self.modules():
            module.quantize_disabled = value

    # ------------------------------------------------------------------ state
    def state_dict(
        self, rst: dict | None = None, prefix: str = "", keep_var: bool = False
    ) -> OrderedDict[str, Any]:
        """Every parameter and buffer by dotted name: numpy arrays, or Tensors with ``keep_var``.

        Order as MegEngine: a module's own tensors (sorted), then its submodules (sorted).
        BatchNorm's ``(1, C, 1, 1)`` tensors are reported as ``(C,)``.
        """
        out: OrderedDict[str, Any] = OrderedDict() if rst is None else rst
        for key, value, owner in self._states(prefix):
            if not keep_var:
                value = value.numpy()
            out[key] = value.reshape(-1) if owner._flat_state else value
        return out

    def _states(self, prefix: str = "") -> Iterator[tuple[str, Tensor, Module]]:
        """``(key, tensor, owning module)`` in state_dict order."""
        for key, value in self._flatten(recursive=False, with_key=True, predicate=_is_state):
            yield prefix + key, value, self
        for key, child in self._flatten(recursive=False, with_key=True, predicate=_is_module):
            yield from child._states(prefix + key + ".")

    def load_state_dict(self, state_dict: dict | StateClosure, strict: bool = True) -> None:
        """Load values saved by :meth:`state_dict` (numpy arrays or Tensors) in place.

        ``state_dict`` may also be a closure ``fn(key, tensor) -> array | None``; None skips
        the key. Shapes must match exactly, except that BatchNorm tensors accept any shape
        with the same number of elements (``(C,)`` for ``(1, C, 1, 1)``).

        Raises:
            KeyError: with ``strict``, listing unused keys or missing keys.
            ValueError: on a shape mismatch, naming the key and both shapes.
            TypeError: when ``state_dict`` is neither a dict nor callable.
        """
        if isinstance(state_dict, dict):
            given = state_dict

            def closure(key: str, _var: Tensor) -> Any:
                return given.get(key)

            provided = set(given)
        elif callable(state_dict):
            closure, provided = state_dict, set()
        else:
            raise TypeError(
                f"load_state_dict needs a dict or a callable, got {type(state_dict).__name__}"
            )
        loaded, skipped = self._load_state_dict_with_closure(closure)
        for kind, keys in (("Unused", provided - loaded), ("Missing", skipped)):
            if not keys:
                continue
            what = "unused" if kind == "Unused" else "missing"
            msg = f"{kind} params {'violate' if strict else 'in'} `strict={strict}`, "
            msg += f"{what}={sorted(keys)}"
            if strict:
                raise KeyError(msg)
            logger.warning(msg)

    def _load_state_dict_with_closure(self, closure: StateClosure) -> tuple[set[str], set[str]]:
        """Load ``closure(key, var)`` into every state tensor; returns (loaded, skipped) keys."""
        loaded, skipped = set(), set()
        for key, var, owner in self._states():
            value = closure(key, var)
            if value is None:
                skipped.add(key)
                continue
            if isinstance(value, Tensor):
                value = value.numpy()
            if not isinstance(value, np.ndarray):
                raise TypeError(
                    f"load_state_dict: value for {key!r} must be a numpy array or Tensor, "
                    f"got {type(value).__name__}"
                )
            if value.shape != var.shape:
                if not owner._flat_state:
                    raise ValueError(
                        f"param `{key}` shape mismatch, should be {var.shape}, get {value.shape}"
                    )
                if value.size != var.size:
                    raise ValueError(
                        f"param `{key}` size mismatch, should be {var.size} "
                        f"(shape {var.shape}), get {value.size} (shape {value.shape})"
                    )
                value = value.reshape(var.shape)
            var.set_value(Tensor(value, dtype=value.dtype, device=var.device))
            loaded.add(key)
        return loaded, skipped

    # ------------------------------------------------------------------ attributes
    def __setattr__(self, name: str, value: Any) -> None:
        modules = self.__dict__.get("_modules")
        if isinstance(value, (Module, list, tuple, dict)):
            if modules is None:
                raise AttributeError(
                    f"cannot assign module {name!r} before Module.__init__() call"
                )
            if name not in modules:
                modules.append(name)
        elif modules is not None and name in modules:
            modules.remove(name)
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        modules = self.__dict__.get("_modules")
        if modules is not None and name in modules:
            modules.remove(name)
        super().__delattr__(name)

    def _module_info_string(self) -> str:
        """Extra text shown inside ``repr`` (the layer's configuration)."""
        return ""

    def __repr__(self) -> str:
        extra = self._module_info_string()
        children = []
        for attr in self._modules:
            for key, value in _expand(attr, self.__dict__[attr]):
                if _is_module(value):
                    children.append(f"({key}): {_indent(repr(value))}")
        lines = (extra.split("\n") if extra else []) + children
        if len(lines) <= 1 and not children:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


__all__ = ["HookHandler", "Module"]
