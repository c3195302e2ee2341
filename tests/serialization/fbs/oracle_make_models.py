"""Dump small models with real MegEngine 1.13 (run by the oracle interpreter, not pytest).

usage: python oracle_make_models.py OUT_DIR [DUMP_FORMAT]

(``DUMP_FORMAT`` ``FBS`` dumps every model in MegEngine's older v1 format.)

Writes ``OUT_DIR/<name>.mge`` for miniature ResNet-18 / ShuffleNetV2 / MobileNetV2 /
MobileNetV3 networks under several dump options, plus preprocessing and misc-op graphs,
and ``OUT_DIR/<name>.npz`` with the inputs (``in:<name>``) and MegEngine's own outputs
(``out:<index>``).  ``OUT_DIR/manifest.json`` lists every model with its dump options.
The golden files in ``golden/`` next to this script were made by it.
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
from oracle_dumping import Dumps

DUMPS = Dumps(sys.argv[1], {"": sys.argv[2] if len(sys.argv) > 2 else None})
OUT, rng, manifest = DUMPS.out, DUMPS.rng, DUMPS.manifest
randomize, dump = DUMPS.randomize, DUMPS.dump


def conv_bn(cin, cout, k, s=1, groups=1):
    return M.Sequential(
        M.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), M.BatchNorm2d(cout)
    )


class BasicBlock(M.Module):  # ResNet-18
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.c2 = conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3)
        self.down = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.c2(F.relu(self.c1(x)))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNetMini(M.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 8, 7, 2)
        self.layers = M.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2))
        self.fc = M.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2, 1)
        x = F.flatten(F.adaptive_avg_pool2d(self.layers(x), 1), 1)
        return F.softmax(self.fc(x), axis=1)


class ShuffleBlock(M.Module):  # ShuffleNetV2, stride 1
    def __init__(self, c):
        super().__init__()
        half = c // 2
        self.branch = M.Sequential(
            conv_bn(half, half, 1), M.ReLU(), conv_bn(half, half, 3, groups=half),
            conv_bn(half, half, 1), M.ReLU(),
        )  # fmt: skip

    def forward(self, x):
        n, c, h, w = x.shape
        a, b = x[:, : c // 2], x[:, c // 2 :]
        x = F.concat([a, self.branch(b)], axis=1)
        x = x.reshape(n, 2, c // 2, h, w).transpose(0, 2, 1, 3, 4)
        return x.reshape(n, c, h, w)


class ShuffleMini(M.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 8, 3, 2)
        self.blocks = M.Sequential(ShuffleBlock(8), ShuffleBlock(8))
        self.fc = M.Linear(8, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem(x)))
        return self.fc(F.mean(x, axis=[2, 3]))


class InvertedResidual(M.Module):  # MobileNetV2 / V3
    def __init__(self, c, expand, act, se=False):
        super().__init__()
        hid = c * expand
        self.act = act
        self.expand, self.dw, self.project = (
            conv_bn(c, hid, 1),
            conv_bn(hid, hid, 3, groups=hid),
            conv_bn(hid, c, 1),
        )
        self.se = M.Sequential(M.Conv2d(hid, 4, 1), M.ReLU(), M.Conv2d(4, hid, 1)) if se else None

    def forward(self, x):
        y = self.act(self.dw(self.act(self.expand(x))))
        if self.se is not None:
            y = y * F.hsigmoid(self.se(F.adaptive_avg_pool2d(y, 1)))
        return x + self.project(y)


class MobileMini(M.Module):
    def __init__(self, v3):
        super().__init__()
        act = F.hswish if v3 else F.relu6
        self.stem, self.act = conv_bn(3, 8, 3, 2), act
        self.blocks = M.Sequential(InvertedResidual(8, 2, act, se=v3), InvertedResidual(8, 3, act))
        self.fc = M.Linear(8, 10)

    def forward(self, x):
        x = self.blocks(self.act(self.stem(x)))
        return self.fc(F.flatten(F.adaptive_avg_pool2d(x, 1), 1))


VARIANTS = {
    "default": {},
    "noopt": {"optimize_for_inference": False},
    "fuse": {"enable_fuse_conv_bias_nonlinearity": True},
    "io16xc32": {"enable_io16xc32": True},
    "ioc16": {"enable_ioc16": True},
    "nchw44": {"enable_nchw44": True, "enable_fuse_conv_bias_nonlinearity": True},
    "names": {"keep_var_name": 2, "keep_opr_name": True, "keep_param_name": True,
              "keep_opr_priority": True},
    "nonames": {"keep_var_name": 0, "enable_metadata": False},
}  # fmt: skip
NETS = {
    "resnet18": ResNetMini(),
    "shufflenetv2": ShuffleMini(),
    "mobilenetv2": MobileMini(v3=False),
    "mobilenetv3": MobileMini(v3=True),
}
image = rng.randn(1, 3, 32, 32).astype("float32")
for net_name, net in NETS.items():
    randomize(net)
    for variant, options in VARIANTS.items():
        dump(net, {"data": image}, f"{net_name}_{variant}", user_info={"net": net_name},
             **options)  # fmt: skip


def preprocess(img, mat):
    x = F.transpose(img.astype("float32"), (0, 3, 1, 2))
    x = (x - 127.5) / 64.0
    x = F.nn.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)), mode="constant", constant_value=0.0)
    x = F.vision.warp_perspective(x, mat, (12, 12))
    return F.vision.interpolate(x, size=(8, 8), mode="bilinear")


img = rng.randint(0, 255, size=(2, 16, 16, 3)).astype("uint8")
mat = np.tile(np.eye(3, dtype="float32"), (2, 1, 1))
mat[:, 0, 2] = 1.5
dump(preprocess, {"img": img, "mat": mat}, "preprocess")


def misc(x):
    y = x.reshape(2, -1)[:, 1:5]
    z = F.concat([y, y * 2], axis=1)
    values, indices = F.topk(z, 3, descending=True)
    s, order = F.sort(z, descending=True)
    e = F.expand_dims(F.sum(x, axis=1), 1)
    return [
        values, indices, s, order, e, F.matmul(y, y.transpose(1, 0)), x**3.0,
        F.argmax(z, axis=1), F.max(z, axis=0), F.exp(z) + F.log(F.abs(z) + 1),
        F.linspace(0, 1, 5), x.astype("float16").astype("float32"), F.sigmoid(z) - F.tanh(z),
        F.where(z > 0, z, -z), F.minimum(z, 0.5) / F.maximum(z, 1.5),
    ]  # fmt: skip


dump(misc, {"x": rng.randn(2, 3, 4, 4).astype("float32")}, "misc", keep_var_name=2)
dump(misc, {"x": rng.randn(2, 3, 4, 4).astype("float32")}, "misc_noopt",
     optimize_for_inference=False)  # fmt: skip


def shared_tensors():
    """A graph with SharedDeviceTensor / MultipleDeviceTensorHolder (not traced)."""
    weight = rng.randn(2, 3).astype("float32")
    for name, optimize in (("shared", False), ("shared_holder", True)):
        g = G.Graph()
        x = g.make_h2d(dtype="float32", device="xpux", shape=(2, 3), name="x")
        w = g._wrap(rt.make_shared(g, mge.tensor(weight)._dev_tensor()))
        w.name = "weight"
        y = G.apply_normal_varnode(builtin.Elemwise(mode="add"), x, w)[0]
        y.name = "y"
        outs = G.optimize_for_inference([y])[0] if optimize else [y]
        fmt = DUMPS.formats[""]
        content, _ = G.dump_graph(outs, keep_param_name=True,
                                  **({} if fmt is None else {"dump_format": fmt}))
        with open(os.path.join(OUT, name + ".mge"), "wb") as f:
            f.write(content)
        data = rng.randn(2, 3).astype("float32")
        np.savez(os.path.join(OUT, name + ".npz"), **{"in:x": data, "out:0": data + weight})
        manifest.append({"name": name, "options": {"optimize": optimize}, "inputs": ["x"]})


shared_tensors()
DUMPS.save_manifest()
