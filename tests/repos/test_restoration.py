"""MegEngine's restoration, video and registration repositories (``restoration.py``),
built from their own unmodified code under mge's ``megengine`` alias and in real MegEngine
1.13 with the same weights: eager outputs agree, MegEngine's dump runs in ``mge.lite`` and
mge's dump runs in ``mge.lite`` and in real MegEngine Lite, each with the dumping side's
eager outputs. Errors are |difference| / the output's largest magnitude.

Without the oracle, mge's outputs are checked against the oracle's stored in
``fixtures/restoration`` (the inputs and weights are seeded, so both sides make the same).
Needs the repositories' mirrors (``$MGE_REPOS_MIRROR``); skips without them.

Known: MegEngine 1.13 dumps ``F.clip(x, 0, 1)`` (RIFE's and DMVFN's last op) as zeros, so
its dumps of those are checked in both Lites against each other, not against its eager
outputs. mge.lite takes minutes to load mge's dump of GyroFlow (about 8000 operators:
the rewrite engine's ``arith_reorder`` pass restarts its walk after every rewrite).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.oracle import requires_oracle

GROUP = "restoration"
#: model -> (repository, eager bound, dumped bound, steps left out: see ``compare``)
MODELS = {
    "pmrid": ("MegEngine/PMRID", 1e-4, 1e-4, ()),
    "nbnet": ("MegEngine/NBNet", 1e-4, 1e-4, ()),
    # MegEngine dumps RIFE's F.clip(x, 0, 1) as a clip to 0 (its own Lite outputs zeros
    # for the frame; mge.lite reads the file the same way)
    "rife": ("MegEngine/ECCV2022-RIFE", 1e-4, 1e-4, ("megengine_dump_wrong",)),
    "dmvfn": ("MegEngine/MegEngine-DMVFN", 1e-4, 1e-4, ("megengine_dump_wrong",)),
    "dmvfn_training_forward": ("MegEngine/MegEngine-DMVFN", 1e-4, 1e-4,
                               ("megengine_dump_wrong",)),
    "gyroflow": ("MegEngine/GyroFlow", 1e-4, 1e-4, ()),
    "omnet": ("MegEngine/OMNet", 1e-4, 1e-4, ()),
    "finet": ("MegEngine/FINet", 1e-4, 1e-4, ()),
}


#: models too heavy for the default suite (big weights or graphs): their golden check is slow
HEAVY = {"gyroflow", "omnet", "finet", "dmvfn_training_forward"}


@pytest.mark.parametrize("model", [pytest.param(m, marks=pytest.mark.slow) if m in HEAVY
                                   else m for m in MODELS])
def test_matches_megengine_golden_outputs(model: str, golden: Callable[..., float]) -> None:
    repo, eager, *_ = MODELS[model]
    golden(GROUP, repo, model, eager)


@pytest.mark.slow
@requires_oracle
@pytest.mark.parametrize("model", list(MODELS))
def test_matches_megengine(model: str, compare: Callable[..., dict]) -> None:
    repo, eager, dumped, skip = MODELS[model]
    compare(GROUP, repo, model, eager, dumped, skip)
