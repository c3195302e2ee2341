"""ONNX -> mge: :func:`from_onnx` builds an :class:`OnnxModule` (or its TracedModule) whose
forward calls ``mge.functional``; one converter per ONNX op type lives in ``nn`` and
``tensor``, on the node helpers of ``node``."""

from .mge_file import onnx_to_mge
from .model import OnnxModule, from_onnx

__all__ = ["OnnxModule", "from_onnx", "onnx_to_mge"]
