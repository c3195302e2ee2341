"""Backbones, transformers and a detector of real MegEngine research repositories, built
from each repository's own, unmodified code (group ``backbones`` of ``driver.py``).

Each :data:`MODELS` entry is given the extracted repository's root (first on ``sys.path``,
the working directory) and returns the module and its named, seeded inputs. Small
variants and inputs keep a forward pass to a few seconds on a CPU.

* ``yolox_tiny`` (MegEngine/YOLOX): YOLOX-Tiny as its ``yolox_tiny`` Exp builds it, 160x160;
  ``yolox_tiny_train``: two training steps (SimOTA losses, backward, the repo's SGD)
* ``swin_narrow`` (MegEngine/swin-transformer): ``SwinTransformer``, Swin-T's layout at half
  its width, 112x112 in 2x2 patches, absolute position embedding
* ``replknet_small`` (MegEngine/RepLKNet): a narrow ``RepLKNet`` (31/29/27/13 kernels);
  ``replknet_small_deploy``: the same after its ``convert_to_deploy`` re-parameterisation
* ``convnext_tiny`` (Asthestarsfalll/ConvNeXt-MegEngine): ``convnext_tiny``, 128x128
* ``van_b0`` (Asthestarsfalll/VAN-MegEngine): ``van_b0``, 128x128
* ``uniformer_small`` (Asthestarsfalll/UniFormer-MegEngine): ``uniformer_small``, 128x128
* ``mae_tiny`` (Asthestarsfalll/MAE-MegEngine): a 4-block ``MaskedAutoencoderViT``, 75 %
  masked (loss, prediction, mask); ``mae_tiny_reconstruct``: its encoder and decoder only
* ``asr_transformer`` (MegEngine/End-to-end-ASR-Transformer): ``models.transformer.Model``
  at its ``hparams`` sizes, padded batch of 2 (encoder and decoder outputs, masks as
  int32); ``asr_transformer_greedy``: its greedy decoding (``evaluate=True``, token ids)

Stand-ins for absent third-party packages, never for the repository's code: ``loguru``
(YOLOX's logger), ``basecls`` (RepLKNet's ``DropPath``, ``init_weights`` and model
registry) and, where scipy is absent (the oracle's venv), ``scipy.special.erfcinv`` (VAN's
and UniFormer's weight init). In eval mode ``DropPath`` is the identity and the weights
are loaded after any init, so the stand-ins change no number.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

Builder = Callable[[Path], tuple[object, dict[str, np.ndarray]]]

#: repository (owner/name) of each model
REPOS: dict[str, str] = {
    "yolox_tiny": "MegEngine/YOLOX",
    "yolox_tiny_train": "MegEngine/YOLOX",
    "swin_narrow": "MegEngine/swin-transformer",
    "replknet_small": "MegEngine/RepLKNet",
    "replknet_small_deploy": "MegEngine/RepLKNet",
    "convnext_tiny": "Asthestarsfalll/ConvNeXt-MegEngine",
    "van_b0": "Asthestarsfalll/VAN-MegEngine",
    "uniformer_small": "Asthestarsfalll/UniFormer-MegEngine",
    "mae_tiny": "Asthestarsfalll/MAE-MegEngine",
    "mae_tiny_reconstruct": "Asthestarsfalll/MAE-MegEngine",
    "asr_transformer": "MegEngine/End-to-end-ASR-Transformer",
    "asr_transformer_greedy": "MegEngine/End-to-end-ASR-Transformer",
}


def _image(*shape: int) -> np.ndarray:
    return np.random.default_rng(1).standard_normal(shape).astype(np.float32)


def _stand_in(name: str, **attrs: object) -> None:
    """Register module ``name`` (and its parents) with ``attrs`` unless it is importable."""
    try:
        importlib.import_module(name)
        return
    except ImportError:
        pass
    parts = name.split(".")
    for k in range(1, len(parts) + 1):
        module = sys.modules.setdefault(".".join(parts[:k]),
                                        types.ModuleType(".".join(parts[:k])))
        if k > 1:
            setattr(sys.modules[".".join(parts[:k - 1])], parts[k - 1], module)
    vars(sys.modules[name]).update(attrs)


def _module(forward: Callable, **children: object) -> object:
    """A MegEngine module holding ``children`` whose ``forward(*args)`` is
    ``forward(module, *args)``: how a model is called differently from its own forward."""
    import megengine.module as M

    class Call(M.Module):
        def __init__(self) -> None:
            super().__init__()
            for name, child in children.items():
                setattr(self, name, child)

        def forward(self, *args):  # noqa: ANN002, ANN202 - MegEngine tensors
            return forward(self, *args)

    return Call()


def _yolox(root: Path) -> tuple[object, dict[str, np.ndarray]]:
    """YOLOX-Tiny as ``exps/default/yolox_tiny.py``'s ``Exp.get_model`` builds it (its
    ``yolox.exp`` package imports torch, which the oracle lacks, so the three lines of
    ``get_model`` are repeated here: depth 0.33, width 0.375, BN eps 1e-3)."""
    import logging

    import megengine.module as M

    _stand_in("loguru", logger=logging.getLogger("yolox"))
    from yolox.models import YOLOPAFPN, YOLOX, YOLOXHead

    in_channels = [256, 512, 1024]
    net = YOLOX(YOLOPAFPN(0.33, 0.375, in_channels=in_channels),
                YOLOXHead(80, 0.375, in_channels=in_channels))
    for m in net.modules():
        if isinstance(m, M.BatchNorm2d):
            m.eps = 1e-3
    return net, {"image": _image(1, 3, 160, 160) * 50 + 110}


def _yolox_train(root: Path) -> tuple[object, dict[str, np.ndarray]]:
    """YOLOX-Tiny and three ground-truth boxes (class, centre x, centre y, width, height
    in pixels; zero rows are padding) for :func:`_train_steps`."""
    net, inputs = _yolox(root)
    labels = np.zeros((1, 10, 5), np.float32)
    labels[0, :3] = [[3, 40, 50, 30, 40], [17, 100, 90, 60, 50], [56, 120, 30, 24, 20]]
    return net, {**inputs, "labels": labels}


def _train_steps(net: object, inputs: dict[str, np.ndarray]) -> object:
    """Two training steps as YOLOX's trainer takes them: the head's SimOTA losses in
    train mode, ``GradManager`` backward, the repo's own SGD (Nesterov momentum, weight
    decay, its ``MEGENGINE_INPLACE_UPDATE`` path through ``_inplace_add_``). Outputs: each
    step's losses (total, IoU, objectness, class, fg ratio), then how three parameters
    (first, middle, last) moved."""
    import os

    import megengine as mge
    from megengine.autodiff import GradManager
    from yolox.utils import SGD

    os.environ["MEGENGINE_INPLACE_UPDATE"] = "1"

    def steps(self, image, labels):  # noqa: ANN001, ANN202 - MegEngine tensors
        params = list(self.net.parameters())
        watched = [params[0], params[len(params) // 2], params[-1]]
        before = [mge.tensor(p.numpy()) for p in watched]
        opt = SGD(params, lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
        gm = GradManager().attach(params)
        self.net.train()
        outs = []
        for _ in range(2):
            with gm:
                losses = self.net(image, labels)
                gm.backward(losses["total_loss"])
            opt.step()
            opt.clear_grad()
            outs += [v if isinstance(v, mge.Tensor) else mge.tensor(v) for v in
                     (losses[k] for k in ("total_loss", "iou_loss", "conf_loss", "cls_loss",
                                          "num_fg"))]
        return outs + [p - b for p, b in zip(watched, before)]

    return _module(steps, net=net)


def _swin(root: Path) -> tuple[object, dict[str, np.ndarray]]:
    """The repo's ``SwinTransformer`` at half of Swin-T's width (48), 112x112 input in 2x2
    patches (the same 56, 28, 14, 7 token grids and 7x7 windows), absolute position
    embedding on: a quarter of Swin-T's work."""
    swin = importlib.import_module("swin_transformer")
    net = swin.SwinTransformer(img_size=112, patch_size=2, embed_dim=48, depths=[2, 2, 4, 2],
                               num_heads=[2, 4, 8, 16], window_size=7, ape=True,
                               num_classes=100)
    return net, {"image": _image(1, 3, 112, 112)}


