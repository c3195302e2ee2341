"""Writes the golden pickles in this folder with real MegEngine 1.13 (.oracle/bin/python).

Run: ``MEGENGINE_INTERP_ASYNC_LEVEL=0 .oracle/bin/python
tests/security/megengine_pickles/make_megengine_pickles.py``. The tests in
tests/security/test_megengine_pickles.py load them with mge's default (restricted) loader:

* ``layers_state.pkl``: ``state_dict()`` of the layers the official models are built from
  (Conv2d, BatchNorm2d, Linear, a Sequential of them), as ``megengine.save`` writes it;
* ``tensor.pkl``: a saved ``megengine.Tensor`` and a ``Parameter`` (they pickle with a
  state dict that ``BUILD`` applies);
* ``traced_module.pkl``: a pickled TracedModule (MegEngine's own graph classes) with its
  input and output in ``traced_module_io.npz``.
"""

import os

import megengine as mge
import megengine.functional as F
import megengine.module as M
import megengine.traced_module as tm
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(0)


class Block(M.Module):
    """conv-bn-relu, a residual add and a classifier: the pieces of ResNet/ShuffleNet."""

    def __init__(self):
        super().__init__()
        self.conv = M.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = M.BatchNorm2d(4)
        self.head = M.Sequential(M.Linear(4, 3), M.ReLU())

    def forward(self, x):
        y = F.relu(self.bn(self.conv(x))) + x.mean(axis=1, keepdims=True)
        return self.head(F.flatten(F.adaptive_avg_pool2d(y, 1), 1))


net = Block()
for p in net.parameters():
    p._reset(mge.tensor(rng.standard_normal(p.shape).astype("float32")))
net.bn.running_mean._reset(mge.tensor(rng.standard_normal((1, 4, 1, 1)).astype("float32")))
net.eval()
mge.save(net.state_dict(), os.path.join(HERE, "layers_state.pkl"))
mge.save({"t": mge.Tensor(np.arange(4, dtype="int32")),
          "p": mge.Parameter(np.linspace(0, 1, 6, dtype="float32").reshape(2, 3))},
         os.path.join(HERE, "tensor.pkl"))
x = mge.tensor(rng.standard_normal((1, 3, 5, 5)).astype("float32"))
traced = tm.trace_module(net, x)
mge.save(traced, os.path.join(HERE, "traced_module.pkl"))
np.savez(os.path.join(HERE, "traced_module_io.npz"), x=x.numpy(), y=net(x).numpy())
