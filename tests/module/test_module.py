"""Module base: registration and naming (checked against MegEngine 1.13's output),
state_dict / load_state_dict rules, hooks, train/eval, repr and the tracer protocol."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import mge
import mge.module as M
from mge.core.tracing import call_tracer


class Block(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = M.Conv2d(3, 4, 3)
        self.bn = M.BatchNorm2d(4)
        self.lst = [M.Linear(2, 3), {"a": M.ReLU(), "b": mge.Parameter([1.0])}]
        self.buf = mge.Tensor([1, 2])

    def forward(self, x):
        return x


class Net(M.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.seq = M.Sequential(M.Conv2d(1, 1, 1), M.ReLU())

    def forward(self, x):
        return x


class Double(M.Module):
    def forward(self, x):
        return x * 2


# Expected values below were printed by MegEngine 1.13.0 for the same Net.
PARAMS = [
    "block.bn.bias", "block.bn.weight", "block.conv.bias", "block.conv.weight",
    "block.lst.0.bias", "block.lst.0.weight", "block.lst.1.b", "seq.0.bias", "seq.0.weight",
]
BUFFERS = ["block.bn.running_mean", "block.bn.running_var", "block.buf"]
MODULES = [
    "", "block", "block.bn", "block.conv", "block.lst.0", "block.lst.1.a", "seq", "seq.0",
    "seq.1",
]
STATE = [
    ("block.buf", (2,)), ("block.lst.1.b", (1,)), ("block.bn.bias", (4,)),
    ("block.bn.running_mean", (4,)), ("block.bn.running_var", (4,)), ("block.bn.weight", (4,)),
    ("block.conv.bias", (1, 4, 1, 1)), ("block.conv.weight", (4, 3, 3, 3)),
    ("block.lst.0.bias", (3,)), ("block.lst.0.weight", (3, 2)), ("seq.0.bias", (1, 1, 1, 1)),
    ("seq.0.weight", (1, 1, 1, 1)),
]
REPR = """Net(
  (block): Block(
    (conv): Conv2d(3, 4, kernel_size=(3, 3))
    (bn): BatchNorm2d(4, eps=1e-05, momentum=0.9, affine=True, track_running_stats=True)
    (lst.0): Linear(in_features=2, out_features=3, bias=True)
    (lst.1.a): ReLU()
  )
  (seq): Sequential(
    (0): Conv2d(1, 1, kernel_size=(1, 1))
    (1): ReLU()
  )
)"""


def test_names_and_orders_match_megengine():
    net = Net()
    assert [k for k, _ in net.named_parameters()] == PARAMS
    assert [k for k, _ in net.named_buffers()] == BUFFERS
    assert [k for k, _ in net.named_modules()] == MODULES
    assert [(k, v.shape) for k, v in net.state_dict().items()] == STATE
    assert repr(net) == REPR
    assert all(isinstance(v, np.ndarray) for v in net.state_dict().values())


def test_iterators_agree_with_named_forms_and_options():
    net = Net()
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in net.named_parameters()]
    assert [id(b) for b in net.buffers()] == [id(b) for _, b in net.named_buffers()]
    assert len(list(net.tensors())) == len(PARAMS) + len(BUFFERS)
    assert [k for k, _ in net.named_tensors()][:2] == ["block.bn.bias", "block.bn.running_mean"]
    assert [k for k, _ in net.block.named_parameters(recursive=False)] == ["lst.1.b"]
    assert [k for k, _ in net.seq.named_parameters(prefix="p")] == ["p.0.bias", "p.0.weight"]
    assert [k for k, _ in net.named_children()] == ["block", "seq"]
    assert [type(m).__name__ for m in net.children()] == ["Block", "Sequential"]
    assert [k for k, _ in net.named_modules(prefix="m")][:2] == ["m", "m.block"]
    assert next(net.modules()) is net


def test_shared_parameters_and_modules_are_listed_once():
    shared = M.Linear(2, 2)
    seq = M.Sequential(shared, M.ReLU(), shared)
    assert [k for k, _ in seq.named_parameters()] == ["0.bias", "0.weight"]
    assert sum(1 for m in seq.modules() if m is shared) == 1


def test_dict_with_non_str_key_holding_tensors_is_rejected():
    class Bad(Double):
        def __init__(self) -> None:
            super().__init__()
            self.table = {1: M.ReLU()}

    with pytest.raises(AssertionError, match="keys for Tensor and Module must be str"):
        list(Bad().named_modules())


def test_assigning_a_module_before_init_fails_and_name_is_checked():
    class Early(Double):
        def __init__(self) -> None:
            self.fc = M.Linear(1, 1)
            super().__init__()

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()
    with pytest.raises(ValueError, match="non-empty string"):
        Double(name=" ")
    assert Double(name="d").name == "d"


def test_attribute_reassignment_and_deletion_update_the_tree():
    net = Double()
    net.fc = M.Linear(2, 2)
    assert "(fc): Linear" in repr(net)
    net.fc = 3
    assert repr(net) == "Double()" and not list(net.parameters())
    net.fc = M.ReLU()
    del net.fc
    assert repr(net) == "Double()"


def test_state_dict_is_a_copy_and_keep_var_returns_tensors():
    fc = M.Linear(2, 3)
    sd = fc.state_dict()
    sd["weight"][:] = 100
    assert not np.any(fc.weight.numpy() == 100)
    kv = fc.state_dict(keep_var=True)
    assert kv["weight"] is fc.weight and kv["bias"] is fc.bias
    bn_vars = M.BatchNorm2d(3).state_dict(keep_var=True)
    assert all(isinstance(v, mge.Tensor) and v.shape == (3,) for v in bn_vars.values())


def test_deepcopy_copies_parameters():
    import copy

    net = M.Sequential(M.Linear(2, 2))
    clone = copy.deepcopy(net)
    assert clone[0].weight is not net[0].weight
    np.testing.assert_array_equal(clone[0].weight.numpy(), net[0].weight.numpy())


def test_load_state_dict_round_trip_and_tensor_values():
    mge.random.seed(1)
    a = Net()
    mge.random.seed(2)
    b = Net()
    b.block.buf.set_value(np.array([5, 6], dtype="int32"))
    a.load_state_dict(b.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
    assert a.block.conv.weight.shape == (4, 3, 3, 3) and a.block.buf.dtype == np.int32
    a.load_state_dict({k: mge.tensor(v) for k, v in Net().state_dict().items()})


def test_strict_errors_list_missing_and_unused_keys(caplog):
    fc = M.Linear(2, 3)
    with pytest.raises(KeyError, match=r"Missing params violate `strict=True`.*'bias'"):
        fc.load_state_dict({"weight": np.zeros((3, 2), "float32")})
    with pytest.raises(KeyError, match=r"Unused params violate `strict=True`.*'extra'"):
        fc.load_state_dict({**fc.state_dict(), "extra": np.zeros(1)})
    with caplog.at_level(logging.WARNING):
        fc.load_state_dict({"weight": np.ones((3, 2), "float32"), "extra": np.zeros(1)},
                           strict=False)
    assert "missing=['bias']" in caplog.text and "unused=['extra']" in caplog.text
    np.testing.assert_array_equal(fc.weight.numpy(), np.ones((3, 2)))


def test_shape_mismatch_names_key_and_shapes():
    fc = M.Linear(2, 3)
    sd = fc.state_dict()
    sd["weight"] = np.zeros((2, 3), "float32")
    with pytest.raises(ValueError, match=r"`weight` shape mismatch.*\(3, 2\).*\(2, 3\)"):
        fc.load_state_dict(sd)
    with pytest.raises(TypeError, match="dict or a callable"):
        fc.load_state_dict([1, 2])


def test_batchnorm_state_is_flat_and_loads_from_either_shape():
    bn = M.BatchNorm2d(3)
    sd = bn.state_dict()
    assert {k: v.shape for k, v in sd.items()} == {
        "bias": (3,), "running_mean": (3,), "running_var": (3,), "weight": (3,)}
    bn.load_state_dict({k: np.full(v.shape, 2.0, "float32") for k, v in sd.items()})
    assert bn.running_var.shape == (1, 3, 1, 1)
    np.testing.assert_array_equal(bn.running_var.numpy().ravel(), [2, 2, 2])
    bn.load_state_dict({k: np.full((1, 3, 1, 1), 3.0, "float32") for k in sd})
    np.testing.assert_array_equal(bn.weight.numpy().ravel(), [3, 3, 3])
    with pytest.raises(ValueError, match=r"`bias` size mismatch, should be 3"):
        bn.load_state_dict({**sd, "bias": np.zeros(4, "float32")})
    assert M.BatchNorm2d(3, affine=False, track_running_stats=False).state_dict() == {}


def test_closure_loading_skips_none_and_checks_type():
    fc = M.Linear(2, 3)
    seen = []

    def closure(key, var):
        seen.append((key, var.shape))
        return np.full(var.shape, 7.0, "float32") if key == "weight" else None

    fc.load_state_dict(closure, strict=False)
    assert seen == [("bias", (3,)), ("weight", (3, 2))]
    assert fc.weight.numpy().max() == 7.0 and fc.bias.numpy().max() == 0.0
    with pytest.raises(KeyError, match="missing=\\['bias'\\]"):
        fc.load_state_dict(closure)
    with pytest.raises(TypeError, match="'bias' must be a numpy array"):
        fc.load_state_dict(lambda k, v: [1.0, 2.0, 3.0])


def test_hooks_modify_inputs_and_outputs_and_can_be_removed():
    net = Double()
    calls = []
    h1 = net.register_forward_pre_hook(lambda m, inputs: (inputs[0] + 1,))
    h2 = net.register_forward_hook(lambda m, inputs, out: calls.append(inputs[0].item()))
    h3 = net.register_forward_hook(lambda m, inputs, out: out * 10)
    assert net(mge.tensor(1.0)).item() == 40.0
    assert calls == [2.0]
    h1.remove()
    h3.remove()
    h3.remove()
    assert net(mge.tensor(1.0)).item() == 2.0
    h2.remove()
    net.register_forward_pre_hook(lambda m, inputs: inputs[0] * 3)  # non-tuple result
    assert net(mge.tensor(1.0)).item() == 6.0


def test_train_eval_and_apply():
    net = Net()
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.block.train(False, recursive=False)
    assert not net.block.training and net.block.conv.training
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[:3] == ["Net", "Block", "BatchNorm2d"]


def test_module_without_forward_cannot_be_built():
    class NoForward(M.Module):
        pass

    with pytest.raises(TypeError):
        NoForward()


class RecordingTracer:
    """Records module calls; keeps ``Double`` as a leaf and traces into the rest."""

    def __init__(self) -> None:
        self.modules: list[str] = []
        self.functions: list[str] = []

    def call(self, fn, public, args, kwargs):
        self.functions.append(fn.__name__)
        with call_tracer(None):
            return fn(*args, **kwargs)

    def call_module(self, module, run, args, kwargs):
        self.modules.append(type(module).__name__)
        if isinstance(module, Double):
            with call_tracer(None):
                return run(*args, **kwargs)
        return run(*args, **kwargs)


def test_call_goes_through_an_active_call_tracer():
    net = M.Sequential(Double(), M.ReLU())
    hook_calls = []
    net[0].register_forward_hook(lambda m, i, o: hook_calls.append(1))
    tracer = RecordingTracer()
    with call_tracer(tracer):
        out = net(mge.tensor([-1.0, 2.0]))
    np.testing.assert_array_equal(out.numpy(), [0.0, 4.0])
    assert tracer.modules == ["Sequential", "Double", "ReLU"]
    assert tracer.functions == ["relu"]  # Double's multiply ran as a leaf, unseen
    assert hook_calls == [1]


def test_tracer_without_call_module_sees_inner_calls_only():
    class CallOnly:
        def __init__(self) -> None:
            self.names: list[str] = []

        def call(self, fn, public, args, kwargs):
            self.names.append(fn.__name__)
            with call_tracer(None):
                return fn(*args, **kwargs)

    tracer = CallOnly()
    with call_tracer(tracer):
        M.ReLU()(mge.tensor([1.0]))
    assert tracer.names == ["relu"]


def test_hard_activation_modules() -> None:
    x = mge.tensor(np.linspace(-5, 8, 27, dtype=np.float32))
    r = np.clip(x.numpy() + 3, 0, 6) / 6
    np.testing.assert_allclose(M.ReLU6()(x).numpy(), np.clip(x.numpy(), 0, 6))
    np.testing.assert_allclose(M.Hardsigmoid()(x).numpy(), r, atol=1e-6)
    np.testing.assert_allclose(M.Hardswish()(x).numpy(), x.numpy() * r, atol=1e-6)


def test_modules_with_parent() -> None:
    inner = M.Sequential(M.ReLU())
    net = M.Sequential(M.Linear(2, 2), inner)
    assert list(net.named_modules(with_parent=True)) == [
        ("", net, None), ("0", net[0], net), ("1", inner, net), ("1.0", inner[0], inner)]
    assert list(net.modules(with_parent=True))[1:] == [
        (net[0], net), (inner, net), (inner[0], inner)]