def _basecls() -> None:
    import megengine.functional as F
    import megengine.module as M

    class DropPath(M.Dropout):
        """basecls' stochastic depth: the identity in eval mode."""

        def forward(self, x):  # noqa: ANN001, ANN201 - MegEngine's signature
            if not self.training or self.drop_prob == 0.0:
                return x
            keep = F.ones((x.shape[0],) + (1,) * (x.ndim - 1))
            return x * F.dropout(keep, self.drop_prob, training=True)

    registry = types.SimpleNamespace(register=lambda *a, **k: (lambda f: f))
    _stand_in("basecls.layers", DropPath=DropPath, init_weights=lambda module: None)
    _stand_in("basecls.utils", registers=types.SimpleNamespace(models=registry))


def _replknet(root: Path) -> tuple[object, dict[str, np.ndarray]]:
    _basecls()
    replknet = importlib.import_module("model_replknet")
    net = replknet.RepLKNet(depths=(1, 1, 2, 1), dims=(16, 32, 48, 64), num_classes=10,
                            drop_path_rate=0.1)
    return net, {"image": _image(1, 3, 96, 96)}


def _replknet_deploy(net: object, inputs: dict[str, np.ndarray]) -> object:
    """RepLKNet's own structural re-parameterisation (BN and small kernels folded into
    the large depthwise convolutions; parameter slices written with ``w[:] = ...``)."""
    return sys.modules["model_replknet"].RepLKNet.convert_to_deploy(net)


