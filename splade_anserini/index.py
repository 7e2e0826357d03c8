"""The indexing job: a JsonVectorCollection -> a Lucene impact index, through Anserini's IndexCollection.

Anserini indexes the vector's integers as term frequencies (``-impact -pretokenized``). The index is built in a
staging directory, its document count checked against the collection's manifest, the manifest copied in, and only
then moved into place.

Beside Lucene's files the index keeps ``docids.json``, the external id of every Lucene doc id, so that search never
reads stored fields per hit (see :mod:`search`); it is rebuilt whenever it does not match the index's commit.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from .artifacts import INDEX, prepare_output, replace_directory, write_manifest
from .collection import load_collection
from .errors import InputError, SpladeAnseriniError
from .jvm import java_output, start_jvm


DOCIDS = "docids.json"
LOG = "index.log"


def _segments_file(reader) -> str:
    return reader.getIndexCommit().getSegmentsFileName()


def docid_table(index: str | Path, reader) -> list[str]:
    """External docids by Lucene doc id for an open ``DirectoryReader`` of ``index``: read from ``docids.json``
    when that file belongs to this commit of the index, otherwise built (one JNI call per document) and saved
    there if the directory is writable."""
    path = Path(index) / DOCIDS
    commit, size = _segments_file(reader), reader.maxDoc()
    if path.is_file():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("segments") == commit and len(saved.get("docids", ())) == size:
                return saved["docids"]
        except (ValueError, AttributeError):
            pass  # damaged: rebuild below
    from jnius import autoclass
    from tqdm import tqdm
    lookup = autoclass("io.anserini.index.IndexReaderUtils").convertLuceneDocidToDocid
    docids = [lookup(reader, doc) for doc in tqdm(range(size), desc="docid table", unit="doc",
                                                   disable=size < 200_000, mininterval=1.0)]
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"segments": commit, "docids": docids}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only index (e.g. a shared prebuilt one) still works: the table then lives in memory only
    return docids


def open_reader(index: str | Path):
    """A Lucene DirectoryReader of ``index``; give it back with :func:`close_reader`."""
    start_jvm()
    from jnius import autoclass
    path = autoclass("java.io.File")(str(index)).toPath()
    return autoclass("org.apache.lucene.index.DirectoryReader").open(
        autoclass("org.apache.lucene.store.FSDirectory").open(path))


def close_reader(reader) -> None:
    """Close a reader from :func:`open_reader` and its directory."""
    directory = reader.directory()
    reader.close()
    directory.close()


def index_document_count(index: str | Path) -> int:
    reader = open_reader(index)
    try:
        return reader.numDocs()
    finally:
        close_reader(reader)


def anserini_index(index: str | Path, fill_inputs, *, collection_class: str, extra_args=(), threads: int,
                   manifest: dict, what: str, overwrite: bool = False, kind: str = INDEX, inputs=(),
                   verbose: bool = False) -> dict:
    """Run Anserini's IndexCollection over the files that ``fill_inputs(directory)`` puts into a scratch directory
    (it returns how many documents it put there), into a staging directory that becomes ``index`` only when
    complete: document count checked, docid table and ``manifest`` (plus index facts) written. Returns the manifest.

    Anserini's log goes to ``index.log`` inside the index (``verbose`` shows it instead); when indexing fails it is
    kept beside the index as ``<index>.failed.log`` and the error says so."""
    index = Path(index)
    prepare_output(index, overwrite, kind, inputs)
    start_jvm()
    from jnius import JavaException, autoclass

    index.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{index.name}.partial-", dir=index.parent))
    # Anserini reads every file in its input directory: give it only the documents.
    scratch = Path(tempfile.mkdtemp(prefix=f".{index.name}.inputs-", dir=index.parent))
    log = staging / LOG
    started = time.time()
    try:
        expected = fill_inputs(scratch)
        args = ["-collection", collection_class, "-input", str(scratch), "-index", str(staging),
                "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads), *extra_args]
        try:
            with java_output(None if verbose else log):
                autoclass("io.anserini.index.IndexCollection").main(args)
        except JavaException as err:
            raise SpladeAnseriniError(f"Anserini failed to index {what}: {err}{_kept_log(log, index)}") from None
        reader = open_reader(staging)
        try:
            count = reader.numDocs()
            docid_table(staging, reader)
        finally:
            close_reader(reader)
        if count != expected:
            raise SpladeAnseriniError(f"Index of {what} holds {count} documents but {expected} were given; some "
                                      f"documents were not indexed{_kept_log(log, index)}")
        index_manifest = dict(manifest, kind=kind, index_threads=threads,
                              index_seconds=round(time.time() - started, 2), index_documents=count)
        write_manifest(staging, index_manifest)
        replace_directory(staging, index, kind)
        return index_manifest
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)


def _kept_log(log: Path, index: Path) -> str:
    """Keep a failed indexing's log beside the index; the sentence that says where (empty if there is none)."""
    if not log.is_file():
        return " (see Anserini's log above)"
    kept = index.with_name(index.name + ".failed.log")
    shutil.copyfile(log, kept)
    return f" (Anserini's log: {kept})"


def build_index(collection: str | Path, index: str | Path, *, threads: int | None = None,
                overwrite: bool = False, verbose: bool = False) -> dict:
    """Index ``collection`` (or a directory of its shards) into ``index`` with ``threads`` threads (default: all
    cores; Anserini gives each part file one thread); returns the index manifest (the collection's, plus index
    facts)."""
    collection = Path(collection)
    manifest, files = load_collection(collection)
    if not files:
        raise InputError(f"{collection}: no part-*.jsonl files beside the manifest")

    def link_parts(inputs: Path) -> int:
        for number, path in enumerate(files):
            os.symlink(path.resolve(), inputs / f"{number:06d}-{path.name}")
        return manifest["documents"]

    return anserini_index(index, link_parts, collection_class="JsonVectorCollection",
                          extra_args=("-impact", "-pretokenized"), threads=threads or os.cpu_count() or 1,
                          manifest=dict(manifest, collection=str(collection.resolve())), what=str(collection),
                          overwrite=overwrite, inputs=[collection], verbose=verbose)
