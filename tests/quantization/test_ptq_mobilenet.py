"""Post-training quantization of the real MobileNetV2 of ``../shared/models`` (slow).

Per-tensor int8 weights (MegEngine 1.13's format) alone lose this BatchNorm-folded
network (its first depthwise filters reach 56 on dead channels): with
``equalize_cross_layer`` first, int8 top-1 equals float on the three photos, and real
MegEngine Lite runs the int8 ``.mge`` as mge.lite does (oracle): every int8 layer bit
for bit, the float classifier within float32 rounding.
"""

from __future__ import annotations

from pathlib import Path

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
from tests.oracle import requires_oracle

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


@pytest.fixture(scope="module")
def ptq_pair() -> tuple:
    pytest.importorskip("onnx")
    pytest.importorskip("PIL")
    from tests.quantization.convnet_from_onnx import OnnxConvNet
    from tests.quantization.mobilenet_ptq import photos, ptq, random_crops

    net = OnnxConvNet(str(MODEL))
    net.eval()
    calib = np.concatenate(list(random_crops(photos(), 32, seed=1)))
    return net, ptq(net, [calib[i:i + 8] for i in range(0, len(calib), 8)])


def test_ptq_mobilenet_v2_top1_equals_float_on_photos(ptq_pair: tuple) -> None:
    from tests.quantization.mobilenet_ptq import center_crop, photos, top1

    net, q = ptq_pair
    x = [np.concatenate([center_crop(p) for p in photos()])]
    assert top1(net, x).tolist() == [286, 283, 653]  # the README's onnxruntime top-1
    assert top1(q, x).tolist() == [286, 283, 653]


@requires_oracle
def test_ptq_mobilenet_v2_dump_matches_megengine_lite(ptq_pair: tuple,
                                                              tmp_path: Path) -> None:
    from bench.int8_ptq import dump
    from tests.lite.test_int8 import run_lite
    from tests.oracle import run_in_megengine
    from tests.quantization.mobilenet_ptq import center_crop, photos

    _, q = ptq_pair
    x = np.ascontiguousarray(center_crop(photos()[1]))
    dump(q, x, str(tmp_path / "mnv2_int8.mge"))
    ours = run_lite(tmp_path / "mnv2_int8.mge", x)
    (theirs,) = run_in_megengine(tmp_path / "mnv2_int8.mge", {"data": x}).values()
    # bit-exact through the 60 int8 layers (the channel-wise kernels' rounding included);
    # the float tail (mean, classifier) within float32 rounding
    np.testing.assert_allclose(theirs, ours[0], rtol=0, atol=1e-4)
    assert theirs.argmax() == ours[0].argmax() == 283


def test_ptq_mobilenet_v2_quantized_classifier(tmp_path: Path) -> None:
    """``OnnxConvNet(quantize_classifier=True)``: the classifier runs in int8 too, top-1
    still equals float's on the photos, and the dump runs in mge.lite as eagerly."""
    pytest.importorskip("onnx")
    pytest.importorskip("PIL")
    from bench.int8_ptq import dump
    from mge.module import quantized as Q
    from tests.lite.test_int8 import run_lite
    from tests.quantization.convnet_from_onnx import OnnxConvNet
    from tests.quantization.mobilenet_ptq import center_crop, photos, ptq, top1

    net = OnnxConvNet(str(MODEL), quantize_classifier=True)
    net.eval()
    x = np.ascontiguousarray(np.concatenate([center_crop(p) for p in photos()]))
    q = ptq(net, [x])
    assert isinstance(q.classifier, Q.Conv2d)
    assert top1(q, [x]).tolist() == top1(net, [x]).tolist() == [286, 283, 653]
    dump(q, x[:1], str(tmp_path / "mnv2_int8_classifier.mge"))
    ours = run_lite(tmp_path / "mnv2_int8_classifier.mge", x[1:2])
    np.testing.assert_allclose(ours[0], q(mge.tensor(x[1:2])).numpy(), rtol=0, atol=1e-4)
    assert ours[0].argmax() == 283


def test_float_prefix_leaves_the_first_layers_float() -> None:
    """``OnnxConvNet(float_prefix=N)``: the first N layers stay float, the ``QuantStub``
    on layer N - 1's output; a prefix that is no chain is refused."""
    pytest.importorskip("onnx")
    from mge.module import qat as QAT
    from tests.quantization.convnet_from_onnx import OnnxConvNet

    net = OnnxConvNet(str(MODEL), float_prefix=6)
    net.eval()
    x = np.load(MODELS / "reference" / "cat_224.npy")
    ref = np.load(MODELS / "reference" / "mobilenet_v2_1.0_224_dq__cat_logits.npy")
    np.testing.assert_allclose(net(mge.tensor(x)).numpy(), ref, atol=1e-4)
    qat = quantize_qat(net, inplace=False, qconfig=calibration_qconfig)
    assert not any(isinstance(m, QAT.QATModule) for m in qat.layers[:6])
    assert isinstance(qat.layers[6], QAT.Conv2d)
    seen = []
    qat.quant.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape))
    qat(mge.tensor(x))
    assert seen == [(1, 16, 112, 112)]  # block 0's projection, not the image
    with pytest.raises(ValueError, match="no chain"):
        OnnxConvNet(str(MODEL), float_prefix=14)  # block 2's residual reads layer 11