def _convnext(root: Path) -> tuple[object, dict[str, np.ndarray]]:
    convnext = importlib.import_module("models.convnext")
    return convnext.convnext_tiny(), {"image": _image(1, 3, 128, 128)}


def _scipy() -> None:
    """VAN and UniFormer import ``scipy.special`` for ``erfcinv`` in their weight init
    only (the loaded weights replace it); the oracle's venv has no scipy."""
    _stand_in("scipy.special", erfcinv=lambda x: np.clip(x - 1.0, -1.0, 1.0))
    _stand_in("scipy.spatial")


def _van(root: Path) -> tuple[object, dict[str, np.ndarray]]:
    _scipy()
    van = importlib.import_module("models.van")
    return van.van_b0(), {"image": _image(1, 3, 128, 128)}


def _uniformer(root: Path) -> tuple[object, dict[str, np.ndarray]]:
    _scipy()
    uniformer = importlib.import_module("image_classification.models.uniformer")
    return uniformer.uniformer_small(img_size=128), {"image": _image(1, 3, 128, 128)}


def _mae(root: Path) -> tuple[object, dict[str, np.ndarray]]:
    """A 4-block MAE ViT at 64x64 (the repo's class; its sin-cos position embedding calls
    ``np.float``, removed in numpy 1.24: the alias is restored for it, on both sides)."""
    from functools import partial

    import megengine.module as M

    if not hasattr(np, "float"):
        np.float = float

    mae = importlib.import_module("models.mae")
    net = mae.MaskedAutoencoderViT(
        img_size=64, patch_size=16, embed_dim=192, depth=4, num_heads=3,
        decoder_embed_dim=128, decoder_depth=2, decoder_num_heads=4, mlp_ratio=4,
        norm_layer=partial(M.LayerNorm, eps=1e-6))
    return net, {"image": _image(2, 3, 64, 64)}


def _asr(greedy: bool) -> Builder:
    """The ASR Transformer (``models.transformer.Model``, ``hparams`` sizes) on a padded
    batch of 2. Its masks read the lengths into Python (``lengths.tolist()``), so they are
    constants of a traced graph: the module built here holds them and takes the features
    and target tokens. ``greedy``: its own greedy decoding (``evaluate=True``: the decoder
    run step by step with ``F.topk``); otherwise the encoder and decoder outputs, their
    bool masks as int32 (real MegEngine Lite cannot load a model with bool outputs)."""

    def build(root: Path) -> tuple[object, dict[str, np.ndarray]]:
        import megengine as mge

        transformer = importlib.import_module("models.transformer")
        feat_lens, token_lens = [64, 48], [6, 4]

        def with_lengths(self, feats, tokens):  # noqa: ANN001, ANN202 - MegEngine tensors
            outs = self.model(feats, mge.tensor(feat_lens, dtype="int32"), tokens,
                              mge.tensor(token_lens, dtype="int32"), evaluate=greedy)
            if greedy:
                return outs
            return [o.astype("int32") if o.dtype == np.bool_ else o for o in outs]

        rng = np.random.default_rng(2)
        tokens = rng.integers(4, 100, (2, 6)).astype(np.int32)
        tokens[1, 4:] = 0  # padding (ignore_id) of the shorter target
        feats = rng.standard_normal((2, 64, 80)).astype(np.float32)
        return (_module(with_lengths, model=transformer.Model(idim=80, odim=100)),
                {"feats": feats, "tokens": tokens})

    return build


def _mae_reconstruct(net: object, inputs: dict[str, np.ndarray]) -> object:
    """MAE's encoder and decoder (``forward_encoder`` then ``forward_decoder``: prediction
    and mask) without ``forward_loss``, whose ``patchify`` neither MegEngine nor mge can
    trace (``(shape // p) ** 2`` is a float tensor there, refused by ``reshape``)."""

    def reconstruct(self, image):  # noqa: ANN001, ANN202 - a MegEngine tensor
        latent, mask, ids_restore = self.mae.forward_encoder(image, 0.75)
        return self.mae.forward_decoder(latent, ids_restore), mask

    return _module(reconstruct, mae=net)


MODELS: dict[str, Builder] = {
    "yolox_tiny": _yolox,
    "yolox_tiny_train": _yolox_train,
    "swin_narrow": _swin,
    "replknet_small": _replknet,
    "replknet_small_deploy": _replknet,
    "convnext_tiny": _convnext,
    "van_b0": _van,
    "uniformer_small": _uniformer,
    "mae_tiny": _mae,
    "mae_tiny_reconstruct": _mae,
    "asr_transformer": _asr(greedy=False),
    "asr_transformer_greedy": _asr(greedy=True),
}

#: what runs on a model after its weights are loaded
PREPARE: dict[str, Callable[[object, dict[str, np.ndarray]], object]] = {
    "replknet_small_deploy": _replknet_deploy,
    "yolox_tiny_train": _train_steps,
    "mae_tiny_reconstruct": _mae_reconstruct}
