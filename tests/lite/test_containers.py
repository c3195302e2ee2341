"""Lite's model containers: RC4/AES ciphers, packed models (info, fast-run cache), bare
encrypted models, the decryption registry; files checked against real MegEngine Lite."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mge.lite import (
    LiteConfig,
    LiteError,
    LiteExtraConfig,
    LiteGlobal,
    LiteNetwork,
    LiteValueError,
    decryption_func,
    pack_model,
)
from mge.lite.decryption import aes_decrypt, aes_encrypt, decrypt
from mge.lite.packed_model import unpack_model
from mge.lite.persistent_cache import PERSISTENT_CACHE, PersistentCache
from mge.lite.rc4 import (
    rc4_decrypt,
    rc4_encrypt,
    simple_fast_rc4_decrypt,
    simple_fast_rc4_encrypt,
)
from tests.oracle import oracle_python, requires_oracle

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lite"
SOURCE = FIXTURES.parent / "megengine" / "convnet_fuse_cbn.mge"
REFERENCE = np.load(FIXTURES / "reference.npz")


def _run(model: Path | bytes, cryption: str = "", network: LiteNetwork | None = None
         ) -> np.ndarray:
    config = LiteConfig()
    config.bare_model_cryption_name = cryption
    network = network or LiteNetwork(config)
    network.load(model if isinstance(model, bytes) else str(model))
    network.get_io_tensor("data").set_data_by_copy(REFERENCE["input"])
    network.forward()
    network.wait()
    return network.get_io_tensor(network.get_output_name(0)).to_numpy()


@pytest.mark.parametrize("name, cryption", [("convnet_rc4.lite", ""),
                                            ("convnet_sfrc4.lite", ""),
                                            ("convnet_aes.mge", "AES_default")])
def test_files_real_lite_ran_give_its_outputs(name: str, cryption: str) -> None:
    np.testing.assert_allclose(_run(FIXTURES / name, cryption), REFERENCE[name],
                               rtol=1e-5, atol=1e-6)


def test_ciphers_decrypt_real_lite_files_to_the_model() -> None:
    model = SOURCE.read_bytes()
    padded = model + bytes(-len(model) % 8)
    packed = unpack_model((FIXTURES / "convnet_rc4.lite").read_bytes(), "")
    assert packed.model == padded and packed.name == "convnet"
    assert unpack_model((FIXTURES / "convnet_sfrc4.lite").read_bytes(), "").model == padded
    assert aes_decrypt((FIXTURES / "convnet_aes.mge").read_bytes()) == model
    # our encryption reproduces the files real Lite read (the RC4 methods are deterministic)
    data = (FIXTURES / "convnet_rc4.lite").read_bytes()
    assert rc4_encrypt(model) in data and simple_fast_rc4_encrypt(model) in \
        (FIXTURES / "convnet_sfrc4.lite").read_bytes()


def test_cipher_round_trips_and_errors() -> None:
    key = bytes(range(50, 66))
    for size in (0, 1, 7, 8, 9, 100):
        data = bytes(range(size))
        assert rc4_decrypt(rc4_encrypt(data, key), key)[:size] == data
        assert simple_fast_rc4_decrypt(simple_fast_rc4_encrypt(data, key), key)[:size] == data
        assert aes_decrypt(aes_encrypt(data)) == data
    damaged = bytearray(simple_fast_rc4_encrypt(b"12345678"))
    damaged[0] ^= 1
    with pytest.raises(ValueError, match="checksum does not match"):
        simple_fast_rc4_decrypt(bytes(damaged))
    with pytest.raises(LiteValueError, match="SIMPLE_FAST_RC4_default failed: .*checksum"):
        decrypt("SIMPLE_FAST_RC4_default", bytes(damaged))
    with pytest.raises(ValueError, match="at least 16 bytes"):
        rc4_encrypt(b"x", b"short")
    with pytest.raises(LiteValueError, match="whole 16-byte blocks"):
        aes_decrypt(b"\0" * 30)
    with pytest.raises(LiteValueError, match="not registered .*known: AES_default"):
        decrypt("NO_SUCH", b"")


def test_packed_model_info_configures_the_network() -> None:
    network = LiteNetwork()
    _run(FIXTURES / "convnet_rc4.lite", network=network)
    assert json.loads(network.extra_info) == {"made_by": "tests/fixtures/lite/make_fixtures.py"}
    assert [o.name for o in network.network_io.outputs] == ["logits"]
    # the info does not apply when disabled; the model still runs
    network = LiteNetwork()
    network.extra_configure(LiteExtraConfig(True))
    np.testing.assert_allclose(_run(FIXTURES / "convnet_rc4.lite", network=network),
                               REFERENCE["convnet_rc4.lite"], rtol=1e-5, atol=1e-6)
    assert network.extra_info == "" and network.network_io.outputs == []
    with pytest.raises(LiteError, match="already loaded"):
        network.extra_configure(LiteExtraConfig())


def test_packed_model_errors(tmp_path: Path) -> None:
    model = SOURCE.read_bytes()
    bad_name = pack_model(model, "other", {"valid": True, "name": "convnet",
                                           "version": "1.13.0"})
    with pytest.raises(LiteValueError, match="model name is not match"):
        LiteNetwork().load(bad_name)
    with pytest.raises(LiteValueError, match="The decryption method NOPE is not registered"):
        LiteNetwork().load(pack_model(model, model_cryption="NOPE"))
    with pytest.raises(LiteValueError, match="not a valid Lite packed model"):
        LiteNetwork().load((FIXTURES / "convnet_rc4.lite").read_bytes()[:200])
    with pytest.raises(LiteValueError, match="after decryption with AES_default"):
        config = LiteConfig()
        config.bare_model_cryption_name = "AES_default"
        LiteNetwork(config).load(aes_encrypt(b"not a model" * 4))


def test_fast_run_cache_round_trips(tmp_path: Path) -> None:
    packed = unpack_model((FIXTURES / "convnet_cache.lite").read_bytes(), "")
    assert packed.cache is not None and len(packed.cache) == 7  # as real Lite recorded it
    again = PersistentCache.from_bytes(packed.cache.to_bytes())
    assert again.categories == packed.cache.categories
    with pytest.raises(LiteValueError, match="persistent cache truncated"):
        PersistentCache.from_bytes(packed.cache.to_bytes()[:-3], "cache.bin")
    saved = PERSISTENT_CACHE.categories
    try:
        LiteGlobal.set_persistent_cache(str(tmp_path / "none.bin"))  # absent: starts empty
        assert len(PERSISTENT_CACHE) == 0
        _run(FIXTURES / "convnet_cache.lite")
        assert PERSISTENT_CACHE.categories == packed.cache.categories
        LiteGlobal.dump_persistent_cache(str(tmp_path / "algo.bin"))
        assert (tmp_path / "algo.bin").read_bytes() == packed.cache.to_bytes()
        LiteGlobal.set_persistent_cache(str(tmp_path / "algo.bin"))
        assert PERSISTENT_CACHE.categories == packed.cache.categories
    finally:
        PERSISTENT_CACHE.categories = saved


def test_user_registered_decryption() -> None:
    @decryption_func
    def xor(in_arr: np.ndarray, key_arr: np.ndarray, out_arr: np.ndarray | None) -> int:
        if not out_arr:  # megenginelite's idiom for the size query
            return in_arr.size
        out_arr[:] = in_arr ^ key_arr[0]
        return out_arr.size

    model = SOURCE.read_bytes()
    LiteGlobal.register_decryption_and_key("xor_for_test", xor, [0x5A])
    with pytest.raises(LiteError, match="already registered"):
        LiteGlobal.register_decryption_and_key("xor_for_test", xor, [1])
    secret = (np.frombuffer(model, np.uint8) ^ 0x5A).tobytes()
    config = LiteConfig()
    config.bare_model_cryption_name = b"xor_for_test"
    network = LiteNetwork(config)
    network.load(secret)
    LiteGlobal.update_decryption_key("xor_for_test", [0x33])
    with pytest.raises(LiteValueError):
        LiteNetwork(config).load(secret)  # decrypted with the new key: not a model
    packed = pack_model((np.frombuffer(model, np.uint8) ^ 0x33).tobytes(),
                        model_cryption="xor_for_test")
    np.testing.assert_allclose(_run(packed), REFERENCE["convnet_rc4.lite"], rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(LiteError, match="not registered"):
        LiteGlobal.update_decryption_key("no_such_method", [1])


@requires_oracle
def test_real_lite_runs_what_pack_model_writes(tmp_path: Path) -> None:
    """A model packed now (RC4 model and info, user IO) loads in real MegEngine Lite and
    gives mge's answer."""
    info = {"name": "net", "valid": True, "version": "1.13.0",
            "IO": {"inputs": [{"name": "data", "shape": {"dim0": 1, "dim1": 3, "dim2": 16,
                                                         "dim3": 16}}]}}
    text = json.dumps(info).encode()
    text += b" " * (len(text) % 8 == 0)  # real Lite's JSON parser stops at padding NULs
    path = tmp_path / "net.lite"
    path.write_bytes(pack_model(rc4_encrypt(SOURCE.read_bytes()), "net", rc4_encrypt(text),
                                "RC4_default", "RC4_default"))
    np.save(tmp_path / "x.npy", REFERENCE["input"])
    script = ("import sys, numpy as np\nfrom megenginelite import LiteNetwork\n"
              "n = LiteNetwork(); n.load(sys.argv[1])\n"
              "n.get_io_tensor('data').set_data_by_copy(np.load(sys.argv[2]))\n"
              "n.forward(); n.wait()\n"
              "np.save(sys.argv[3], n.get_io_tensor(n.get_output_name(0)).to_numpy())\n")
    env = dict(os.environ, MEGENGINE_INTERP_ASYNC_LEVEL="0")
    subprocess.run([oracle_python(), "-c", script, str(path), str(tmp_path / "x.npy"),
                    str(tmp_path / "out.npy")], check=True, env=env, timeout=300,
                   capture_output=True)
    np.testing.assert_allclose(_run(path), np.load(tmp_path / "out.npy"), rtol=1e-5,
                               atol=1e-6)
