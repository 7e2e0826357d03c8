"""The encoding job: corpus -> SPLADE -> quantized JsonVectorCollection with its manifest.

Documents stream through in windows (sorted by length inside, never crossing a part file), part files are written
resumably (:mod:`.formats.collection`), and a document's vector does not depend on its window, batch or shard
(:mod:`.model.batching`), so shards, resumed runs and Ray workers give the bytes of one uninterrupted run.
"""

from __future__ import annotations

import itertools
import logging
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from .errors import InputError
from .formats.artifacts import COLLECTION, check_separate, output_lock, prepare_output
from .formats.collection import CollectionWriter, LineFormatter
from .formats.idset import IdSet
from .formats.readers import Document, count_documents, read_corpus, skip_or_raise
from .model.batching import WINDOW_BATCHES
from .model.prefetch import Background, prefetch
from .progress import bar_disabled
from .settings import DEFAULT_POOLING, EncodeSettings

logger = logging.getLogger(__name__)


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


def document_windows(docs: Iterator[Document], size: int, part_size: int, skip: int = 0,
                     problems: list | None = None) -> Iterator[list]:
    """Windows of documents to sort by length together, never crossing a part-file boundary (so a resumed run
    batches exactly as an uninterrupted one). The first ``skip`` good documents, already written, are only checked.
    A duplicate id or an empty text stops the run, or with a ``problems`` list is recorded there and skipped."""
    window: list = []
    seen = IdSet()  # bounded memory: 8.8M ids take about 110 MB
    good = 0
    for doc in docs:
        problem = None
        if not doc.text.strip():  # a skipped empty document does not take its id
            problem = InputError(f"{doc.where}: " + (f"duplicate document id {doc.id!r}" if doc.id in seen
                                                     else f"empty text (document {doc.id!r})"))
        elif not seen.add(doc.id):
            problem = InputError(f"{doc.where}: duplicate document id {doc.id!r}")
        if problem is not None:
            skip_or_raise(problem, problems, doc.id)
            continue
        good += 1
        if good <= skip:
            continue
        window.append(doc)
        if len(window) == size or good % part_size == 0:
            yield window
            window = []
    if window:
        yield window


def input_fingerprint(corpus: str) -> list:
    """What identifies the input: the files with their sizes and modification times (an ir_datasets id as is)."""
    if corpus.startswith("irds:"):
        return [corpus]
    from .formats.readers import source_files
    return [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in source_files(corpus)]


# Settings that change no document vector (docs/speed.md: "Same document, same vector"), so a resume may change them: the
# query model is only recorded in the manifest, and the batch size only groups documents (vectors do not depend on
# their batch). The device is left out too, as it always was: resuming on another machine is the point of resuming.
RESUMABLE_SETTINGS = ("device", "query_model", "batch_size")


def encoding_identity(corpus: str, settings: EncodeSettings, shard: dict | None = None) -> dict:
    """What an encoding is made from (the pooling resolved: :func:`with_model_pooling`); an interrupted encoding
    resumes only into the same identity."""
    settings = with_model_pooling(settings)
    return {"corpus": corpus, "inputs": input_fingerprint(corpus), "shard": shard,
            "settings": {k: v for k, v in asdict(settings).items() if k not in RESUMABLE_SETTINGS},
            "docs_per_file": settings.docs_per_file}


def build_manifest(corpus: str, settings: EncodeSettings, model_path, vocab_size: int, truncated: int,
                   problems: list | None, shard: dict | None, seconds: float, **extra) -> dict:
    """The collection manifest (the writer adds counts and part files), after reporting skips and truncations."""
    if problems:
        logger.info(f"encode: skipped {len(problems)} bad documents (listed in the manifest under 'skipped'), "
                    f"first: {problems[0]['where']}: {problems[0]['reason']}")
    if truncated:
        logger.info(f"encode: {truncated} documents were longer than {settings.max_length} tokens and were truncated "
                    f"(counted in the manifest)")
    from .model.models import model_identity
    from .model.query_models import query_side
    # the settings once, at the top level (model, query_model, scale, max_length, pooling, fields, batch_size, ...)
    return {"kind": COLLECTION, "format": "JsonVectorCollection", "corpus": corpus, **asdict(settings),
            "model_path": str(model_path), "model_identity": model_identity(model_path),
            **query_side(settings.query_model, model_path), "vocab_size": vocab_size,
            "truncated_documents": truncated, "skipped": {"count": len(problems or []), "documents": problems or []},
            "shard": shard, "seconds": round(seconds, 2), "software": software_versions(), **extra}


def encode_windows(model, settings: EncodeSettings, windows: Iterator[list], sink, on_window=None) -> None:
    """Encode windows of documents and hand each document's line, in order, to ``sink.write_line`` (with its number
    of terms and whether its text was truncated). Three threads share the work: the next window is read and tokenized
    on one while the model encodes this one, and the previous window's lines are formatted and written on another;
    ``on_window(window)`` is called once a window is written."""
    formatter = LineFormatter(model.vocab)

    def tokenized():
        for window in windows:
            yield window, model.token_ids([d.text for d in window], settings.max_length)

    def write(item) -> None:
        window, tokens, batches = item
        lines: list = [None] * len(window)
        for batch, triples in batches:
            for index, (cols, values) in zip(batch, triples.split()):
                lines[index] = (formatter.line(window[index].id, window[index].text, cols, values), len(cols))
        for (line, terms), truncated in zip(lines, tokens.truncated):
            sink.write_line(line, terms, truncated)
        if on_window is not None:
            on_window(window)

    with Background(write) as writer:
        for window, tokens in prefetch(tokenized()):
            writer.put((window, tokens, list(model.encode_triples(tokens, settings.scale, settings.batch_size))))


