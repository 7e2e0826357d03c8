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
from .readers import IRDS_PREFIX, Document, read_corpus, source_files

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


def software_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    versions = {"python": platform.python_version()}
    for package in ("splade-anserini", "torch", "transformers", "pyserini"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


def _count_documents(source: str) -> int | None:
    """Total for the progress bar: non-empty lines of the source files, or the ir_datasets count."""
    try:
        if source.startswith(IRDS_PREFIX):
            import ir_datasets
            return ir_datasets.load(source[len(IRDS_PREFIX):]).docs_count()
        total = 0
        for path in source_files(source):
            if path.name.endswith(".gz"):
                return None
            with open(path, "rb") as handle:
                total += sum(1 for line in handle if line.strip())
        return total
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
                  overwrite: bool = False, progress: bool = True, model=None) -> dict:
    """Encode ``corpus`` into a JsonVectorCollection at ``output``; returns the manifest.

    ``model`` may be an already loaded :class:`~splade_anserini.splade.Splade` with the same settings.
    """
    from .splade import Splade

    settings = settings or EncodeSettings()
    corpus = str(corpus)
    docs = read_corpus(corpus, settings.fields or None)
    # Read the first document before loading the model, so a wrong path or format fails at once.
    docs = itertools.chain([next(docs)], docs)
    if model is None:
        model = Splade(settings.model, max_length=settings.max_length, pooling=settings.pooling,
                       device=settings.device)
    writer = CollectionWriter(output, docs_per_file=settings.docs_per_file, overwrite=overwrite)
    started = time.time()
    bar = tqdm(total=_count_documents(corpus), unit="doc", desc="encode", disable=not progress,
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
            "seconds": round(time.time() - started, 2),
            "software": software_versions(),
        }
        return dict(manifest, **_commit(writer, manifest))
    except BaseException:
        bar.close()
        writer.abort()
        raise


def _commit(writer: CollectionWriter, manifest: dict) -> dict:
    writer.commit(manifest)
    return {"documents": writer.documents, "postings": writer.postings, "files": writer.files}
