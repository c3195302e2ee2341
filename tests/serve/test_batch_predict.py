"""``batch-predict``'s bookkeeping without a Ray cluster: what is left to do after a partial
run (image folders and parquet inputs), atomic parts, and the Predictor on real images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.examples.shared_data import IMAGES, reference_top5, requires_shared

from .conftest import MODEL

pytest.importorskip("ray", reason="the ray extra (pip install 'mge[ray]') is not installed")
pa = pytest.importorskip("pyarrow", reason="pyarrow (ray[data]) is not installed")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (ray[data]) is not installed")

from mge.serve import RepositoryError, ServeDefaults, discover  # noqa: E402
from mge.serve.batch_predict import Predictor, done_ids, plan_work, write_part  # noqa: E402


def test_a_partial_output_leaves_only_the_missing_images(tmp_path: Path) -> None:
    photos, output = tmp_path / "photos", tmp_path / "out.parquet"
    (photos / "sub").mkdir(parents=True)
    for name in ("a.png", "b.jpg", "sub/c.bmp"):
        (photos / name).write_bytes(b"")
    (photos / "notes.txt").write_text("not an image")
    work = plan_work(photos, output, "input")
    assert work.total == 3 and [r["id"] for r in work.rows] == ["a.png", "b.jpg", "sub/c.bmp"]
    part = write_part(output, {"id": np.array(["sub/c.bmp", "a.png"]),
                               "probs": np.ones((2, 3), np.float32)})
    assert part.parent == output and not list(output.glob(".*.tmp"))
    assert done_ids(output) == {"a.png", "sub/c.bmp"}
    work = plan_work(photos, output, "input")
    assert (work.total, work.pending, work.rows[0]["id"]) == (3, 1, "b.jpg")
    table = pq.read_table(output)
    assert table.column("probs").to_pylist() == [[1.0, 1.0, 1.0]] * 2


def test_parquet_inputs_get_ids_and_are_checked(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"image": [b"x", b"y", b"z"]}), source)
    work = plan_work(source, tmp_path / "out", "input")
    assert work.rows.column("id").to_pylist() == ["in.parquet#0", "in.parquet#1",
                                                  "in.parquet#2"]
    write_part(tmp_path / "out", {"id": np.array(["in.parquet#1"])})
    assert plan_work(source, tmp_path / "out", "input").pending == 2
    pq.write_table(pa.table({"pixels": [1, 2]}), source)
    with pytest.raises(RepositoryError, match=r"needs an 'image' column .* \['pixels'\]"):
        plan_work(source, tmp_path / "out", "input")
    pq.write_table(pa.table({"id": ["a", "a"], "image": [b"x", b"y"]}), source)
    with pytest.raises(RepositoryError, match="duplicates"):
        plan_work(source, tmp_path / "out", "input")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RepositoryError, match="no images"):
        plan_work(tmp_path / "empty", tmp_path / "elsewhere", "input")
    with pytest.raises(RepositoryError, match="no such folder"):
        plan_work(tmp_path / "missing", tmp_path / "elsewhere", "input")


@requires_shared
def test_predictor_on_image_paths_bytes_and_tensors(model_repository: Path) -> None:
    spec = discover(model_repository, ServeDefaults(max_batch_size=2))[0]
    assert spec.name == MODEL
    predictor = Predictor(spec, top_k=5)
    cat = IMAGES / "cat.bmp"
    by_path = predictor({"id": np.array(["p1", "p2", "p3"]),
                         "path": np.array([str(cat)] * 3)})
    assert by_path["probs"].shape == (3, 1001) and by_path["top_k"].shape == (3, 5)
    assert by_path["top_k"][2].tolist() == reference_top5("mobilenet_v2_1.0_224_dq", "cat")
    by_bytes = predictor({"id": np.array(["b"]), "image": np.array([cat.read_bytes()],
                                                                   dtype=object)})
    np.testing.assert_allclose(by_bytes["probs"][0], by_path["probs"][0], rtol=1e-5, atol=1e-6)
    tensor = np.zeros((1, 3 * 224 * 224), np.float32)
    by_tensor = predictor({"id": np.array(["t"]), "input": tensor})
    assert by_tensor["logits"].shape == (1, 1001)
