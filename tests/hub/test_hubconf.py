"""The repository's own hubconf.py: mge.models' reference models as hub entries."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

import mge
from mge import hub
from mge.hub import HTTPDownloadError
from mge.models import shufflenet_v2_x1_0

from .helpers import FileServer

REPO = Path(__file__).resolve().parents[2]
ENTRIES = ["mobilenet_v2", "resnet18", "resnet50", "shufflenet_v2_x1_0"]


def test_entries_and_docs() -> None:
    assert hub.list(REPO) == ENTRIES
    assert "ResNet-18" in hub.help(str(REPO), "resnet18")
    net = hub.load(str(REPO), "resnet18", num_classes=10, input_size=64)
    net.eval()
    assert net(mge.tensor(np.zeros((1, 3, 64, 64), "float32"))).shape == (1, 10)


def test_default_weights_are_megengines_files() -> None:
    hubconf = hub.import_module(REPO)
    base = "https://data.megengine.org.cn/models/weights/"
    assert hubconf.resnet18.url == base + "resnet18_naiveaug_70312_78a63ca6.pkl"
    assert hubconf.resnet50.url == base + "resnet50_fbaug_76254_4e14b7d1.pkl"
    assert hubconf.shufflenet_v2_x1_0.url == base + "snetv2_x1_0_69369_daf9dba0.pkl"
    assert hubconf.mobilenet_v2.url == base + "mobilenet_v2_relu6.pkl"


def test_pretrained_from_a_mirror(file_server: FileServer,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    reference = shufflenet_v2_x1_0(num_classes=10)
    buf = io.BytesIO()
    mge.save(reference.state_dict(), buf)
    file_server.files["/mirror/snetv2_x1_0_69369_daf9dba0.pkl"] = buf.getvalue()
    monkeypatch.setenv("MGE_WEIGHTS_URL", file_server.url("/mirror/"))
    net = hub.load(str(REPO), "shufflenet_v2_x1_0", pretrained=True, num_classes=10)
    loaded = net.state_dict()
    for key, value in reference.state_dict().items():
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)


def test_offline_pretrained_names_url_and_cache_path(mge_home: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MGE_WEIGHTS_URL", "http://127.0.0.1:1/weights")
    url = "http://127.0.0.1:1/weights/resnet18_naiveaug_70312_78a63ca6.pkl"
    cached = mge_home / "serialized" / (
        hashlib.sha256(url.encode()).hexdigest()[:6] + "_resnet18_naiveaug_70312_78a63ca6.pkl"
    )
    with pytest.raises(HTTPDownloadError) as info:
        hub.load(str(REPO), "resnet18", pretrained=True)
    assert url in str(info.value) and str(cached) in str(info.value)
