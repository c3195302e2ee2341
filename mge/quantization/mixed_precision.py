"""Mixed precision the MegEngine 1.13 way: some layers of a quantized network stay float
(mge's own PTQ helpers; MegEngine 1.13 has ``Module.disable_quantize`` and nothing that
picks the layers).

MegEngine's int8 dtypes hold one scale per tensor, and a layer whose weights spread over
channels of very different ranges (a depthwise conv of MobileNetV2) loses most of its
precision under it. :func:`weight_sensitivity` ranks the weighted layers of a quantized
network by how much the network's output gains when that layer alone computes in float
(its input dequantized, its output quantized again at its own scale); :func:`keep_float`
leaves the chosen layers of the float network float before :func:`~.quantize_qat`: each
becomes a :class:`FloatIsland`, its ``quantize_disabled`` layer between a
``DequantStub`` and a ``QuantStub``. The quantized network, and its dump, then carry a
``TypeCvt`` to float32 before the layer and one back to the int8 dtype after it (the
stub's calibrated scale), which MegEngine Lite runs as it is.

Example:
    >>> import numpy as np, mge, mge.module as M
    >>> from mge.quantization import calibration_qconfig, quantize, quantize_qat
    >>> from mge.quantization.mixed_precision import keep_float
    >>> net = M.Sequential(M.QuantStub(), M.Conv2d(3, 4, 1), M.Elemwise("relu6"),
    ...                    M.DequantStub())
    >>> _ = keep_float(net, ["1"])
    >>> qat = quantize_qat(net, qconfig=calibration_qconfig)
    >>> _ = qat(mge.tensor(np.ones((1, 3, 4, 4), "float32")))  # calibrate
    >>> type(quantize(qat)[1].module).__name__  # the conv stays float
    'Conv2d'
"""

from __future__ import annotations

from collections.abc import Iterable
from copy import deepcopy
from typing import Any

import numpy as np

from ..module import DequantStub, Module, QuantStub
from ..module import quantized as QM
from ..tensor import Tensor
from .quantize import _places, _replace_child


class FloatIsland(Module):
    """``module`` computed in float inside a quantized network: each input dequantized
    (``DequantStub``), the output quantized again (``QuantStub``, its own observer)."""

    def __init__(self, module: Module) -> None:
        super().__init__()
        self.dequant = DequantStub()
        self.module = module
        self.quant = QuantStub()
        module.disable_quantize()

    def forward(self, *inputs: Any) -> Any:
        """``quant(module(dequant(x) for x in inputs))``."""
        return self.quant(self.module(*(self.dequant(x) for x in inputs)))


def keep_float(module: Module, names: Iterable[str]) -> Module:
    """Replace, in place, each submodule of the float ``module`` named in ``names``
    (``named_modules`` names, e.g. ``"layers.3"``) by a :class:`FloatIsland` around it;
    call it before :func:`~.quantize_qat`. The float network computes as before (the
    stubs pass float tensors through); its layer is then ``<name>.module``.

    Returns:
        ``module``.

    Raises:
        KeyError: a name that is not a submodule of ``module``.
    """
    subs = dict(module.named_modules())
    places = _places(module)
    for name in names:
        if not name or name not in subs:
            raise KeyError(f"keep_float: no submodule {name!r}")
        parent, key = places[id(subs[name])]
        _replace_child(parent, key, FloatIsland(subs[name]))
    return module


def _outputs(module: Module, batches: list[np.ndarray]) -> np.ndarray:
    out = [module(Tensor(b)) for b in batches]
    return np.concatenate([o.numpy().reshape(len(o), -1) for o in out]).astype(np.float64)


def sqnr_db(ref: np.ndarray, out: np.ndarray) -> float:
    """The signal-to-quantization-noise ratio of ``out`` against ``ref``, in dB:
    ``10 log10(sum ref^2 / sum (ref - out)^2)``, in float64 (noise floored at 1e-30)."""
    ref = np.asarray(ref, np.float64)
    noise = max(float(np.sum((ref - out) ** 2)), 1e-30)
    return float(10 * np.log10(float(np.sum(ref ** 2)) / noise))


def _island_of(float_layer: Module, output_dtype: Any) -> FloatIsland:
    """A quantized :class:`FloatIsland` around a copy of ``float_layer`` whose output
    takes ``output_dtype`` (what :func:`~.quantize` makes of a ``keep_float`` layer
    whose stub took the quantized layer's output scale)."""
    island = FloatIsland(deepcopy(float_layer))
    island.dequant, island.quant = QM.DequantStub(), QM.QuantStub(output_dtype)
    island.eval()
    return island


def weight_sensitivity(quantized_module: Module, float_module: Module,
                       batches: list[np.ndarray]) -> dict[str, float]:
    """The SQNR (dB) of ``quantized_module``'s output against ``float_module``'s over
    ``batches`` when one layer alone computes in float, for every quantized layer with a
    weight and an ``output_dtype`` (``Conv2d``, ``Linear``, their fused forms) that has a
    float layer of the same name in ``float_module``, most sensitive (highest) first;
    the key ``""`` holds the SQNR of ``quantized_module`` as it is.

    The layer is swapped for a :class:`FloatIsland` around its float layer, its output
    quantized to the layer's own output dtype (as :func:`keep_float` leaves it, but with
    this scale rather than one calibrated again), and put back after. Run it on the
    network ``quantize`` returned (after any bias correction), in eval mode.
    """
    ref = _outputs(float_module, batches)
    scores = {"": sqnr_db(ref, _outputs(quantized_module, batches))}
    floats = dict(float_module.named_modules())
    places = _places(quantized_module)
    for name, m in list(quantized_module.named_modules()):
        if not (isinstance(m, QM.QuantizedModule) and name in floats
                and getattr(m, "weight", None) is not None
                and getattr(m, "output_dtype", None) is not None):
            continue
        parent, key = places[id(m)]
        _replace_child(parent, key, _island_of(floats[name], m.output_dtype))
        try:
            scores[name] = sqnr_db(ref, _outputs(quantized_module, batches))
        finally:
            _replace_child(parent, key, m)
    return dict(sorted(scores.items(), key=lambda kv: -kv[1]))


__all__ = ["FloatIsland", "keep_float", "sqnr_db", "weight_sensitivity"]
