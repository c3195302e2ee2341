"""Post-training quantization of the real MobileNetV2 of ``../shared/models`` (slow).

Per-tensor int8 weights (MegEngine 1.13's observers) lose this BatchNorm-folded network's
depthwise filters: the test pins the float import and that the quantized network equals
its fake-quantized (QAT) form, not top-1 accuracy.
"""

from __future__ import annotations

import numpy as np
import pytest

import mge
from mge.quantization import (
    QConfig,
    calibration_qconfig,
    disable_fake_quant,
    enable_fake_quant,
    min_max_fakequant_qconfig,
    quantize,
    quantize_qat,
)
from tests.examples.shared_data import MODELS

MODEL = MODELS / "mobilenet_v2_1.0_224_dq.onnx"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MODEL.exists(), reason=f"{MODEL} not found"),
]


def test_ptq_mobilenet_v2_quantized_equals_fake_quantized() -> None:
    pytest.importorskip("onnx")
    from tests.quantization.convnet_from_onnx import OnnxConvNet

    net = OnnxConvNet(str(MODEL))
    net.eval()
    x = np.load(MODELS / "reference" / "cat_224.npy")
    ref = np.load(MODELS / "reference" / "mobilenet_v2_1.0_224_dq__cat_logits.npy")
    np.testing.assert_allclose(net(mge.tensor(x)).numpy(), ref, atol=1e-4)
    # calibration's histogram observers, with fake quantization to compare against
    qconfig = QConfig(calibration_qconfig.weight_observer, calibration_qconfig.act_observer,
                      min_max_fakequant_qconfig.weight_fake_quant,
                      min_max_fakequant_qconfig.act_fake_quant)
    qat = quantize_qat(net, inplace=False, qconfig=qconfig)
    qat.train()
    disable_fake_quant(qat)
    qat(mge.tensor(x))
    qat.eval()
    enable_fake_quant(qat)
    fake = qat(mge.tensor(x)).numpy()
    q = quantize(qat, inplace=False)
    q.eval()
    out = q(mge.tensor(x)).numpy()
    # 60 quantized layers of one-step differences, through the float classifier
    assert np.abs(out - fake).max() < 0.15 * np.abs(fake).max()
