"""The encoding job: corpus -> SPLADE -> quantized JsonVectorCollection with its manifest."""

from __future__ import annotations

import itertools
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from .collection import CollectionWriter
from .errors import InputError
from .readers import Document, count_documents, read_corpus

# How many documents are sorted by length together; larger means less padding but more memory in flight.
SORT_WINDOW_BATCHES = 16


@dataclass
class EncodeSettings:
    """Everything that determines the encoded output; recorded in the manifest."""
    model: str = "splade-tiny"
    scale: float = 100
    max_length: int = 256
    pooling: str = "max"
    fields: list = field(default_factory=list)  # empty: the reader's default (title + text, or contents)
    batch_size: int = 32
    docs_per_file: int = 100_000
    device: str | None = None
    dtype: str = "float32"  # float16/bfloat16 autocast is for GPUs; it changes some quantized weights


def software_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    versions = {"python": platform.python_version()}
    for package in ("splade-anserini", "torch", "transformers", "pyserini"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


def shard_range(total: int, shard_id: int, num_shards: int) -> tuple[int, int]:
    """Documents [start, stop) of shard ``shard_id``: contiguous, deterministic, sizes differing by at most one."""
    if not 0 <= shard_id < num_shards:
        raise InputError(f"shard id {shard_id} is outside 0..{num_shards - 1}")
    return total * shard_id // num_shards, total * (shard_id + 1) // num_shards


def shard_directory(output: str | Path, shard_id: int, num_shards: int) -> Path:
    return Path(output) / f"shard-{shard_id:05d}-of-{num_shards:05d}"


def _progress_total(source: str) -> int | None:
    try:
        return count_documents(source)
    except Exception:  # only a progress-bar estimate; the reader reports real problems
        return None


def _windows(docs: Iterator[Document], size: int) -> Iterator[list]:
    window = []
    seen = set()
    for doc in docs:
        if doc.id in seen:
            raise InputError(f"{doc.where}: duplicate document id {doc.id!r}")
        seen.add(doc.id)
        window.append(doc)
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window


def encode_corpus(corpus: str | Path, output: str | Path, settings: EncodeSettings | None = None, *,
                  overwrite: bool = False, progress: bool = True, model=None, shard_id: int = 0,
                  num_shards: int = 1) -> dict:
    """Encode ``corpus`` into a JsonVectorCollection at ``output``; returns the manifest.

    With ``num_shards`` > 1 only shard ``shard_id`` (a contiguous range of documents) is encoded, into
    ``output/shard-<id>-of-<n>/``; separate processes or machines can each take one, and ``index`` takes the
    directory holding them all. ``model`` may be an already loaded :class:`~splade_anserini.splade.Splade`.
    """
    from .splade import Splade

    settings = settings or EncodeSettings()
    corpus = str(corpus)
    shard = None
    if num_shards > 1:
        total = count_documents(corpus)
        start, stop = shard_range(total, shard_id, num_shards)
        shard = {"shard_id": shard_id, "num_shards": num_shards, "first_document": start, "corpus_documents": total}
        output = shard_directory(output, shard_id, num_shards)
        docs = read_corpus(corpus, settings.fields or None, start, stop)
        expected = stop - start
    else:
        docs = read_corpus(corpus, settings.fields or None)
        expected = None
    # Read the first document before loading the model, so a wrong path or format fails at once.
    first = next(docs, None)
    docs = itertools.chain([first] if first else [], docs)
    if model is None:
        model = Splade(settings.model, max_length=settings.max_length, pooling=settings.pooling,
                       device=settings.device, dtype=settings.dtype)
    writer = CollectionWriter(output, docs_per_file=settings.docs_per_file, overwrite=overwrite)
    started = time.time()
    bar = tqdm(total=expected if shard else _progress_total(corpus), unit="doc", desc="encode", disable=not progress,
               dynamic_ncols=True, file=sys.stderr)
    try:
        for window in _windows(docs, settings.batch_size * SORT_WINDOW_BATCHES):
            vectors = model.encode_sorted([d.text for d in window], settings.scale, settings.batch_size)
            for doc, vector in zip(window, vectors):
                writer.write(doc.id, doc.text, vector)
            bar.update(len(window))
        bar.close()
        manifest = {
            "format": "JsonVectorCollection",
            "corpus": corpus,
            "model": settings.model,
            "model_path": str(model.path),
            "settings": asdict(settings),
            "scale": settings.scale,
            "max_length": settings.max_length,
            "pooling": settings.pooling,
            "fields": settings.fields or "default (title + text, or contents)",
            "vocab_size": model.vocab_size,
            "shard": shard,
            "seconds": round(time.time() - started, 2),
            "software": software_versions(),
        }
        return writer.commit(manifest)
    except BaseException:
        bar.close()
        writer.abort()
        raise

