"""Models of MegEngine's restoration, video and registration repositories, for
``driver.py`` (``GROUP`` = ``restoration``): each builder imports the repository's own,
unmodified code from the extracted root and returns the module and seeded inputs.

* ``pmrid``: MegEngine/PMRID's denoiser (``models/net_mge.py``) with the repository's own
  pretrained weights (``models/mge_pretrained.ckp``), on a noisy 4-channel raw image.
* ``nbnet``: MegEngine/NBNet's UNetD (subspace projection: ``matinv`` of a 16x16 Gram
  matrix), seeded random weights.
* ``rife``: MegEngine/ECCV2022-RIFE's IFNet, as ``Model.inference`` calls it (scales
  4, 2, 1), on two frames: the interpolated frame, the flows and the fusion mask.
* ``dmvfn``, ``dmvfn_training_forward``: MegEngine/MegEngine-DMVFN's video prediction
  network as its ``Model.eval`` calls it (routed blocks only: the last predicted frame),
  and its training forward (all nine blocks' frames); the routing is made deterministic
  through its weights (see :func:`_dmvfn_weights`).
* ``gyroflow``: MegEngine/GyroFlow's network (gyro-guided PWC-style flow, cost volumes,
  neural upsampler) on two 64x128 frames and a gyro field: the forward flow pyramid.
"""

from __future__ import annotations

import importlib
import importlib.util
import pickle
import sys
import types
from collections.abc import Callable
from pathlib import Path

import megengine.module as M
import numpy as np


def _uniform(*shape: int, seed: int = 1, low: float = 0.0, high: float = 1.0
             ) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def _pmrid(root: Path) -> tuple[object, dict[str, np.ndarray]]:
    net = importlib.import_module("models.net_mge").Network()
    clean = _uniform(1, 4, 32, 48, seed=1)
    noise = np.random.default_rng(2).normal(0, 0.05, clean.shape).astype(np.float32)
    return net, {"inp": clean + noise}


def _pmrid_weights(state: dict[str, np.ndarray], root: Path) -> dict[str, np.ndarray]:
    with open(root / "models" / "mge_pretrained.ckp", "rb") as f:
        pretrained = pickle.load(f)
    return {k: np.asarray(pretrained[k], state[k].dtype).reshape(state[k].shape)
            for k in state}


def _nbnet(root: Path) -> tuple[object, dict[str, np.ndarray]]:
    net = importlib.import_module("model").UNetD(3)
    return net, {"image": _uniform(1, 3, 64, 64)}


class _RifeInference(M.Module):
    """``Model.inference`` of RIFE without its optimizer: IFNet on the two frames."""

    def __init__(self, flownet: M.Module) -> None:
        super().__init__()
        self.flownet = flownet

    def forward(self, img0, img1):  # noqa: ANN001, ANN201 - tensors
        import megengine.functional as F

        flows, mask, merged, *_ = self.flownet(F.concat((img0, img1), 1), [4, 2, 1])
        return merged[2], flows[2], mask


def _rife(root: Path) -> tuple[object, dict[str, np.ndarray]]:
    net = _RifeInference(importlib.import_module("model.IFNet").IFNet())
    frame = _uniform(1, 3, 32, 64, seed=1)
    shifted = np.roll(frame, 2, axis=3) * 0.9 + 0.1 * _uniform(1, 3, 32, 64, seed=2)
    return net, {"img0": frame, "img1": shifted.astype(np.float32)}


class _DmvfnPredict(M.Module):
    """DMVFN as ``Model.eval`` calls it (``training=False``: the routed blocks only), or
    its training forward (every block, weighted by the routing), on two frames."""

    def __init__(self, dmvfn: M.Module, training: bool) -> None:
        super().__init__()
        self.dmvfn = dmvfn
        self.routed_training = training

    def forward(self, img0, img1):  # noqa: ANN001, ANN201 - tensors
        import megengine.functional as F

        return self.dmvfn(F.concat((img0, img1), 1), scale=[4, 4, 4, 2, 2, 2, 1, 1, 1],
                          training=self.routed_training)


def _dmvfn(training: bool) -> Callable[[Path], tuple[object, dict[str, np.ndarray]]]:
    def build(root: Path) -> tuple[object, dict[str, np.ndarray]]:
        net = _DmvfnPredict(importlib.import_module("arch").DMVFN(), training)
        frame = _uniform(1, 3, 32, 32, seed=1)
        shifted = np.roll(frame, 2, axis=2) * 0.9 + 0.1 * _uniform(1, 3, 32, 32, seed=2)
        return net, {"img0": frame, "img1": shifted.astype(np.float32)}
    return build


#: the blocks DMVFN's routing picks (one per scale, and the last)
DMVFN_ROUTE = (0, 3, 6, 8)


def _dmvfn_weights(state: dict[str, np.ndarray], root: Path) -> dict[str, np.ndarray]:
    """DMVFN's routing draws ``uniform < p`` per block (``RoundSTE``), and MegEngine's
    random bits are its own: a routing layer with no weight and biases of +50 (the four
    blocks of :data:`DMVFN_ROUTE`) or -200 makes p exactly 1 (4.5 / 4 clipped) or 0, so
    the draw picks the same blocks in both."""
    bias = np.full(9, -200.0, np.float32)
    bias[list(DMVFN_ROUTE)] = 50.0
    return {**state, "dmvfn.l1.weight": np.zeros_like(state["dmvfn.l1.weight"]),
            "dmvfn.l1.bias": bias}


