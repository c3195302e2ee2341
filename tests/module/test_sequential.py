"""Sequential: construction, indexing, slicing, mutation and forward (MegEngine semantics)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import mge
import mge.module as M


class AddOne(M.Module):
    def forward(self, x):
        return x + 1


class Twice(M.Module):
    def forward(self, x):
        return x * 2


def test_positional_layers_are_named_by_index_and_run_in_order():
    net = M.Sequential(AddOne(), Twice(), AddOne())
    assert net.layer_keys == ["0", "1", "2"]
    assert net(mge.tensor([1.0])).item() == 5.0  # (1 + 1) * 2 + 1
    assert len(net) == 3
    assert [type(m).__name__ for m in net] == ["AddOne", "Twice", "AddOne"]


def test_ordered_dict_keys_become_attribute_names():
    net = M.Sequential(OrderedDict([("fc0", M.Linear(2, 3)), ("act", M.ReLU())]))
    assert net.layer_keys == ["fc0", "act"]
    assert net.fc0 is net[0]
    assert [k for k, _ in net.named_parameters()] == ["fc0.bias", "fc0.weight"]


def test_state_keys_sort_as_strings_like_megengine():
    net = M.Sequential(*[M.Linear(1, 1, bias=False) for _ in range(11)])
    assert list(net.state_dict())[:3] == ["0.weight", "1.weight", "10.weight"]


def test_indexing_and_slicing_share_layers_and_keep_keys():
    layers = [AddOne(), Twice(), AddOne()]
    net = M.Sequential(*layers)
    assert net[-1] is layers[2]
    tail = net[1:]
    assert isinstance(tail, M.Sequential)
    assert tail.layer_keys == ["1", "2"] and tail[0] is layers[1]
    assert tail(mge.tensor([1.0])).item() == 3.0
    with pytest.raises(IndexError):
        net[3]


def test_setitem_and_delitem():
    net = M.Sequential(AddOne(), Twice(), AddOne(), Twice())
    net[1] = AddOne()
    assert net(mge.tensor([0.0])).item() == 6.0  # ((0+1+1+1)*2)
    del net[0]
    assert net.layer_keys == ["1", "2", "3"] and not hasattr(net, "0")
    del net[1:]
    assert net.layer_keys == ["1"] and len(net) == 1
    assert "(2)" not in repr(net)


def test_non_module_layer_is_rejected():
    with pytest.raises(TypeError, match="layer '1' must be a Module"):
        M.Sequential(M.ReLU(), np.zeros(3))
