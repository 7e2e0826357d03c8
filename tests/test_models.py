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


def _layout(directory, modules, files):
    """A sentence-transformers layout written by hand around splade-tiny's files (at the top of ``directory``)."""
    import json
    import shutil
    shutil.copytree(resolve_model("splade-tiny"), directory)
    (directory / "modules.json").write_text(json.dumps(
        [{"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.x.{kind}"}
         for i, (kind, path) in enumerate(modules)]))
    for name, content in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(json.dumps(content))
    return directory


@pytest.mark.parametrize("modules, files, message", [
    ([("MLMTransformer", ""), ("SpladePooling", "1"), ("SparseAutoEncoder", "2")], {},
     "modules MLMTransformer \\+ SpladePooling \\+ SparseAutoEncoder are not a SPLADE encoder"),
    ([("Transformer", ""), ("SpladePooling", "1")], {"sentence_bert_config.json": {}},
     "transformer_task 'feature-extraction'; a SPLADE model needs 'fill-mask'"),
    ([("MLMTransformer", ""), ("SpladePooling", "1")], {"sentence_bert_config.json": {"do_lower_case": True}},
     "lower-cases texts itself"),
    ([("MLMTransformer", ""), ("SpladePooling", "1")], {"1/config.json": {"activation_function": "gelu"}},
     "activation_function 'gelu' is not reproduced here"),
    ([("MLMTransformer", ""), ("SpladePooling", "1")], {"config_sentence_transformers.json":
                                                        {"prompts": {"query": "query: ", "document": ""}}},
     "prepends prompts \\(query\\)"),
    ([("SparseStaticEmbedding", "")], {}, "SparseStaticEmbedding alone encodes no documents"),
], ids=["extra-module", "feature-extraction", "lower-case", "activation", "prompts", "static-alone"])
def test_a_sentence_transformers_layout_this_project_cannot_reproduce_is_refused(tmp_path, modules, files, message):
    from splade_anserini.errors import InputError
    from splade_anserini.model.layouts import read_layout
    directory = _layout(tmp_path / "model", modules, files)
    with pytest.raises(InputError, match=message):
        resolve_model(str(directory))
    (directory / "modules.json").unlink()  # the same files without the layout: a bare masked LM
    assert read_layout(directory).kind == "bare" and read_layout(directory).pooling is None


def test_a_sparse_encoder_layout_gives_its_pooling_and_identity(tmp_path):
    from splade_anserini.model.layouts import read_layout
    from splade_anserini.model.models import model_identity
    bare = resolve_model("splade-tiny")
    directory = _layout(tmp_path / "model", [("MLMTransformer", ""), ("SpladePooling", "1_SpladePooling")],
                        {"1_SpladePooling/config.json": {"pooling_strategy": "sum", "activation_function": "relu"}})
    layout = read_layout(resolve_model(str(directory)))
    assert (layout.kind, layout.pooling, layout.mlm) == ("sparse-encoder", "sum", directory)
    identity = model_identity(directory)
    assert {k: identity[k] for k in ("weights", "tokenizer")} == model_identity(bare) and identity["pooling"]
    (directory / "1_SpladePooling" / "config.json").write_text('{"pooling_strategy": "max"}')
    assert model_identity(directory)["pooling"] != identity["pooling"]  # the pooling decides the vectors too
