"""Op and var names of traced graphs: MegEngine 1.13's AutoNaming scheme.

The expected names are what real MegEngine 1.13 writes for the same functions
(``dump(keep_opr_name=True, keep_var_name=2)``, read back with ``load_graph``).
"""

from __future__ import annotations

import io

import numpy as np

import mge
import mge.functional as F
import mge.module as M
from mge.core.tensor import megbrain_graph as G
from mge.jit import trace
from mge.utils.comp_graph_tools import get_oprs_seq


class Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = M.Conv2d(3, 4, 3)
        self.pool = M.AvgPool2d(2)

    def forward(self, x):
        x = self.pool(F.relu(self.conv(x)))
        return F.flatten(x, 1), x.astype("float16"), x.reshape(-1)


def _loaded(fn, *args, **kwargs):
    fn(*args, **kwargs)
    file = io.BytesIO()
    fn.dump(file, optimize_for_inference=False, keep_opr_name=True, keep_var_name=2)
    file.seek(0)
    return G.load_graph(file).output_vars_list


def test_module_scopes_and_repeated_names() -> None:
    net = Net()

    @trace(symbolic=True, capture_as_const=True)
    def f(x, *, net):
        return net(x)

    outputs = _loaded(f, mge.tensor(np.ones((1, 3, 6, 6), np.float32)), net=net)
    named = [(o.type, o.name) for o in get_oprs_seq(outputs)
             if o.type not in ("Host2DeviceCopy", "ImmutableTensor", "AxisAddRemove")]
    # MegEngine 1.13's list: flatten's target is read by GetVarShape (symbolic shapes)
    assert named == [("ConvolutionForward", "conv.Convolution"), ("Elemwise", "conv.ADD"),
                     ("Elemwise", "RELU"), ("PoolingForward", "pool.Pooling"),
                     ("GetVarShape", "GetVarShape"), ("Subtensor", "Subtensor"),
                     ("Concat", "Concat"), ("Reshape", "Reshape[0]"), ("TypeCvt", "TypeCvt"),
                     ("Reshape", "Reshape[1]")]
    assert [v.name for v in outputs] == ["Reshape[0]", "TypeCvt", "Reshape[1]"]
    consts = {v.name for o in get_oprs_seq(outputs, prune_immtensor=False)
              for v in o.outputs if o.type == "ImmutableTensor" and v.name}
    # flatten's -1 is named as MegBrain names an unnamed constant (MegEngine 1.13 writes
    # const<-1>[8] too; its const<0>[6] is a Subtensor index mge writes as a param)
    assert consts == {"conv.weight", "conv.bias", "const<-1>[8]"}


def test_functions_outside_modules_and_a_closure_module() -> None:
    net = M.Sequential(M.Linear(2, 2))

    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        return F.relu(net(x)), F.softmax(x, axis=1), F.minimum(F.maximum(x, 0.0), 6.0)

    outputs = _loaded(f, mge.tensor(np.ones((1, 2), np.float32)))
    assert [v.name for v in outputs] == ["RELU", "Softmax", "MIN"]
    assert outputs[0].owner.inputs[0].name == "0.ADD"  # the top module adds no scope
    assert {v.name for v in outputs[0].owner.inputs[0].owner.inputs} >= {"0.MatrixMul"}


def test_user_names_win_and_named_inputs() -> None:
    @trace(symbolic=True, capture_as_const=True)
    def f(x, y):
        s = x + y
        s.name = "sum"
        return s, x * 2

    outputs = _loaded(f, mge.tensor([1.0], name="data"), mge.tensor([2.0]))
    assert [v.name for v in outputs] == ["sum", "MUL"]
    assert [v.name for v in outputs[0].owner.inputs] == ["data", "arg_1"]


def test_named_module_and_multi_output_ops() -> None:
    class Block(M.Module):
        def __init__(self) -> None:
            super().__init__(name="blk")
            self.bn = M.BatchNorm2d(2)

        def forward(self, x):
            return self.bn(x)

    block = Block()
    block.eval()

    @trace(symbolic=True, capture_as_const=True)
    def f(x):
        return block(x)

    f(mge.tensor(np.ones((1, 2, 2, 2), np.float32)))
    (out,) = f.graph.outputs
    assert out.owner.name == "blk.bn.BatchNorm"
    assert out.name == f"blk.bn.BatchNorm:o{out.owner.outputs.index(out)}"