def with_model_pooling(settings: EncodeSettings) -> EncodeSettings:
    """``settings`` with ``pooling`` None made the model's own: a sentence-transformers model's SpladePooling, the
    default for a bare masked LM (so the manifest records what was done)."""
    if settings.pooling is not None:
        return settings
    from .model.layouts import read_layout
    from .model.models import resolve_model
    return replace(settings, pooling=read_layout(resolve_model(settings.model)).pooling or DEFAULT_POOLING)


def encode_corpus(corpus: str | Path, output: str | Path, settings: EncodeSettings | None = None, *,
                  overwrite: bool = False, progress: bool | None = None, model=None, shard_id: int = 0,
                  num_shards: int = 1) -> dict:
    """Encode ``corpus`` into a JsonVectorCollection at ``output``; returns the manifest.

    With ``num_shards`` > 1 only shard ``shard_id`` (a contiguous range of documents) is encoded, into
    ``output/shard-<id>-of-<n>/``; separate processes or machines can each take one, and ``index`` takes the
    directory holding them all. ``model`` may be an already loaded :class:`~splade_anserini.model.splade.Splade`.
    """
    settings = with_model_pooling((settings or EncodeSettings()).validate())
    problems: list | None = [] if settings.on_error == "skip" else None
    corpus = str(corpus)
    check_separate([corpus], output)
    shard = None
    if num_shards > 1:
        total = count_documents(corpus)
        start, stop = shard_range(total, shard_id, num_shards)
        shard = {"shard_id": shard_id, "num_shards": num_shards, "first_document": start, "corpus_documents": total}
        output = shard_directory(output, shard_id, num_shards)
        docs = read_corpus(corpus, settings.fields or None, start, stop, problems)
        expected = stop - start
    else:
        docs = read_corpus(corpus, settings.fields or None, problems=problems)
        expected = None
    prepare_output(output, overwrite, COLLECTION, [corpus])  # checked again when writing; here it fails fast
    with output_lock(output):  # one writer per output: a second run is refused before it touches anything
        return _encode_locked(corpus, output, settings, docs, expected, shard, problems, overwrite, progress, model)


def _encode_locked(corpus: str, output, settings: EncodeSettings, docs, expected, shard, problems, overwrite: bool,
                   progress: bool, model) -> dict:
    from .model.splade import Splade
    # Read the first document before loading the model, so a wrong path or format fails at once.
    first = next(docs, None)
    docs = itertools.chain([first] if first else [], docs)
    if model is None:
        model = Splade(settings.model, max_length=settings.max_length, pooling=settings.pooling,
                       device=settings.device, dtype=settings.dtype)
    from .model.query_models import query_side, recorded_query_model
    if settings.query_model is None:  # a checkpoint trained against its own query side names it
        settings = replace(settings, query_model=recorded_query_model(model.path))
    query_side(settings.query_model, model.path)  # a query model that cannot be used fails now, not after encoding
    writer = CollectionWriter(output, docs_per_file=settings.docs_per_file, overwrite=overwrite,
                              identity=encoding_identity(corpus, settings, shard), inputs=[corpus])
    skip = writer.resumed_documents
    if skip:
        logger.info(f"encode: resuming {writer.staging} after {skip} documents ({len(writer.files)} finished part "
                    f"files)")
    started = time.time()
    bar = tqdm(total=expected if shard else _progress_total(corpus), initial=skip, unit="doc", desc="encode",
               disable=bar_disabled(progress), dynamic_ncols=True, file=sys.stderr)
    try:
        windows = document_windows(docs, settings.batch_size * WINDOW_BATCHES, settings.docs_per_file, skip, problems)
        encode_windows(model, settings, windows, writer, on_window=lambda window: bar.update(len(window)))
        truncated = writer.truncated
        bar.close()
        if writer.documents == 0:
            raise InputError(f"{corpus}: no usable documents ({len(problems or [])} skipped)")
        if writer.postings == 0:  # an index of it would match nothing, and look like a text index to search
            writer.discard()
            raise InputError(f"every weight of all {writer.documents} documents rounds to 0 at scale "
                             f"{settings.scale:g}, so the collection would have no postings; use a larger --scale "
                             f"(SPLADE weights are mostly 0.1 to 3: scale 100 keeps two decimals)")
        manifest = build_manifest(corpus, settings, model.path, model.vocab_size, truncated, problems, shard,
                                  time.time() - started)
        return writer.commit(manifest)
    except BaseException:
        bar.close()
        writer.abort()
        if writer.files:
            logger.info(f"encode: stopped; {sum(f['documents'] for f in writer.files)} documents in finished part "
                        f"files are kept in {writer.staging}: rerun the same command to resume")
        raise

