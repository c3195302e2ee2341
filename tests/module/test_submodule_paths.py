"""MegEngine 1.13's ``megengine.module.<file>`` paths (``M.dropout.Dropout``, as the
End-to-end ASR Transformer writes) give mge's layers, directly and under the alias."""

from __future__ import annotations

import importlib

import pytest

import mge.module as M
from mge.compat import install_megengine_alias, uninstall_megengine_alias

PATHS = {
    "dropout": ["Dropout"],
    "identity": ["Identity"],
    "concat": ["Concat"],
    "elemwise": ["Elemwise"],
    "padding": ["Pad"],
    "adaptive_pooling": ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d"],
    "conv_bn": ["ConvBn2d", "ConvBnRelu2d"],
    "conv_transpose_bn": ["ConvTransposeBn2d", "ConvTransposeBnRelu2d"],
    "lrn": ["LocalResponseNorm"],
}


@pytest.mark.parametrize("path", list(PATHS))
def test_submodule_path_gives_the_layer(path: str) -> None:
    for name in PATHS[path]:
        assert getattr(getattr(M, path), name) is getattr(M, name)


def test_paths_resolve_under_the_megengine_alias() -> None:
    install_megengine_alias()
    try:
        megengine_module = importlib.import_module("megengine.module")
        assert megengine_module.dropout.Dropout is M.Dropout
        lrn = importlib.import_module("megengine.module.lrn")
        assert lrn.LocalResponseNorm is M.LocalResponseNorm
    finally:
        uninstall_megengine_alias()
