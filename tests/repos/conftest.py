"""Shared pieces of the real-repository tests (``tests/repos``).

Each group module (``restoration.py``, ``backbones.py``...) lists models built from a real
MegEngine repository's unmodified code (see ``driver.py``); its test module uses the
fixtures here:

* ``repo_root("MegEngine/PMRID")``: a work tree of the repository's mirror
  (``$MGE_REPOS_MIRROR/<owner>+<name>/repo``, a git directory, default ``/work/.mirror``),
  extracted once a session (files the mirror lacks, its largest ones, left out); the
  test skips, with the reason, when the mirror is absent (CI has no GitHub).
* ``compare(group, repo, model, eager=1e-4, dumped=1e-4)``: runs the model in mge (under
  the ``megengine`` alias, writing seeded weights) and in real MegEngine 1.13 (the oracle,
  same weights), checks the eager outputs agree, that MegEngine's dump run in ``mge.lite``
  and mge's dump run in ``mge.lite`` and in real MegEngine Lite give the dumping side's
  eager outputs; returns the measured errors (|difference| / the largest |output|).
  MegEngine's dump is run in both Lites and the two compared; MegEngine Lite's outputs
  must also equal MegEngine eager unless ``"megengine_dump_wrong"`` is in ``skip`` (a
  MegEngine bug: its own dump computes something else; the error is still reported).
  Steps named in ``skip`` (``"mge_dump"``, ``"megengine_dump"``) are left out.
* ``golden(group, repo, model, bound)``: runs the model in mge alone and checks it
  against the oracle's outputs stored in ``fixtures/<group>/<model>.npz`` (written by
  ``compare`` when ``$MGE_REPOS_STORE`` is set: the outputs, and each input's sum as a
  check that both sides made the same seeded inputs); skips without the fixture.

Oracle comparisons need ``@requires_oracle`` (``tests.oracle``) and ``@pytest.mark.slow``
on the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.lite.runs import run_lite
from tests.oracle import megengine_lite_outputs, oracle_python

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DRIVER = HERE / "driver.py"
FIXTURES = HERE / "fixtures"
#: where the repositories' git directories are (``<owner>+<name>/repo``)
MIRROR = Path(os.environ.get("MGE_REPOS_MIRROR", "/work/.mirror"))
Outputs = dict[str, np.ndarray]


def mirror_of(repo: str) -> Path:
    """The git directory of ``repo`` (``owner/name``) in the mirror."""
    return MIRROR / repo.replace("/", "+") / "repo"


def absent_files(git_dir: Path) -> list[str]:
    """Files of ``HEAD`` whose contents the mirror lacks (its largest files may be listed
    but absent): left out of the extracted tree."""
    listing = subprocess.run(["git", "-C", str(git_dir), "ls-tree", "-r", "HEAD"],
                             check=True, capture_output=True, text=True).stdout
    entries = [line.split("\t", 1) for line in listing.splitlines()]
    blobs = [(meta.split()[2], path) for meta, path in entries if meta.split()[1] == "blob"]
    checked = subprocess.run(["git", "-C", str(git_dir), "cat-file", "--batch-check"],
                             input="".join(f"{sha}\n" for sha, _ in blobs), check=True,
                             capture_output=True, text=True).stdout.splitlines()
    return [path for (_, path), line in zip(blobs, checked, strict=True)
            if line.endswith("missing")]


@pytest.fixture(scope="session")
def repo_root(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``repo_root("owner/name")``: a work tree of the mirror's ``HEAD`` (``git archive``,
    without :func:`absent_files`), extracted once a session; skips the test when the
    mirror is absent."""
    trees: dict[str, Path] = {}

    def extract(repo: str) -> Path:
        git_dir = mirror_of(repo)
        if not git_dir.is_dir():
            pytest.skip(f"no mirror of {repo} at {git_dir} (set MGE_REPOS_MIRROR)")
        if repo not in trees:
            root = tmp_path_factory.mktemp(repo.replace("/", "+"))
            excluded = [f":(exclude){path}" for path in absent_files(git_dir)]
            archive = subprocess.run(["git", "-C", str(git_dir), "archive", "HEAD", "--",
                                      ".", *excluded], check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
            trees[repo] = root
        return trees[repo]

    return extract


def drive(python: list[str], group: str, model: str, root: Path, weights: str, out: Path,
          dump: Path | None = None, env: dict | None = None) -> Outputs:
    """Run ``driver.py`` with ``python`` and return its ``OUT.npz``."""
    args = [*python, str(DRIVER), group, model, str(root), weights, str(out)]
    done = subprocess.run(args + ([str(dump)] if dump else []), capture_output=True,
                          text=True, timeout=1200, cwd=root,
                          env={**os.environ, "MEGENGINE_INTERP_ASYNC_LEVEL": "0",
                               "OMP_NUM_THREADS": "1", **(env or {})})
    assert done.returncode == 0, f"{' '.join(args[:2])} {model}:\n{done.stderr[-4000:]}"
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def mge_python() -> tuple[list[str], dict[str, str]]:
    """The command running a script in mge under the alias, and its environment."""
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    return [sys.executable, "-m", "mge.compat", "run"], {"PYTHONPATH": path}


def inputs_of(outs: Outputs) -> Outputs:
    return {k[len("in__"):]: v for k, v in outs.items() if k.startswith("in__")}


def outputs_of(outs: Outputs) -> list[np.ndarray]:
    return [outs[k] for k in sorted(outs) if k.startswith("out")]


def relative_errors(got: list[np.ndarray], want: list[np.ndarray], what: str
                    ) -> list[float]:
    """max |got - want| / max |want| for each output (shapes and count must agree)."""
    assert len(got) == len(want), f"{what}: {len(got)} outputs, expected {len(want)}"
    errs = []
    for k, (value, expected) in enumerate(zip(got, want, strict=True)):
        assert value.shape == expected.shape, f"{what} out{k}: {value.shape} vs {expected.shape}"
        assert np.isfinite(expected).all(), f"{what} out{k}: the reference is not finite"
        scale = float(np.abs(expected).max()) or 1.0
        errs.append(float(np.abs(value.astype(np.float64) - expected).max()) / scale)
    return errs


def check(got: list[np.ndarray], want: list[np.ndarray], bound: float, what: str
          ) -> float:
    """Assert every output is within ``bound`` of the scale; return the largest error."""
    errs = relative_errors(got, want, what)
    worst = max(errs, default=0.0)
    print(f"{what}: max {worst:.2e} of the scale ({len(errs)} outputs)")  # -s: the table
    assert worst <= bound, f"{what}: errors {[f'{e:.2e}' for e in errs]} exceed {bound:g}"
    return worst


@pytest.fixture
def compare(repo_root: Callable[[str], Path], tmp_path: Path) -> Callable[..., dict]:
    """See the module docstring."""

    def run(group: str, repo: str, model: str, eager: float = 1e-4, dumped: float = 1e-4,
            skip: tuple[str, ...] = ()) -> dict[str, float]:
        root = repo_root(repo)
        python, env = mge_python()
        weights = tmp_path / "weights.npz"
        ours_dump = None if "mge_dump" in skip else tmp_path / "mge.mge"
        theirs_dump = None if "megengine_dump" in skip else tmp_path / "megengine.mge"
        ours = drive(python, group, model, root, f"{weights}@make", tmp_path / "mge.npz",
                     ours_dump, env)
        theirs = drive([oracle_python()], group, model, root, str(weights),
                       tmp_path / "megengine.npz", theirs_dump)
        if os.environ.get("MGE_REPOS_STORE"):
            (FIXTURES / group).mkdir(parents=True, exist_ok=True)
            np.savez_compressed(
                FIXTURES / group / f"{model}.npz",
                **{k: v for k, v in theirs.items() if k.startswith("out")},
                **{f"sum__{k}": np.float64(v.sum()) for k, v in inputs_of(theirs).items()})
        want, inputs = outputs_of(theirs), inputs_of(theirs)
        found = {"eager": check(outputs_of(ours), want, eager, f"{model} eager vs MegEngine")}
        if theirs_dump is not None:
            # the same file in both runtimes; and MegEngine Lite's outputs against
            # MegEngine eager, unless MegEngine is known to dump this model wrong
            real = megengine_lite_outputs(theirs_dump, inputs, tmp_path)
            found["megengine_dump_in_mge_lite"] = check(
                run_lite(theirs_dump, inputs, "numpy"), real, dumped,
                f"{model} MegEngine's dump in mge.lite vs in MegEngine Lite")
            found["megengine_dump_vs_megengine_eager"] = check(
                real, want, float("inf") if "megengine_dump_wrong" in skip else dumped,
                f"{model} MegEngine's dump in MegEngine Lite vs MegEngine eager")
        if ours_dump is not None:
            found["mge_dump_in_mge_lite"] = check(
                run_lite(ours_dump, inputs, "numpy"), outputs_of(ours), dumped,
                f"{model} mge's dump in mge.lite")
            found["mge_dump_in_megengine_lite"] = check(
                megengine_lite_outputs(ours_dump, inputs, tmp_path), outputs_of(ours), dumped,
                f"{model} mge's dump in MegEngine Lite")
        return found

    return run


@pytest.fixture
def golden(repo_root: Callable[[str], Path], tmp_path: Path) -> Callable[..., float]:
    """See the module docstring."""

    def run(group: str, repo: str, model: str, bound: float = 1e-4) -> float:
        fixture = FIXTURES / group / f"{model}.npz"
        if not fixture.is_file():
            pytest.skip(f"no golden outputs {fixture.relative_to(REPO)}")
        root = repo_root(repo)
        python, env = mge_python()
        ours = drive(python, group, model, root, f"{tmp_path / 'weights.npz'}@make",
                     tmp_path / "mge.npz", None, env)
        with np.load(fixture) as z:
            theirs = {k: z[k] for k in z.files}
        for name, value in inputs_of(ours).items():
            # float32 sums differ in the last bits between numpy versions (summation order)
            total, scale = value.astype(np.float64).sum(), np.abs(value).astype(np.float64).sum()
            assert abs(total - theirs[f"sum__{name}"]) <= 1e-6 * scale, f"input {name} differs"
        return check(outputs_of(ours), outputs_of(theirs), bound, f"{model} vs golden")

    return run
