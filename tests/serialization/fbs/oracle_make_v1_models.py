"""Dump small models in MegEngine's FBS (v1) format with real MegEngine 1.13 (run by the
oracle interpreter, not pytest).

usage: python oracle_make_v1_models.py OUT_DIR [MODELS_DIR]

For every model writes ``OUT_DIR/<name>.mge`` (``dump_format="FBS"``), the same trace
dumped as FBS_V2 (``<name>.v2.mge``) and ``<name>.npz`` with the inputs (``in:<name>``)
and MegEngine's outputs of the traced function (``out:<index>``).  Models: one per op
family (conv/convbias, elemwise, matmul, pooling, reduce, reshape/subtensor/concat, BN,
resize, softmax, typecvt, multi-output ops), a quantized (int8) net, and given a work
tree of MegEngine/Models (``MODELS_DIR``) the zoo's ResNet-18 with random weights.  The
files in ``tests/fixtures/fbs_v1`` were made by this script (without ``MODELS_DIR``).
"""

import os
import sys

import megengine as mge
import megengine.core._imperative_rt as rt
import megengine.functional as F
import megengine.module as M
import numpy as np
from megengine.core.ops import builtin
from megengine.core.tensor import megbrain_graph as G
from megengine.quantization import quantize, quantize_qat
from megengine.quantization.qconfig import calibration_qconfig
from oracle_dumping import Dumps

DUMPS = Dumps(sys.argv[1], {"": "FBS", ".v2": "FBS_V2"}, manifest_user_info=True)
OUT, rng = DUMPS.out, DUMPS.rng
randomize, dump = DUMPS.randomize, DUMPS.dump


class ConvNet(M.Module):  # conv/convbias, BN, elemwise, pooling, matmul, softmax
    def __init__(self):
        super().__init__()
        self.c1 = M.Conv2d(3, 8, 3, padding=1)
        self.bn = M.BatchNorm2d(8)
        self.c2 = M.Conv2d(8, 8, 3, stride=2, padding=1, groups=2)
        self.fc = M.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.c1(x)))
        x = F.avg_pool2d(F.sigmoid(self.c2(x)) * x[:, :, ::2, ::2], 2)
        return F.softmax(self.fc(F.flatten(x, 1)), axis=1)


net = randomize(ConvNet())
image = rng.randn(2, 3, 16, 16).astype("float32")
dump(net, {"data": image}, "convnet")
dump(net, {"data": image}, "convnet_noopt", optimize_for_inference=False)
dump(net, {"data": image}, "convnet_fuse", enable_fuse_conv_bias_nonlinearity=True)
dump(net, {"data": image}, "convnet_names", keep_var_name=2, keep_opr_name=True,
     keep_param_name=True, keep_opr_priority=True, user_info={"net": "convnet"})


def shapes(x):  # reduce, reshape/subtensor/concat, resize, typecvt
    y = F.concat([x[:, :2], x[:, 1:] * 2.0], axis=1)
    z = F.vision.interpolate(y, size=(6, 10), mode="bilinear")
    r = F.max(z, axis=3) + F.mean(z, axis=3) - F.sum(z, axis=3)
    h = x.astype("float16").astype("float32") + x.astype("int32").astype("float32")
    return [r.reshape(2, -1), F.transpose(h, (0, 2, 3, 1)), F.expand_dims(y.min(), 0)]


dump(shapes, {"x": rng.randn(2, 3, 4, 5).astype("float32")}, "shapes", keep_var_name=2)


def multi(x):  # operators with more than one output
    values, indices = F.topk(x, 3, descending=True)
    s, order = F.sort(x, descending=True)
    a, b = F.split(x, 2, axis=1)
    n = F.nn.layer_norm(x, (8,), affine=False)
    return [values, indices, s, order, a * b, n, F.argmax(x, axis=1)]


dump(multi, {"x": rng.randn(4, 8).astype("float32")}, "multi")


class QuantNet(M.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.dequant = M.QuantStub(), M.DequantStub()
        self.conv = M.ConvBnRelu2d(3, 8, 3, padding=1)
        self.pool = M.MaxPool2d(2)
        self.fc = M.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = self.pool(self.conv(self.quant(x)))
        return self.dequant(self.fc(F.flatten(x, 1)))


qnet = randomize(QuantNet())
qat = quantize_qat(qnet, inplace=False, qconfig=calibration_qconfig)
qat.eval()
for _ in range(3):
    qat(mge.tensor(rng.randn(2, 3, 8, 8).astype("float32")))
qmodel = quantize(qat, inplace=False)
qmodel.eval()
dump(qmodel, {"data": rng.randn(2, 3, 8, 8).astype("float32")}, "quantized")



def bn_training():
    """BatchNorm in training mode with running stats (6 outputs; not traced): files only."""
    g = G.Graph()
    x = g.make_h2d(dtype="float32", device="xpux", shape=(2, 3, 4, 4), name="x")
    ones = np.ones((1, 3, 1, 1), "float32")
    consts = [g._wrap(rt.make_shared(g, mge.tensor(v)._dev_tensor()))
              for v in (ones, ones * 0, ones * 0, ones)]
    mode = builtin.BatchNorm.FwdMode.TRAINING
    outs = G.apply_normal_varnode(builtin.BatchNorm(fwd_mode=mode, avg_factor=0.1), x, *consts)
    for suffix, fmt in (("", "FBS"), (".v2", "FBS_V2")):
        content, _ = G.dump_graph([outs[0], outs[-1]], dump_format=fmt, keep_var_name=2)
        with open(os.path.join(OUT, "bn_training" + suffix + ".mge"), "wb") as f:
            f.write(content)


bn_training()
if len(sys.argv) > 2:
    sys.path.insert(0, sys.argv[2])
    from official.vision.classification.resnet.model import resnet18

    dump(randomize(resnet18()), {"data": rng.randn(1, 3, 224, 224).astype("float32")},
         "resnet18")

DUMPS.save_manifest()
