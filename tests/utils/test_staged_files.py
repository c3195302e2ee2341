"""``GraphInference`` runs MegEngine dumps whose shapes depend on input values (``nms``,
``cond_take``: read in stages) with real MegEngine Lite's outputs; ``Network`` refuses to
edit the nms ones, saying why and what runs them (cond_take: test_network_dynamic.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from mge.serialization.mge_graph import ValueDependentModel
from mge.utils.comp_graph_tools import GraphInference
from mge.utils.network import Network

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "lite" / "dynamic" / "dynamic.npz"
with np.load(GOLDEN) as _z:
    ARRAYS = {k: _z[k] for k in _z.files}
META = json.loads(str(ARRAYS["__meta__"]))


@pytest.mark.parametrize("net", list(META))
def test_graph_inference_runs_staged_files(net: str, tmp_path: Path) -> None:
    path = tmp_path / "net.mge"
    path.write_bytes(ARRAYS[f"{net}__file"].tobytes())
    for source in (str(path), io.BytesIO(path.read_bytes())):
        g = GraphInference(source)
        for case in META[net]["cases"]:
            feeds = {n: ARRAYS[f"{net}__{case}__in__{n}"] for n in META[net]["inputs"]}
            outs = g.run(inp_dict=feeds)
            assert list(outs) == META[net]["output_names"]
            for k, got in enumerate(outs.values()):
                want = ARRAYS[f"{net}__{case}__out__{k}"]
                assert got.shape == want.shape and got.dtype == want.dtype
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


def test_graph_inference_positional_and_output_choice(tmp_path: Path) -> None:
    data = ARRAYS["cond_take__file"].tobytes()
    x = np.arange(-5, 30, dtype=np.float32).reshape(5, 7)
    values, where = GraphInference(io.BytesIO(data)).run(x).values()
    np.testing.assert_array_equal(values, x[x > 0])
    np.testing.assert_array_equal(where, np.flatnonzero(x > 0).astype(np.int32))
    with pytest.raises(ValueError, match="outputs cannot be chosen.*CondTake"):
        GraphInference(io.BytesIO(data), outputs=["x"])


def test_network_refuses_staged_files_clearly() -> None:
    with pytest.raises(ValueDependentModel, match="Network cannot edit.*Subtensor.*"
                       "GraphInference, mge.lite or load_and_run"):
        Network.load(io.BytesIO(ARRAYS["detect_post__file"].tobytes()))
