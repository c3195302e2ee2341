"""MegEngine's ``megengine.utils.module_stats``: params, FLOPs and activations per layer.

:func:`module_stats` runs a model once (in eval mode) with forward hooks on the layer
types in :data:`hook_modules` and returns totals and per-layer tables, logged as text
tables when ``logging_to_stdout``. FLOPs follow MegEngine 1.13's formulas (a
convolution: ``N*Cout*H*W * (Cin/groups * Kh*Kw + bias)``; a norm layer: ``7`` per input
element; pooling: output size times window; linear: ``out * in_features + bias``);
:func:`register_flops` adds or replaces a formula for a layer type.

Parameters (the ``weight`` and ``bias`` of the hooked layers) are listed in the order
an op first reads them, or when their layer returns: a layer whose parameters another
module uses directly (``conv.calc_conv(x, conv.weight, conv.bias)``) is counted too.

Example:
    >>> import mge.module as M
    >>> net = M.Sequential(M.Conv2d(3, 8, 3), M.ReLU())
    >>> total, details = module_stats(net, input_shapes=(1, 3, 8, 8),
    ...                               logging_to_stdout=False)
    >>> int(total.flops), total.param_dims
    (8064, 224)
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

from .. import functional as F
from .. import module as M
from ..core.apply import add_observer, remove_observer
from ..module.batchnorm import _BatchNorm
from ..module.pooling import _AdaptivePoolNd, _PoolNd
from ..tensor import Tensor

logger = logging.getLogger(__name__)

__all__ = [
    "disable_receptive_field", "enable_receptive_field", "get_activation_stats",
    "get_op_stats", "get_param_stats", "hook_modules", "module_stats",
    "register_flops", "register_hook_module", "register_receptive_field", "sizeof_fmt",
]

_calc_flops_dict: dict[type, Callable] = {}
_calc_receptive_field_dict: dict[type, Callable] = {}
_receptive_field = {"enabled": False}

#: the layer types whose calls are measured (add more with :func:`register_hook_module`)
hook_modules: list[type] = [M.Conv2d, M.Linear, _BatchNorm, _PoolNd, _AdaptivePoolNd]


def _register(table: dict[type, Callable], modules: tuple[type, ...]) -> Callable:
    def callback(impl: Callable) -> Callable:
        for module in modules:
            table[module] = impl
        return impl

    return callback


def register_flops(*modules: type) -> Callable:
    """Decorator: ``fn(module, inputs, outputs) -> flops`` for these layer types."""
    return _register(_calc_flops_dict, modules)


def register_receptive_field(*modules: type) -> Callable:
    """Decorator: ``fn(module, inputs, outputs) -> (receptive_field, stride)``."""
    return _register(_calc_receptive_field_dict, modules)


def enable_receptive_field() -> None:
    _receptive_field["enabled"] = True


def disable_receptive_field() -> None:
    _receptive_field["enabled"] = False


def register_hook_module(module: type | list | tuple) -> None:
    """Also measure layers of type ``module`` (or of each type in a list/tuple)."""
    if isinstance(module, (tuple, list)):
        for m in module:
            register_hook_module(m)
    elif isinstance(module, type) and issubclass(module, M.Module):
        hook_modules.append(module)
    else:
        raise TypeError("the param type should in [list,tuple,M.Module]")


@register_flops(M.Conv2d)
def flops_conv(module: M.Conv2d, inputs: Any, outputs: Any) -> float:
    bias = 1 if module.bias is not None else 0
    return np.prod(outputs[0].shape) * (
        float(module.in_channels // module.groups) * np.prod(module.kernel_size) + bias)


@register_flops(_BatchNorm)
def flops_norm(module: M.Module, inputs: Any, outputs: Any) -> int:
    return np.prod(inputs[0].shape) * 7


@register_flops(M.AvgPool2d, M.MaxPool2d)
def flops_pool(module: _PoolNd, inputs: Any, outputs: Any) -> int:
    kernel = module.kernel_size
    window = np.prod(kernel) if isinstance(kernel, tuple) and len(kernel) == 2 else kernel**2
    return np.prod(outputs[0].shape) * window


@register_flops(M.AdaptiveAvgPool2d, M.AdaptiveMaxPool2d)
def flops_adaptive_pool(module: _AdaptivePoolNd, inputs: Any, outputs: Any) -> float:
    h, w = inputs[0].shape[2], inputs[0].shape[3]
    stride_h, stride_w = np.floor(h / (h - 1)), np.floor(w / (w - 1))
    kernel_h, kernel_w = h - (h - 1) * stride_h, w - (w - 1) * stride_w
    return np.prod(outputs[0].shape) * kernel_h * kernel_w


@register_flops(M.Linear)
def flops_linear(module: M.Linear, inputs: Any, outputs: Any) -> int:
    bias = module.out_features if module.bias is not None else 0
    return np.prod(outputs[0].shape) * module.in_features + bias


def _preprocess_receptive_field(inputs: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    owners = [getattr(i, "owner", None) for i in inputs]
    rf = tuple(max(getattr(o, "_rf", (1, 1))[k] for o in owners) for k in (0, 1))
    stride = tuple(max(getattr(o, "_stride", (1, 1))[k] for o in owners) for k in (0, 1))
    return rf, stride  # type: ignore[return-value]


def _receptive_field_fallback(module: M.Module, inputs: Any, outputs: Any) -> Any:
    if not _receptive_field["enabled"]:
        return None
    rf, stride = ((1, 1), (1, 1)) if not inputs else _preprocess_receptive_field(inputs)
    module._rf, module._stride = rf, stride
    return rf, stride


def get_op_stats(module: M.Module, inputs: Any, outputs: Any) -> dict[str, Any] | None:
    """FLOPs (and receptive field when enabled) of one call; None for unknown layers."""
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    stats: dict[str, Any] = {"input_shapes": [i.shape for i in inputs],
                             "output_shapes": [o.shape for o in outputs]}
    known = False
    for key, table, fallback in (("flops_num", _calc_flops_dict, None),
                                 (("receptive_field", "stride"), _calc_receptive_field_dict,
                                  _receptive_field_fallback)):
        impl = next((fn for cls, fn in table.items() if isinstance(module, cls)), None)
        if impl is None:
            if fallback is not None:
                fallback(module, inputs, outputs)
            continue
        known = True
        value = impl(module, inputs, outputs)
        if isinstance(key, tuple):
            stats.update(zip(key, value, strict=True))
        else:
            stats[key] = value
    return stats if known else None


def sizeof_fmt(num: float, suffix: str = "B") -> str:
    """``1.500 KiB`` (bytes, base 1024) or ``1.500 KOPs`` (other suffixes, base 1000)."""
    scale, units = (1024.0, ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]) \
        if suffix == "B" else (1000.0, ["", "K", "M", "G", "T", "P", "E", "Z", "Y"])
    for unit in units:
        if abs(num) < scale or unit == units[-1]:
            return f"{num:3.3f} {unit}{suffix}"
        num /= scale
    raise AssertionError("unreachable")


def _stat(values: Any, fn: Callable[[Tensor], Tensor]) -> str:
    return f"{float(fn(Tensor(values).astype(np.float32)).numpy()):.3g}"


def get_param_stats(param: Tensor) -> dict[str, Any]:
    nbits = np.dtype(param.dtype).itemsize * 8
    dims = int(np.prod(param.shape))
    return {"dtype": np.dtype(param.dtype), "shape": param.shape,
            "mean": _stat(param, F.mean), "std": _stat(param, F.std), "param_dim": dims,
            "nbits": nbits, "size": dims * nbits // 8}


def get_activation_stats(output: Tensor, has_input: bool = False) -> dict[str, Any]:
    nbits = np.dtype(output.dtype).itemsize * 8
    dims = int(np.prod(output.shape))
    stats = {"dtype": np.dtype(output.dtype), "shape": output.shape, "act_dim": dims,
             "nbits": nbits, "size": dims * nbits // 8}
    if has_input:
        stats["mean"], stats["std"] = _stat(output, F.mean), _stat(output, F.std)
    return stats


def _summarize(rows: list[dict[str, Any]], value: str, cum: str, bar: str,
               suffix: str, bar_length_max: int) -> int:
    """Add cumulative, percentage and bar columns; format ``value``; returns the total."""
    total, peak = 0, max([r[value] for r in rows] + [0])
    for r in rows:
        total += int(r[value])
        r[cum] = sizeof_fmt(total, suffix=suffix)
    for r in rows:
        r["ratio"] = r[value] / total if total else 0.0
        r["percentage"] = "{:.2f}%".format(r["ratio"] * 100)
        r[bar] = "#" * int(r[value] / peak * bar_length_max) if peak else ""
    return total


def _table(rows: list[dict[str, Any]], header: list[str]) -> str:
    cells = [header] + [[str(r.get(h, "")) for h in header] for r in rows]
    widths = [max(len(row[k]) for row in cells) for k in range(len(header))]
    rule = "  ".join("-" * w for w in widths)
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([rule, lines[0], rule, *lines[1:], rule])


class _TotalStats(NamedTuple):
    param_size: int
    param_dims: int
    flops: float
    act_size: int
    act_dims: int


class _StatsDetails(NamedTuple):
    params: list[dict[str, Any]]
    flops: list[dict[str, Any]]
    activations: list[dict[str, Any]]


def _as_tensors(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return Tensor(x)
    if isinstance(x, collections.abc.Mapping):
        return {k: _as_tensors(v) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_as_tensors(v) for v in x))
    if isinstance(x, collections.abc.Sequence):
        return [_as_tensors(v) for v in x]
    return Tensor(x, dtype=np.float32)


@contextlib.contextmanager
def _eval_mode(model: M.Module) -> Iterator[None]:
    training = {id(m): m.training for _, m in model.named_modules()}
    model.eval()
    try:
        yield
    finally:
        for _, m in model.named_modules():
            m.training = training[id(m)]


def module_stats(
    model: M.Module,
    inputs: Iterable[np.ndarray] | None = None,
    input_shapes: list | tuple | None = None,
    cal_params: bool = True,
    cal_flops: bool = True,
    cal_activations: bool = True,
    logging_to_stdout: bool = True,
    bar_length_max: int = 20,
) -> tuple[_TotalStats, _StatsDetails]:
    """Run ``model`` once and measure its layers.

    Args:
        model: the model.
        inputs: input data (arrays, or nested lists/dicts of them), or
        input_shapes: shapes of zero inputs (one tuple, or a list of tuples).
        cal_params, cal_flops, cal_activations: what to measure.
        logging_to_stdout: log the tables (logger ``mge.utils.module_stats``).
        bar_length_max: width of the bars in the tables.

    Returns:
        ``(total_stats(param_size, param_dims, flops, act_size, act_dims),
        module_stats(params, flops, activations))``: totals and per-layer rows.
    """
    has_inputs = inputs is not None
    if has_inputs:
        inputs = _as_tensors(inputs if isinstance(inputs, (tuple, list)) else [inputs])
    elif input_shapes:
        shapes = [input_shapes] if not isinstance(input_shapes[0], tuple) else input_shapes
        inputs = [F.zeros(tuple(s), dtype=np.float32) for s in shapes]
    else:
        raise ValueError("module_stats: inputs or input_shapes is required for running "
                         "model and calculating stats")
    disable_receptive_field()
    params: list[dict[str, Any]] = []
    flops: list[dict[str, Any]] = []
    activations: list[dict[str, Any]] = []
    seen_params: set[int] = set()

    hooked = [(name, m) for name, m in model.named_modules()
              if isinstance(m, tuple(hook_modules))]
    param_names: dict[int, tuple[Tensor, str]] = {}
    for name, m in hooked:
        for attr, suffix in (("weight", "-w"), ("bias", "-b")):
            p = getattr(m, attr, None)
            if isinstance(p, Tensor):
                param_names.setdefault(id(p), (p, name + suffix))

    def record_param(p: Any) -> None:
        entry = param_names.get(id(p))
        if cal_params and entry is not None and entry[0] is p and id(p) not in seen_params:
            seen_params.add(id(p))
            params.append({**get_param_stats(p), "name": entry[1]})

    def param_reads(op: Any, ins: tuple, outs: tuple) -> None:
        for t in ins:
            record_param(t)

    def hook(module: M.Module, ins: Any, outs: Any, name: str = "") -> None:
        class_name = type(module).__name__
        if cal_flops:
            op = get_op_stats(module, ins, outs)
            if op is not None:
                flops.append({**op, "name": name, "class_name": class_name})
        for attr in ("weight", "bias"):
            record_param(getattr(module, attr, None))
        if cal_activations:
            out = outs[0] if isinstance(outs, (tuple, list)) else outs
            activations.append({**get_activation_stats(out, has_inputs), "name": name,
                                "class_name": class_name})

    handles = [m.register_forward_hook(functools.partial(hook, name=name)) for name, m in hooked]
    add_observer(param_reads)
    try:
        with _eval_mode(model):
            model(*inputs)
    finally:
        remove_observer(param_reads)
        for h in handles:
            h.remove()

    info: dict[str, Any] = {"#params": len(params)}
    total_flops = param_dims = param_size = act_dims = act_size = 0
    if cal_params:
        param_dims = sum(int(r["param_dim"]) for r in params)
        param_size = _summarize(params, "size", "size_cum", "size_bar", "B", bar_length_max)
        for r in params:
            r["size"] = sizeof_fmt(r["size"])
        params.append({"name": "total", "param_dim": param_dims,
                       "size": sizeof_fmt(param_size)})
        info["total_param_dims"] = sizeof_fmt(param_dims, suffix="")
        info["total_param_size"] = sizeof_fmt(param_size)
        _log(logging_to_stdout, "param stats", params, ["name", "dtype", "shape", "mean", "std",
             "param_dim", "nbits", "size", "size_cum", "percentage", "size_bar"])
    if cal_flops:
        total_flops = _summarize(flops, "flops_num", "flops_cum", "bar", "OPs", bar_length_max)
        for r in flops:
            r["flops"] = sizeof_fmt(r["flops_num"], suffix="OPs")
        flops.append({"name": "total", "flops": sizeof_fmt(total_flops, suffix="OPs"),
                      "output_shapes": sum(sum(s[1] if len(s) > 1 else 0
                                               for s in r["output_shapes"]) for r in flops)})
        info["total_flops"] = sizeof_fmt(total_flops, suffix="OPs")
        _log(logging_to_stdout, "flops stats", flops, ["name", "class_name", "input_shapes",
             "output_shapes", "flops", "flops_cum", "percentage", "bar"])
    if cal_activations:
        act_dims = sum(int(r["act_dim"]) for r in activations)
        act_size = _summarize(activations, "size", "size_cum", "size_bar", "B",
                              bar_length_max)
        for r in activations:
            r["size"] = sizeof_fmt(r["size"])
        activations.append({"name": "total", "act_dim": act_dims,
                            "size": sizeof_fmt(act_size)})
        info["total_act_dims"] = sizeof_fmt(act_dims, suffix="")
        info["total_act_size"] = sizeof_fmt(act_size)
        header = ["name", "class_name", "dtype", "shape", "nbits", "act_dim", "size",
                  "size_cum", "percentage", "size_bar"]
        if has_inputs:
            header[4:4] = ["mean", "std"]
        _log(logging_to_stdout, "activations stats", activations, header)
    if cal_flops and cal_params and param_size:
        info["flops/param_size"] = f"{total_flops / param_size:3.3f}"
    _log(logging_to_stdout, "summary", [{"item": k, "value": v} for k, v in info.items()],
         ["item", "value"])
    return (_TotalStats(param_size, param_dims, total_flops, act_size, act_dims),
            _StatsDetails(params, flops, activations))


def _log(enabled: bool, title: str, rows: list[dict[str, Any]], header: list[str]) -> None:
    if enabled:
        logger.info("%s: \n%s", title, _table(rows, header))
