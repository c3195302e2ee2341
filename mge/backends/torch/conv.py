"""torch kernels: Convolution ops: ConvolutionForward, ConvBiasForward (MegEngine Convolution/ConvBias params)."""

from __future__ import annotations
