"""Recurrent layers: ``RNNCell``, ``LSTMCell``, ``RNN`` and ``LSTM`` (MegEngine 1.13).

Cells hold ``weight_ih`` ``(G, input)``, ``weight_hh`` ``(G, hidden)`` and the biases
``bias_ih``/``bias_hh`` ``(G,)`` with ``G = hidden`` (RNN) or ``4 * hidden`` (LSTM,
gates in the order input, forget, cell, output). ``RNN``/``LSTM`` keep, as MegEngine
does, one ``_flatten_weights`` Parameter ``(G, n)`` whose memory holds every cell's
``weight_ih, weight_hh, bias_ih, bias_hh`` in turn (layer by layer, forward direction
first); the per-layer ``cells`` are kept for MegEngine's parameter list but only
``_flatten_weights`` is used, as in MegEngine. Everything starts as
U(-1/sqrt(hidden), 1/sqrt(hidden)). ``dropout`` is stored but, as in MegEngine's CPU
kernels, not applied. The math is composed from ``F`` (``linear``, ``tanh``,
``sigmoid``).

Example:
    >>> import mge, mge.module as M
    >>> lstm = M.LSTM(10, 20, num_layers=2, batch_first=True)
    >>> out, (h, c) = lstm(mge.random.normal(size=(3, 5, 10)))
    >>> out.shape, h.shape
    ((3, 5, 20), (2, 3, 20))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Parameter, Tensor
from . import init
from .module import Module

_NONLINEARITIES = {"tanh": F.tanh, "relu": F.relu}


def _gates(x: Tensor, h: Tensor, w_ih: Tensor, b_ih: Tensor, w_hh: Tensor, b_hh: Tensor
           ) -> Tensor:
    return F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)


def _rnn_step(x: Tensor, h: Tensor, weights: tuple[Tensor, ...], nonlinearity: str) -> Tensor:
    return _NONLINEARITIES[nonlinearity](_gates(x, h, *weights))


def _lstm_step(x: Tensor, state: tuple[Tensor, Tensor], weights: tuple[Tensor, ...]
               ) -> tuple[Tensor, Tensor]:
    h, c = state
    i, f, g, o = F.split(_gates(x, h, *weights), 4, axis=1)
    c_new = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
    return F.sigmoid(o) * F.tanh(c_new), c_new


def _check_nonlinearity(nonlinearity: str) -> str:
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(
            f"nonlinearity must be one of {sorted(_NONLINEARITIES)}, got {nonlinearity!r}")
    return nonlinearity


class RNNCellBase(Module):
    """Weights of one recurrent cell with ``num_chunks`` gates of ``hidden_size``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int
                 ) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.gate_hidden_size = num_chunks * hidden_size
        g = self.gate_hidden_size
        self.weight_ih = Parameter(np.zeros((g, input_size), np.float32))
        self.weight_hh = Parameter(np.zeros((g, hidden_size), np.float32))
        make = Parameter if bias else Tensor
        self.bias_ih = make(np.zeros(g, np.float32))
        self.bias_hh = make(np.zeros(g, np.float32))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _weights(self) -> tuple[Tensor, ...]:
        return self.weight_ih, self.bias_ih, self.weight_hh, self.bias_hh

    def _zeros(self, batch: int) -> Tensor:
        return F.zeros((batch, self.hidden_size))


