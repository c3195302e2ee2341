"""Hand-built ModelFile samples for the codec tests (no MegEngine needed)."""

from __future__ import annotations

import copy

import numpy as np

from mge.serialization.fbs import (
    DType,
    Metadata,
    ModelFile,
    Operator,
    OutputAlias,
    OutputVar,
    Param,
    TensorFormat,
    TensorValue,
    VarInfo,
    default_fields,
    oprs,
)


def const(value: np.ndarray, dtype: DType | None = None, **kw) -> TensorValue:
    """A constant tensor; ``shape`` may be overridden for packed data."""
    dtype = dtype or DType.from_numpy(value.dtype)
    shape = kw.pop("shape", value.shape)
    return TensorValue(shape=shape, dtype=dtype, data=value, **kw)


def h2d(name: str, shape: tuple[int, ...], dtype: str = "Float32") -> Operator:
    params = [Param("Host2DeviceCopy", default_fields("Host2DeviceCopy"))]
    return Operator("Host2DeviceCopy", params=params,
                    tensors=[TensorValue(shape=shape, dtype=DType(dtype), name=name)])  # fmt: skip


class Builder:
    """Appends operators, numbering their outputs as MegEngine does."""

    def __init__(self) -> None:
        self.ops: list[Operator] = []
        self.nvars = 0

    def add(self, op: Operator, nout: int = 1) -> list[int]:
        op.outputs = list(range(self.nvars, self.nvars + nout))
        self.nvars += nout
        self.ops.append(op)
        return op.outputs

    def one(self, op: Operator) -> int:
        return self.add(op)[0]


def small_cnn(rng: np.random.RandomState) -> tuple[ModelFile, dict[str, np.ndarray]]:
    """conv(pad 1) + bias + relu -> avg pool -> reshape -> softmax; also the weights."""
    w = rng.randn(4, 3, 3, 3).astype("float32")
    bias = rng.randn(1, 4, 1, 1).astype("float32")
    b = Builder()
    x = b.one(h2d("data", (1, 3, 8, 8)))
    wv = b.one(Operator("ImmutableTensor", tensors=[const(w)]))
    conv_fields = default_fields("Convolution") | {"pad_h": 1, "pad_w": 1}
    conv = b.one(Operator("Convolution", [x, wv], params=[
        Param("Convolution", conv_fields),
        Param("ExecutionPolicy", default_fields("ExecutionPolicy"))]))  # fmt: skip
    bv = b.one(Operator("ImmutableTensor", tensors=[const(bias)]))
    act = b.one(
        Operator("Elemwise", [conv, bv], params=[Param("Elemwise", {"mode": "FUSE_ADD_RELU"})])
    )
    pool_fields = default_fields("Pooling") | {"mode": "AVERAGE"}
    pool = b.one(Operator("PoolingV1", [act], params=[Param("Pooling", pool_fields)]))
    shape = b.one(Operator("ImmutableTensor", tensors=[const(np.array([1, -1], "int32"))]))
    flat = b.one(
        Operator("ReshapeV1", [pool, shape], params=[Param("OptionalAxisV1", {"axis": 1})])
    )
    prob = b.one(Operator("Softmax", [flat], params=[Param("Softmax", {"axis": 1})]))
    names = ["data", "w", "conv", "b", "act", "pool", "shape", "flat", "prob"]
    model = ModelFile(
        operators=b.ops, outputs=[OutputVar(prob, 100)],
        vars=[VarInfo(name=n) for n in names],
        metadata=Metadata(optimize_options=1 << 6, user_info=b"\x80\x04N."),
    )  # fmt: skip
    return model, {"w": w, "bias": bias}


def with_ids(model: ModelFile) -> ModelFile:
    """``model`` with operator type ids and versions filled in as the writer does."""
    model = copy.deepcopy(model)
    for op in model.operators:
        reg = oprs.for_writing(op.type, model.model_version)
        if op.type_id is None:
            op.type_id, op.version = reg.type_id, reg.version
    if model.nr_shared_tensor is None:
        model.nr_shared_tensor = sum(
            len(op.tensors) for op in model.operators if "Holder" in op.type or "Shared" in op.type
        )
    return model