def _stand_in(name: str, *attributes: str) -> None:
    """An empty module ``name`` (its ``attributes`` None) where the package is not
    installed: for third-party packages a repository imports but the built model never
    calls (logging helpers, the numpy/torch twins of its MegEngine functions)."""
    try:
        importlib.import_module(name)
    except ImportError:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            module = sys.modules.setdefault(".".join(parts[:k]),
                                            types.ModuleType(".".join(parts[:k])))
            if k > 1:
                setattr(sys.modules[".".join(parts[:k - 1])], parts[k - 1], module)
        for attribute in attributes:
            setattr(sys.modules[name], attribute, None)


class _GyroFlowPredict(M.Module):
    """GyroFlow on its ``data_batch`` dict: both frames (``imgs``, 0-1) and the gyro field
    (a flow in pixels); the forward flow pyramid (the backward one runs the same code on
    the frames swapped)."""

    def __init__(self, net: M.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, imgs, gyro_field):  # noqa: ANN001, ANN201 - tensors
        return self.net({"imgs": imgs, "gyro_field": gyro_field}, with_bk=False)


def _gyroflow(root: Path) -> tuple[object, dict[str, np.ndarray]]:
    _stand_in("coloredlogs")  # common/utils.py's set_logger only
    params = types.SimpleNamespace(upsample=True, net_type="gyroflow")
    net = _GyroFlowPredict(importlib.import_module("model.net").fetch_net(params))
    frame = _uniform(1, 3, 64, 128, seed=1)
    moved = np.roll(frame, (2, -3), axis=(2, 3)) * 0.95 + 0.05 * _uniform(1, 3, 64, 128, seed=2)
    ys, xs = np.mgrid[0:64, 0:128].astype(np.float32) / 128
    gyro = np.stack([-3.0 + 0.5 * ys, 2.0 + 0.5 * xs])[None].astype(np.float32)
    return net, {"imgs": np.concatenate([frame, moved], 1).astype(np.float32),
                 "gyro_field": gyro}


def _point_clouds(n: int) -> dict[str, np.ndarray]:
    """A source cloud of ``n`` points in the unit ball and the reference: the source
    rotated (30 degrees about a tilted axis), shifted and jittered."""
    rng = np.random.default_rng(3)
    src = rng.normal(size=(n, 3))
    src *= (rng.uniform(size=(n, 1)) ** (1 / 3)) / np.linalg.norm(src, axis=1, keepdims=True)
    axis = np.array([1.0, 2.0, 2.0]) / 3
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.pi / 6
    rot = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    ref = src @ rot.T + np.array([0.1, -0.2, 0.05]) + rng.normal(0, 0.01, (n, 3))
    return {"points_src": src[None].astype(np.float32), "points_ref": ref[None].astype(np.float32)}


class _RegistrationPredict(M.Module):
    """A point cloud registration network on its ``data_batch`` dict (the ground-truth
    pose, which only its losses read, is the identity): every iteration's predicted
    pose, then ``extra`` endpoints (every iteration's, the prediction of each pair)."""

    def __init__(self, net: M.Module, extra: tuple[str, ...]) -> None:
        super().__init__()
        self.net = net
        self.extra = extra

    def forward(self, points_src, points_ref):  # noqa: ANN001, ANN201 - tensors
        import megengine.functional as F

        batch = points_src.shape[0]
        eye = F.broadcast_to(F.eye(3, 4), (batch, 3, 4))
        pose = F.broadcast_to(F.concat([F.ones(1), F.zeros(6)]), (batch, 7))
        ends = self.net({"points_src": points_src, "points_ref": points_ref,
                         "transform_gt": eye, "pose_gt": pose})
        return [pair[1] for pair in ends["all_pose_pair"]] + [
            pair[1] for name in self.extra for pair in ends[name]]


def _registration(kind: str, iterations: int, extra: tuple[str, ...], **config: object
                  ) -> Callable[[Path], tuple[object, dict[str, np.ndarray]]]:
    def build(root: Path) -> tuple[object, dict[str, np.ndarray]]:
        _stand_in("torch")  # common/quaternion.py's torch twins
        _stand_in("transforms3d.quaternions")  # common/se3.py's numpy twins
        _stand_in("scipy.spatial.transform", "Rotation")
        params = types.SimpleNamespace(net_type=kind, titer=iterations, overlap_dist=0.1,
                                       **config)
        net = importlib.import_module("model.net").fetch_net(params)
        return _RegistrationPredict(net, extra), _point_clouds(256)
    return build


MODELS = {"pmrid": _pmrid, "nbnet": _nbnet, "rife": _rife, "dmvfn": _dmvfn(False),
          "dmvfn_training_forward": _dmvfn(True), "gyroflow": _gyroflow,
          # 3 iterations: from the third on, OMNet masks the points by its own overlap
          # predictions (the repository's config runs 4)
          "omnet": _registration("omnet", 3, ("all_src_cls_pair", "all_ref_cls_pair")),
          # 1 iteration (the config runs 4) keeps the weights at 140 MB
          "finet": _registration("finet", 1, ("all_R_feats", "all_t_feats"), net_config={
              "dropout_ratio": 0.3, "reg_t_feats": "tr-t", "reg_R_feats": "tr-tr"})}
#: the registration networks assert ``q.shape[:-1] == v.shape[:-1]``, which MegEngine's
#: trace (shapes as tensors by default) cannot answer either
TRACE_OPTIONS = {"omnet": {"symbolic_shape": False}, "finet": {"symbolic_shape": False}}
WEIGHTS = {"pmrid": _pmrid_weights, "dmvfn": _dmvfn_weights,
           "dmvfn_training_forward": _dmvfn_weights}
