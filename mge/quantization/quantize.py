"""Whole-network conversions: float -> QAT (``quantize_qat``) -> quantized (``quantize``),
and switches for every QAT module's observers and fake quantization.

Example:
    >>> import mge.module as M
    >>> from mge.quantization import quantize_qat
    >>> net = quantize_qat(M.Sequential(M.QuantStub(), M.Linear(3, 2), M.DequantStub()))
    >>> [type(m).__module__.split(".")[-2] for m in net.layer_values]
    ['qat', 'qat', 'qat']
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from copy import copy, deepcopy
from functools import partial
from typing import Any

import numpy as np

from .. import functional as F
from .. import module as Float
from ..module import Module

# the module objects only: mge.module.qat imports this package (its observers), so the
# classes are looked up at call time
from ..module import qat as QAT
from ..module import quantized as Quantized
from ..tensor import Tensor
from .qconfig import QConfig, ema_fakequant_qconfig

logger = logging.getLogger("mge.quantization")


def _get_quantable_module_names() -> list[str]:
    """Names that have a float, a QAT and a quantized module."""
    base = Quantized.QuantizedModule
    return [
        key for key in dir(Quantized)
        if isinstance(getattr(Quantized, key), type)
        and issubclass(getattr(Quantized, key), base) and getattr(Quantized, key) is not base
    ]


def _get_convert_dict() -> tuple[dict[type, type], dict[type, type]]:
    """``({float class: QAT class}, {QAT class: quantized class})``."""
    names = _get_quantable_module_names()
    float2qat = {getattr(Float, k): getattr(QAT, k) for k in names}
    qat2quantized = {getattr(QAT, k): getattr(Quantized, k) for k in names}
    return float2qat, qat2quantized


def _with_parents(module: Module) -> Iterator[tuple[str, Module, Module]]:
    """``(key relative to the parent, submodule, parent)`` for every submodule, depth first."""
    for key, child in module.named_children():
        yield key, child, module
        yield from _with_parents(child)


def _places(module: Module) -> dict[int, tuple[Module, str]]:
    """Each submodule's ``(parent, key relative to the parent)``, by the submodule's ``id``
    (for :func:`_replace_child`)."""
    return {id(child): (parent, key) for key, child, parent in _with_parents(module)}


def _replace_child(parent: Module, key: str, new: Module) -> None:
    """Put ``new`` where ``key`` (``"conv"``, ``"layers.0"``, ``"d.a"``) is in ``parent``."""
    attr, *path = key.split(".")
    if not path:
        setattr(parent, attr, new)
        return
    container = getattr(parent, attr)
    for part in path[:-1]:
        is_seq = isinstance(container, (list, tuple))
        container = container[int(part)] if is_seq else container[part]
    last = path[-1]
    if isinstance(container, tuple):
        raise TypeError(
            f"cannot replace {key!r} of {type(parent).__name__}: it is inside a tuple"
        )
    container[int(last) if isinstance(container, list) else last] = new


def _convert(module: Module, inplace: bool, mapping: dict, skip: Callable) -> Module:
    if not inplace:
        module = deepcopy(module)
    convertible = tuple(mapping)
    for key, sub, parent in list(_with_parents(module)):
        if not isinstance(sub, convertible) or skip(sub, parent):
            continue
        _replace_child(parent, key, mapping[type(sub)](sub))
    return module


def quantize(module: Module, inplace: bool = True, mapping: dict | None = None) -> Module:
    """Replace every QAT module by its quantized module (``from_qat_module``).

    Args:
        module: root module.
        inplace: convert ``module`` itself (else a deep copy).
        mapping: extra ``{QAT class: quantized class}`` entries.
    """
    convert = copy(_get_convert_dict()[1])
    if mapping is not None:
        convert.update(mapping)
    table = {k: v.from_qat_module for k, v in convert.items()}
    return _convert(module, inplace, table, lambda sub, parent: False)


def quantize_qat(
    module: Module, inplace: bool = True, qconfig: QConfig = ema_fakequant_qconfig,
    mapping: dict | None = None,
) -> Module:
    """Replace every quantizable float module by its QAT module and set ``qconfig``.

    Modules inside a quantizable module (ConvBn2d's conv) and modules with
    ``quantize_disabled`` stay as they are.

    Args:
        module: root module.
        inplace: convert ``module`` itself (else a deep copy).
        qconfig: the :class:`QConfig` for every QAT module.
        mapping: extra ``{float class: QAT class}`` entries.
    """
    convert = copy(_get_convert_dict()[0])
    if mapping is not None:
        convert.update(mapping)
    quantable = tuple(convert)
    table = {k: v.from_float_module for k, v in convert.items()}

    def skip(sub: Module, parent: Module) -> bool:
        return isinstance(parent, quantable) or sub.quantize_disabled

    module = _convert(module, inplace, table, skip)
    propagate_qconfig(module, qconfig)
    return module


def reset_qconfig(module: Module, qconfig: QConfig, inplace: bool = True) -> Module:
    """Replace every QAT module's observers and fake quantization by ``qconfig``'s, starting
    them from the current qparams (where they take ``set_qparams``)."""
    if not inplace:
        module = deepcopy(module)

    def make(factory: Any, qparams: Any) -> Any:
        inst = factory() if factory is not None else None
        if inst is not None and getattr(inst, "set_qparams", None) is not None:
            inst.set_qparams(qparams)
        return inst

    for m in [m for m in module.modules() if isinstance(m, QAT.QATModule)]:
        if m.with_weight:
            weight_params = m.get_weight_qparams()
            m.weight_observer = make(qconfig.weight_observer, weight_params)
            m.weight_fake_quant = make(qconfig.weight_fake_quant, weight_params)
        if m.with_act:
            act_params = m.get_activation_qparams()
            m.act_observer = make(qconfig.act_observer, act_params)
            m.act_fake_quant = make(qconfig.act_fake_quant, act_params)
    return module


def _propagate(module: Module, func_str: str, *args: Any) -> None:
    for m in list(module.modules()):
        if isinstance(m, QAT.QATModule):
            getattr(m, func_str)(*args)


def propagate_qconfig(module: Module, qconfig: QConfig) -> None:
    """Set ``qconfig`` on every QAT module inside ``module``."""
    _propagate(module, "set_qconfig", qconfig)


def hook_qat_module(module: Module, func: Callable) -> list:
    """Register ``func`` as a forward hook of every QAT module; returns the handles."""
    return [m.register_forward_hook(func) for m in list(module.modules())
            if isinstance(m, QAT.QATModule)]


def _cosine(x: Tensor, y: Tensor) -> Tensor:
    axis = tuple(range(1, x.ndim))
    up = F.sum(x * y, axis=axis)
    down = F.sqrt(F.sum(x * x, axis=axis)) * F.sqrt(F.sum(y * y, axis=axis))
    return F.mean(up / down, axis=0)


def apply_easy_quant(
    module: Module, data: Tensor, start: float = 0.8, stop: float = 1.2, num: int = 40
) -> Module:
    """EasyQuant (https://arxiv.org/pdf/2006.16669): search each QAT module's weight and then
    activation scale in ``[start, stop] * scale`` for the best cosine similarity between
    its float and fake-quantized outputs. Needs ``passive_qconfig`` (``reset_qconfig``)."""
    batch_size = data.shape[0]

    def search(mod: Module, inputs: tuple, outputs: Tensor, where: str) -> Tensor | None:
        mod._forward_hooks.clear()
        normal_in = [x[:batch_size] for x in inputs]
        fakequant_in = [x[batch_size:] for x in inputs]
        disable_fake_quant(mod)
        normal_out = mod(*normal_in)
        enable_fake_quant(mod)
        ob = getattr(mod, where)
        if ob is None:
            return None
        orig_scale = ob.orig_scale
        cosine = optimal = 0
        for scale in np.linspace(start * orig_scale, stop * orig_scale, num):
            ob.scale = scale
            dis = float(_cosine(normal_out, mod(*fakequant_in)).item())
            if dis > cosine:
                cosine, optimal = dis, scale
        if optimal == 0:
            logger.warning("EasyQuant finds no better scale")
        else:
            ob.scale = optimal
        return F.concat([normal_out, outputs[batch_size:]])

    data = F.concat([data, data])
    hook_qat_module(module, partial(search, where="weight_observer"))
    module(data)
    hook_qat_module(module, partial(search, where="act_observer"))
    module(data)
    return module


def disable_fake_quant(module: Module) -> None:
    """Turn off fake quantization in every QAT module."""
    _propagate(module, "set_fake_quant", False)


def disable_observer(module: Module) -> None:
    """Turn off the observers of every QAT module."""
    _propagate(module, "set_observer", False)


def enable_fake_quant(module: Module) -> None:
    """Turn on fake quantization in every QAT module."""
    _propagate(module, "set_fake_quant", True)


def enable_observer(module: Module) -> None:
    """Turn on the observers of every QAT module."""
    _propagate(module, "set_observer", True)


__all__ = [
    "apply_easy_quant", "disable_fake_quant", "disable_observer", "enable_fake_quant",
    "enable_observer", "hook_qat_module", "propagate_qconfig", "quantize", "quantize_qat",
    "reset_qconfig",
]
