"""Print the raw FBS_V2 structure of a ``.mge`` file (standard library only).

``load_graph`` shows the graph MegEngine rebuilds; this shows what the file
itself stores: per operator the registry type name (e.g. ``MatrixMulV2``), its
``type_id``, ``opr_version``, the ``OperatorParam`` union tags, input/output
middle-tensor ids, and the embedded tensors' names/shapes/dtypes.  It needs no
MegEngine, so tests can compare files we write against the golden ones.

Usage: ``python fbs_peek.py FILE.mge [--json]`` (test-case containers are accepted;
their model blob and every test-case blob are shown).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from typing import Any

DTYPES = (
    "Float32 Uint8 Int8 Int16 Int32 IntB1 IntB2 IntB4 Byte Float16 UintB4 Quantized8Asymm "
    "QuantizedS32 QuantizedS8 Quantized4Asymm QuantizedS4 QuantizedS16 BFloat16 Bool Uint16 "
    "QuantizedS1 Complex64"
).split()


class Table:
    """A flatbuffer table at absolute offset ``pos`` of ``buf``."""

    def __init__(self, buf: bytes, pos: int):
        self.buf = buf
        self.pos = pos
        vt = pos - struct.unpack_from("<i", buf, pos)[0]
        vt_size = struct.unpack_from("<H", buf, vt)[0]
        self.slots = [
            struct.unpack_from("<H", buf, vt + 4 + 2 * i)[0] for i in range((vt_size - 4) // 2)
        ]

    def _field(self, slot: int) -> int | None:
        if slot >= len(self.slots) or self.slots[slot] == 0:
            return None
        return self.pos + self.slots[slot]

    def scalar(self, slot: int, fmt: str, default: Any = 0) -> Any:
        """Read a scalar field (``struct`` format ``fmt``)."""
        at = self._field(slot)
        return default if at is None else struct.unpack_from("<" + fmt, self.buf, at)[0]

    def _target(self, slot: int) -> int | None:
        at = self._field(slot)
        return None if at is None else at + struct.unpack_from("<I", self.buf, at)[0]

    def raw(self, slot: int) -> bytes | None:
        """Read a string or ``[ubyte]`` field as bytes."""
        at = self._target(slot)
        if at is None:
            return None
        (n,) = struct.unpack_from("<I", self.buf, at)
        return self.buf[at + 4 : at + 4 + n]

    def string(self, slot: int) -> str | None:
        """Read a string field."""
        data = self.raw(slot)
        return None if data is None else data.decode("utf-8", "replace")

    def table(self, slot: int) -> Table | None:
        """Read a sub-table field."""
        at = self._target(slot)
        return None if at is None else Table(self.buf, at)

    def vector(self, slot: int, fmt: str | None) -> list[Any]:
        """Read a vector of scalars (``fmt``) or of tables (``fmt=None``)."""
        at = self._target(slot)
        if at is None:
            return []
        (n,) = struct.unpack_from("<I", self.buf, at)
        if fmt is None:
            out = []
            for i in range(n):
                elem = at + 4 + 4 * i
                out.append(Table(self.buf, elem + struct.unpack_from("<I", self.buf, elem)[0]))
            return out
        size = struct.calcsize("<" + fmt)
        return [struct.unpack_from("<" + fmt, self.buf, at + 4 + size * i)[0] for i in range(n)]

    def blob_size(self, slot: int) -> int:
        """Length of a ``[ubyte]`` field without copying it."""
        at = self._target(slot)
        return 0 if at is None else struct.unpack_from("<I", self.buf, at)[0]


def dtype_name(t: Table | None) -> str | None:
    """Render a ``DType`` table."""
    if t is None:
        return None
    code = t.scalar(0, "b")
    return DTYPES[code] if 0 <= code < len(DTYPES) else f"dtype#{code}"


def tensor_info(t: Table, with_data: bool) -> dict[str, Any]:
    """Render a ``Tensor`` / ``MiddleTensor`` table."""
    info = {"name": t.string(0), "shape": t.vector(1, "I"), "dtype": dtype_name(t.table(3))}
    cn = t.table(2)
    if cn is not None:
        info["comp_node"] = cn.string(0)
    if with_data:
        info["nbytes"] = t.blob_size(6)
    return info


def read_model(blob: bytes) -> dict[str, Any]:
    """Decode one size-prefixed FBS_V2 ``Model``."""
    (size,) = struct.unpack_from("<I", blob, 0)
    buf = blob[4 : 4 + size]
    ident = buf[4:8]
    if ident != b"mgv2":
        raise ValueError(f"not an FBS_V2 model (identifier {ident!r})")
    model = Table(buf, struct.unpack_from("<I", buf, 0)[0])
    oprs = []
    for op in model.vector(2, None):
        oprs.append(
            {
                "type": op.string(0),
                "type_id": f"{op.scalar(1, 'Q'):016x}",
                "name": op.string(2),
                "param_tag": op.scalar(3, "B"),
                "additional_param_tags": op.vector(5, "B"),
                "inputs": op.vector(7, "I"),
                "outputs": op.vector(8, "I"),
                "comp_node": [c.string(0) for c in op.vector(9, None)],
                "output_dtype": dtype_name(op.table(10)),
                "tensors": [tensor_info(t, True) for t in op.vector(11, None)],
                "opr_version": op.scalar(12, "I"),
                "priority": op.scalar(13, "i"),
            }
        )
    meta = model.table(7)
    metadata = None
    if meta is not None:
        info = meta.raw(3)
        metadata = {
            "is_valid": bool(meta.scalar(0, "B")),
            "graph_modified": bool(meta.scalar(1, "B")),
            "optimize_options": meta.scalar(2, "Q"),
            "user_info_hex": None if info is None else info.hex(),
        }
    return {
        "size": 4 + size,
        "mge_version": model.scalar(0, "I"),
        "model_version": model.scalar(1, "I"),
        "oprs": oprs,
        "middle_tensors": [tensor_info(t, False) for t in model.vector(3, None)],
        "output_vars_idx": [
            {"compact_id": o.scalar(0, "I"), "original_id": o.scalar(1, "I")}
            for o in model.vector(4, None)
        ],
        "output_alias": [
            {"id": a.scalar(0, "I"), "name": a.string(1)} for a in model.vector(5, None)
        ],
        "nr_shared_tensor": model.scalar(6, "I"),
        "metadata": metadata,
    }


def peek(data: bytes) -> dict[str, Any]:
    """Decode a plain FBS_V2 file or an ``mgbtest0`` container."""
    if not data.startswith(b"mgbtest0"):
        model = read_model(data)
        if model["size"] != len(data):
            raise ValueError(f"{len(data) - model['size']} trailing bytes after the model")
        return {"container": "plain", "model": model}
    (count,) = struct.unpack_from("<I", data, 8)
    blobs = []
    offset = 12
    while offset < len(data):
        model = read_model(data[offset:])
        blobs.append(model)
        offset += model["size"]
    return {"container": "mgbtest0", "count": count, "model": blobs[0], "testcases": blobs[1:]}


def render(model: dict[str, Any]) -> str:
    """One line per operator, e.g. ``#3 MatrixMulV2 v0 param=20 [0, 1] -> [2]``."""
    mids = model["middle_tensors"]

    def var(i: int) -> str:
        return mids[i]["name"] if i < len(mids) and mids[i]["name"] else f"%{i}"

    lines = [
        f"model_version={model['model_version']} mge_version={model['mge_version']} "
        f"oprs={len(model['oprs'])} middle_tensors={len(mids)} "
        f"nr_shared_tensor={model['nr_shared_tensor']} metadata={model['metadata']}"
    ]
    for i, op in enumerate(model["oprs"]):
        consts = ", ".join(f"{t['name']}:{t['dtype']}{t['shape']}" for t in op["tensors"])
        extra = (
            f" extra_params={op['additional_param_tags']}" if op["additional_param_tags"] else ""
        )
        lines.append(
            f"#{i} {op['type']} v{op['opr_version']} param={op['param_tag']}{extra} "
            f"({', '.join(var(j) for j in op['inputs'])}) -> "
            f"({', '.join(var(j) for j in op['outputs'])})"
            + (f" consts[{consts}]" if consts else "")
        )
    outs = [var(o["compact_id"]) for o in model["output_vars_idx"]]
    lines.append(f"outputs: {outs}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--json", action="store_true", help="print the decoded structure as JSON")
    args = parser.parse_args(argv)
    with open(args.file, "rb") as f:
        info = peek(f.read())
    if args.json:
        json.dump(info, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print(render(info["model"]))
    for i, case in enumerate(info.get("testcases", [])):
        print(f"--- testcase {i}")
        print(render(case))
    return 0


if __name__ == "__main__":
    sys.exit(main())