class RNNCell(RNNCellBase):
    """``h' = nonlinearity(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (``"tanh"`` or ``"relu"``).

    Example:
        >>> M.RNNCell(10, 20)(mge.random.normal(size=(3, 10))).shape
        (3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh") -> None:
        self.nonlinearity = _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, num_chunks=1)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        hx = self._zeros(input.shape[0]) if hx is None else hx
        return _rnn_step(input, hx, self._weights(), self.nonlinearity)


class LSTMCell(RNNCellBase):
    """One LSTM step: returns ``(h', c')`` from ``input`` and ``hx = (h, c)`` (zeros if None).

    Example:
        >>> h, c = M.LSTMCell(10, 20)(mge.random.normal(size=(3, 10)))
        >>> h.shape, c.shape
        ((3, 20), (3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None  # noqa: A002
                ) -> tuple[Tensor, Tensor]:
        state = (self._zeros(input.shape[0]),) * 2 if hx is None else tuple(hx)
        return _lstm_step(input, state, self._weights())  # type: ignore[arg-type]


class RNNBase(Module):
    """Stacked, optionally bidirectional recurrent layers over ``(seq, batch, feature)``."""

    _num_chunks = 1

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
        batch_first: bool = False, dropout: float = 0, bidirectional: bool = False,
        proj_size: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (
                0 <= dropout <= 1):
            raise ValueError(
                "Dropout should be a float in [0, 1], which indicates the probability "
                "of an element to be zero"
            )
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size:
            raise NotImplementedError(
                f"{type(self).__name__}: proj_size={proj_size} (projections) is not supported")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.proj_size = proj_size
        self.cells = [[self.create_cell(layer) for _ in range(self.num_directions)]
                      for layer in range(num_layers)]
        self._flatten_weights = Parameter(
            np.zeros((self._num_chunks * hidden_size, self._flat_columns()), np.float32))
        self.reset_parameters()

    def create_cell(self, layer: int) -> RNNCellBase:
        raise NotImplementedError

    def _layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.num_directions * self.hidden_size

    def _flat_columns(self) -> int:
        cols = sum(self._layer_input_size(layer) + self.hidden_size
                   for layer in range(self.num_layers)) * self.num_directions
        return cols + (2 * self.num_directions * self.num_layers if self.bias else 0)

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _cell_weights(self) -> list[tuple[Tensor, ...]]:
        """``(weight_ih, bias_ih, weight_hh, bias_hh)`` per cell, cut from the flat memory."""
        flat = F.flatten(self._flatten_weights)
        g, h, offset = self._num_chunks * self.hidden_size, self.hidden_size, 0
        zero_bias = F.zeros((g,))

        def take(*shape: int) -> Tensor:
            nonlocal offset
            size = int(np.prod(shape))
            part = F.reshape(flat[offset:offset + size], shape)
            offset += size
            return part

        weights = []
        for layer in range(self.num_layers):
            for _ in range(self.num_directions):
                w_ih, w_hh = take(g, self._layer_input_size(layer)), take(g, h)
                b_ih, b_hh = (take(g), take(g)) if self.bias else (zero_bias, zero_bias)
                weights.append((w_ih, b_ih, w_hh, b_hh))
        return weights

    def _step(self, x: Tensor, state: Any, weights: tuple[Tensor, ...]) -> Any:
        raise NotImplementedError

    def _unroll(self, inp: Tensor, states: list[Any]) -> tuple[Tensor, list[Any]]:
        """Run every layer and direction; ``states[k]`` is cell ``k``'s initial state."""
        weights, finals = self._cell_weights(), []
        seq = [inp[t] for t in range(inp.shape[0])]
        for layer in range(self.num_layers):
            outputs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                state, hs = states[k], [None] * len(seq)
                steps = range(len(seq)) if d == 0 else reversed(range(len(seq)))
                for t in steps:
                    state = self._step(seq[t], state, weights[k])
                    hs[t] = state[0] if isinstance(state, tuple) else state
                outputs.append(hs)
                finals.append(state)
            seq = [F.concat([out[t] for out in outputs], axis=1) if len(outputs) > 1
                   else outputs[0][t] for t in range(len(seq))]
        return F.stack(seq, axis=0), finals

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Any]:  # noqa: A002
        inp = F.transpose(input, (1, 0, 2)) if self.batch_first else input
        if inp.ndim != 3 or inp.shape[2] != self.input_size:
            raise ValueError(
                f"{type(self).__name__}: expected input (seq, batch, {self.input_size}) "
                f"(batch first: {self.batch_first}), got {tuple(input.shape)}"
            )
        hx = self.init_hidden(inp.shape[1]) if hx is None else hx
        output, finals = self._unroll(inp, self._split_states(hx))
        if self.batch_first:
            output = F.transpose(output, (1, 0, 2))
        return output, self._stack_states(finals)

    def init_hidden(self, batch_size: int) -> Any:
        raise NotImplementedError

    def _split_states(self, hx: Any) -> list[Any]:
        raise NotImplementedError

    def _stack_states(self, finals: list[Any]) -> Any:
        raise NotImplementedError

    def _hidden_shape(self, batch_size: int) -> tuple[int, int, int]:
        return (self.num_directions * self.num_layers, batch_size, self.hidden_size)


class RNN(RNNBase):
    """Elman RNN layers (``nonlinearity`` keyword: ``"tanh"`` or ``"relu"``).

    ``forward(input, hx=None)`` returns ``output`` ``(seq, batch, D * hidden)`` (batch
    first if ``batch_first``) and ``h_n`` ``(D * num_layers, batch, hidden)``.

    Example:
        >>> out, h = M.RNN(10, 20)(mge.random.normal(size=(5, 3, 10)))
        >>> out.shape, h.shape
        ((5, 3, 20), (1, 3, 20))
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.nonlinearity = _check_nonlinearity(kwargs.pop("nonlinearity", "tanh"))
        super().__init__(*args, **kwargs)

    def create_cell(self, layer: int) -> RNNCell:
        return RNNCell(self._layer_input_size(layer), self.hidden_size, self.bias,
                       self.nonlinearity)

    def init_hidden(self, batch_size: int) -> Tensor:
        return F.zeros(self._hidden_shape(batch_size))

    def _step(self, x: Tensor, state: Tensor, weights: tuple[Tensor, ...]) -> Tensor:
        return _rnn_step(x, state, weights, self.nonlinearity)

    def _split_states(self, hx: Tensor) -> list[Tensor]:
        return [hx[k] for k in range(hx.shape[0])]

    def _stack_states(self, finals: list[Tensor]) -> Tensor:
        return F.stack(finals, axis=0)


class LSTM(RNNBase):
    """LSTM layers; ``hx`` and the returned state are ``(h, c)`` pairs of
    ``(D * num_layers, batch, hidden)`` tensors.

    Example:
        >>> out, (h, c) = M.LSTM(10, 20, bidirectional=True)(mge.random.normal(size=(5, 3, 10)))
        >>> out.shape, c.shape
        ((5, 3, 40), (2, 3, 20))
    """

    _num_chunks = 4

    def create_cell(self, layer: int) -> LSTMCell:
        return LSTMCell(self._layer_input_size(layer), self.hidden_size, self.bias)

    def init_hidden(self, batch_size: int) -> tuple[Tensor, Tensor]:
        shape = self._hidden_shape(batch_size)
        return F.zeros(shape), F.zeros(shape)

    def _step(self, x: Tensor, state: tuple[Tensor, Tensor], weights: tuple[Tensor, ...]
              ) -> tuple[Tensor, Tensor]:
        return _lstm_step(x, state, weights)

    def _split_states(self, hx: tuple[Tensor, Tensor]) -> list[tuple[Tensor, Tensor]]:
        h, c = hx
        return [(h[k], c[k]) for k in range(h.shape[0])]

    def _stack_states(self, finals: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return F.stack([h for h, _ in finals], axis=0), F.stack([c for _, c in finals], axis=0)


__all__ = ["LSTM", "RNN", "LSTMCell", "RNNCell"]
