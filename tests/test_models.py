import hashlib
import subprocess
import sys
import time

import pytest

from splade_anserini.errors import SetupError
from splade_anserini.model.models import ALIASES, MODEL_FILES, resolve_model


def test_alias_resolves_to_verified_model_files():
    path = resolve_model("splade-tiny")
    assert all((path / name).is_file() for name in MODEL_FILES)
    digest = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    assert digest == ALIASES["splade-tiny"].sha256["model.safetensors"]
    assert resolve_model(str(path)) == path  # a local directory is taken as it is


def test_missing_local_path_is_a_clear_error(tmp_path):
    with pytest.raises(SetupError, match="does not exist"):
        resolve_model(str(tmp_path / "no-such-model"))
    with pytest.raises(SetupError, match="has no config.json"):
        resolve_model(str(tmp_path))


def test_hub_id_without_hub_fails_fast_naming_the_alias():
    # A fresh process with HF_HUB_OFFLINE, as on a machine without the hub: must answer at once, not hang.
    code = ("from splade_anserini.model.models import resolve_model\n"
            "try:\n    resolve_model('naver/splade-cocondenser-ensembledistil')\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    started = time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert time.time() - started < 60
    assert "SetupError" in out.stdout
    assert "splade-tiny" in out.stdout and "--model DIR" in out.stdout