def exotic() -> ModelFile:
    """Everything the format allows that real dumps rarely show."""
    b = Builder()
    x = b.one(h2d("x", (2, 3)))
    q8 = DType("QuantizedS8", scale=0.05)
    tensors = [
        const(np.array([[1, -2, 3]], "int8"), q8, comp_node="cpu0:0"),
        const(np.array([7, 200], "uint8"), DType("Quantized8Asymm", 0.1, 128)),
        const(np.array([0x12, 0x34], "uint8"), DType("QuantizedS4", 0.5), shape=(4,)),
        const(np.array([True, False]), name="flags"),
        const(np.array([0x3F80], "uint16"), DType("BFloat16")),
        const(np.array([1 + 2j], "complex64")),
        const(np.zeros((0, 3), "float32")),
        TensorValue(shape=(2, 2), dtype=DType("Float16"), data=None, name="no_value"),
        const(np.arange(8, dtype="uint8"), DType("Float32"), shape=(2,),
              format=TensorFormat("IMAGE2D_PACK4", align_axis=1)),
        const(np.arange(2, dtype="uint8"), DType("IntB4"), shape=(3,),
              format=TensorFormat("LOWBITS_ALIGNED", size_nbits=4, align_size_in_bits=32)),
        const(np.ones(2, "float32"), format=None),
    ]  # fmt: skip
    holder = b.add(Operator("MultipleDeviceTensorHolder", tensors=tensors), len(tensors))
    items = [{"axis": -1, "begin": True, "end": False, "step": True, "idx": False}]
    sub = b.one(Operator("Subtensor", [x, holder[0], holder[1]],
                         params=[Param("IndexDescMaskDump", {"items": items})]))  # fmt: skip
    desc = [{"method": "ADD_1", "axis": 0}, {"method": "REMOVE", "axis": 2}]
    axr = b.one(Operator("AxisAddRemove", [sub], params=[Param("AxisAddRemove", {"desc": desc})]))
    shuffle = Param("Dimshuffle", {"pattern": [1, -1, 0], "ndim": 2})
    dims = b.one(Operator("Dimshuffle", [axr], params=[shuffle]))
    cvt = b.one(Operator("TypeCvtV2", [dims], params=[Param("FullDType", {"dtype": q8})],
                         output_dtype=q8, priority=-5, comp_nodes=["xpux", None]))  # fmt: skip
    scalar = {"dtype": "Float32", "storage": b"\x00\x00\x80\x3f"}
    upd = Param("MGBAddUpdate", {"alpha": scalar, "beta": scalar, "bias": None})
    odd = b.add(Operator("SomeFutureOpr", [cvt, x], params=[
        upd, Param("ExecutionPolicy", {"strategy": "PROFILE|REPRODUCIBLE", "workspace_limit": 5}),
        Param("Empty", {})], type_id=0x1234_5678_9ABC_DEF0, version=7, name="odd\udcff",
        blobs=[b"", b"\x00\x01blob"]), 2)  # fmt: skip
    nvars = b.nvars
    model = ModelFile(
        operators=b.ops,
        outputs=[OutputVar(odd[1], 41), OutputVar(cvt, 42), OutputVar(odd[1], 43)],
        vars=[VarInfo(name=f"v{i}") for i in range(nvars)],
        metadata=Metadata(is_valid=False, graph_modified=True, optimize_options=(4 << 32) | 5,
                          user_info=bytes(range(256))),
        output_aliases=[OutputAlias(42, "converted"), OutputAlias(41, "odd_out")],
        mge_version=101304, nr_shared_tensor=3,
    )  # fmt: skip
    model.vars[1] = VarInfo("weights0", (1, 3), q8, "cpu0:0", TensorFormat())
    return model
