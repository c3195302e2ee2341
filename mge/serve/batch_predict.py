"""``mge batch-predict``: offline inference over many inputs with Ray Data.

Inputs are a folder of images (searched recursively; each row's ``id`` is the path relative to
the folder) or parquet (a file or a folder of files; an ``id`` column, else ``<file>#<row>``;
an ``image`` column of encoded images, or a column named after the model's input holding each
row's values). A pool of Ray actors, each holding one mge.lite network (via
:class:`~mge.serve.model.ServedModel`), runs batches; the driver shows progress and writes the
results as parquet parts into the output folder (``id`` plus one flattened column per model
output, and ``top_k`` class indices with ``--top-k``). Every part is written atomically, so a
run that stops can be started again: rows whose ``id`` is already in the output are skipped.

Example:
    $ mge batch-predict mobilenet_v2.mge --input photos/ --output predictions.parquet
    >>> import pyarrow.parquet as pq
    >>> pq.read_table("predictions.parquet").column_names   # doctest: +SKIP
    ['id', 'probs', 'logits']
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
from tqdm import tqdm

from ..lite import get_model_io_info
from ..utils.atomic_file import atomic_write, remove_stale_temporaries_in
from .image import image_input
from .model import ServedModel
from .repository import ModelSpec, RepositoryError, ServeDefaults, discover

IMAGE_SUFFIXES = {".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"}


class Predictor:
    """A Ray Data actor: one network, called on batches of rows (``path``, ``image`` bytes or
    the model input's values)."""

    def __init__(self, spec: ModelSpec, top_k: int) -> None:
        self.model = ServedModel(spec)
        self.top_k = top_k

    def _inputs(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        spec = self.model.inputs[0]
        if "path" in batch:
            rows = [image_input(Path(p).read_bytes(), self.model.inputs, self.model.spec.image)
                    for p in batch["path"]]
        elif "image" in batch:
            rows = [image_input(bytes(b), self.model.inputs, self.model.spec.image)
                    for b in batch["image"]]
        else:
            shape = spec.shape[1:] if self.model.batching else spec.shape
            rows = [np.asarray(v, spec.dtype).reshape(1, *shape) for v in batch[spec.name]]
        return np.concatenate(rows)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        data = self._inputs(batch)
        step = max(self.model.spec.max_batch_size, 1)
        parts = [self.model.run({self.model.inputs[0].name: data[i:i + step]})[0]
                 for i in range(0, len(data), step)]
        result: dict[str, Any] = {"id": batch["id"]}
        for out in self.model.outputs:
            values = np.concatenate([p[out.name] for p in parts])
            result[out.name] = values.reshape(len(data), -1)
        if self.top_k:
            scores = result[self.model.classifier_output]
            result["top_k"] = np.argsort(-scores, axis=1, kind="stable")[:, :self.top_k]
        return result


@dataclasses.dataclass
class Work:
    """What is left to do: the pending rows (dicts with ``id`` and ``path``, or an Arrow
    table) and how many rows the input has."""

    rows: list[dict[str, str]] | pa.Table
    total: int

    @property
    def pending(self) -> int:
        return len(self.rows) if isinstance(self.rows, list) else self.rows.num_rows

    def dataset(self) -> Any:
        """The pending rows as a Ray dataset."""
        if isinstance(self.rows, list):
            return ray.data.from_items(self.rows)
        return ray.data.from_arrow(self.rows)


def done_ids(output: Path) -> set[str]:
    """The ids already in the output folder's parts."""
    if not output.is_dir():
        return set()
    done: set[str] = set()
    for part in sorted(output.glob("part-*.parquet")):
        done.update(pq.read_table(part, columns=["id"]).column("id").to_pylist())
    return done


def _parquet_table(source: Path, input_name: str) -> pa.Table:
    files = sorted(source.glob("*.parquet")) if source.is_dir() else [source]
    tables = []
    for file in files:
        table = pq.read_table(file)
        if "image" not in table.column_names and input_name not in table.column_names:
            raise RepositoryError(f"{file}: needs an 'image' column (encoded images) or a "
                                  f"column named after the model input {input_name!r}; it has "
                                  f"{table.column_names}")
        if "id" not in table.column_names:
            ids = [f"{file.name}#{i}" for i in range(table.num_rows)]
            table = table.append_column("id", pa.array(ids))
        tables.append(table.select(["id", "image" if "image" in table.column_names
                                    else input_name]))
    return pa.concat_tables(tables)


def plan_work(source: Path, output: Path, input_name: str) -> Work:
    """The rows of ``source`` not yet in ``output``."""
    done = done_ids(output)
    if source.is_dir() and not any(source.glob("*.parquet")):
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise RepositoryError(f"{source}: no images ({sorted(IMAGE_SUFFIXES)}) or parquet "
                                  "files found")
        rows = [{"id": p.relative_to(source).as_posix(), "path": str(p)} for p in files]
        return Work([r for r in rows if r["id"] not in done], len(rows))
    if not source.exists():
        raise RepositoryError(f"{source}: no such folder or parquet file")
    table = _parquet_table(source, input_name)
    ids = table.column("id").to_pylist()
    if len(set(ids)) != len(ids):
        raise RepositoryError(f"{source}: the 'id' column has duplicates")
    return Work(table.filter(pa.array([i not in done for i in ids])), table.num_rows)


def write_part(output: Path, batch: dict[str, np.ndarray]) -> Path:
    """Write one batch of results as a new part, atomically (:mod:`mge.utils.atomic_file`:
    readers of the folder never see a partial part; the hidden temporaries of killed
    writers are removed)."""
    output.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries_in(output)
    columns = {k: pa.array(list(v)) if v.ndim > 1 else pa.array(v) for k, v in batch.items()}
    path = output / f"part-{uuid.uuid4().hex}.parquet"
    with atomic_write(path) as file:
        pq.write_table(pa.table(columns), file)
    return path


def batch_predict(model: str | Path, source: str | Path, output: str | Path,
                  actors: int = 2, batch_size: int = 32, top_k: int = 0,
                  defaults: ServeDefaults | None = None, progress: bool = True,
                  name: str | None = None) -> int:
    """Run the model (``name``, latest version, when ``model`` is a repository of several)
    over every input not yet in ``output``; returns the rows written now. Uses the running
    Ray cluster, or starts a local one."""
    specs = discover(model, defaults or ServeDefaults())
    names = sorted({s.name for s in specs})
    if name is not None and name not in names:
        raise RepositoryError(f"{model}: no model {name!r}; models: {names}")
    if name is None and len(names) > 1:
        raise RepositoryError(f"{model} holds models {names}; choose one with --name")
    spec = max((s for s in specs if name in (None, s.name)), key=lambda s: int(s.version))
    input_name = get_model_io_info(str(spec.path)).inputs[0].name
    work = plan_work(Path(source), Path(output), input_name)
    if progress:
        print(f"batch-predict: {work.total - work.pending} of {work.total} rows already in "
              f"{output}; {work.pending} to do", file=sys.stderr)
    if not work.pending:
        return 0
    if not ray.is_initialized():
        ray.init()
    predictions = work.dataset().map_batches(
        Predictor, fn_constructor_args=(spec, top_k), batch_size=batch_size,
        concurrency=actors, num_cpus=spec.threads, batch_format="numpy")
    written = 0
    with tqdm(total=work.pending, disable=not progress, desc="batch-predict",
              unit="row") as bar:
        for batch in predictions.iter_batches(batch_size=batch_size, batch_format="numpy"):
            write_part(Path(output), batch)
            written += len(batch["id"])
            bar.update(len(batch["id"]))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``mge batch-predict MODEL --input DIR_OR_PARQUET --output OUT.parquet [options]``."""
    parser = argparse.ArgumentParser(
        prog="mge batch-predict", description="Offline inference with Ray Data; resumable "
        "parquet output (rows already written are skipped).")
    parser.add_argument("model", help="a .mge file or a model repository folder")
    parser.add_argument("--name", help="which model of a repository (default: its only one)")
    parser.add_argument("--input", required=True,
                        help="a folder of images, or parquet (a file or a folder of files)")
    parser.add_argument("--output", required=True, help="the output folder of parquet parts")
    parser.add_argument("--actors", type=int, default=2, help="Ray actors (default 2)")
    parser.add_argument("--batch-size", type=int, default=32, help="rows per actor call")
    parser.add_argument("--top-k", type=int, default=0,
                        help="also write the k best class indices of the classifier output")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per actor")
    parser.add_argument("--backend", default="auto", help="mge.lite plan backend")
    parser.add_argument("--ray-address", default=None, help="an existing Ray cluster")
    args = parser.parse_args(argv)
    if args.ray_address:
        ray.init(address=args.ray_address)
    try:
        written = batch_predict(args.model, args.input, args.output, args.actors,
                                args.batch_size, args.top_k,
                                ServeDefaults(threads=args.threads, backend=args.backend),
                                name=args.name)
    except RepositoryError as exc:
        print(f"mge batch-predict: {exc}", file=sys.stderr)
        return 2
    print(f"batch-predict: wrote {written} rows to {args.output}", file=sys.stderr)
    return 0


__all__ = ["Predictor", "batch_predict", "done_ids", "main", "plan_work", "write_part"]
