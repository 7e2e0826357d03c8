"""The indexing job: a JsonVectorCollection -> a Lucene impact index, through Anserini's IndexCollection.

Anserini indexes the vector's integers as term frequencies (``-impact -pretokenized``). The index is built in a
staging directory, its document count checked against the collection's manifest, the manifest copied in, and only
then moved into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from .collection import load_collection, prepare_output, replace_directory, write_manifest
from .errors import InputError, SpladeAnseriniError
from .jvm import start_jvm


def index_document_count(index: str | Path) -> int:
    start_jvm()
    from jnius import autoclass
    path = autoclass("java.io.File")(str(index)).toPath()
    directory = autoclass("org.apache.lucene.store.FSDirectory").open(path)
    reader = autoclass("org.apache.lucene.index.DirectoryReader").open(directory)
    try:
        return reader.numDocs()
    finally:
        reader.close()
        directory.close()


def build_index(collection: str | Path, index: str | Path, *, threads: int | None = None,
                overwrite: bool = False) -> dict:
    """Index ``collection`` (or a directory of its shards) into ``index``; returns the index manifest (the
    collection's, plus index facts)."""
    collection, index = Path(collection), Path(index)
    manifest, files = load_collection(collection)
    if not files:
        raise InputError(f"{collection}: no part-*.jsonl files beside the manifest")
    prepare_output(index, overwrite)
    threads = threads or min(len(files), os.cpu_count() or 1)
    start_jvm()
    from jnius import JavaException, autoclass

    index.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{index.name}.partial-", dir=index.parent))
    # Anserini reads every file in its input directory; give it only the part files (links), not the manifest.
    inputs = Path(tempfile.mkdtemp(prefix=f".{index.name}.inputs-", dir=index.parent))
    started = time.time()
    try:
        for number, path in enumerate(files):
            os.symlink(path.resolve(), inputs / f"{number:06d}-{path.name}")
        args = ["-collection", "JsonVectorCollection", "-input", str(inputs), "-index", str(staging),
                "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads),
                "-impact", "-pretokenized"]
        try:
            autoclass("io.anserini.index.IndexCollection").main(args)
        except JavaException as err:
            raise SpladeAnseriniError(f"Anserini failed to index {collection}: {err}") from None
        count = index_document_count(staging)
        if count != manifest["documents"]:
            raise SpladeAnseriniError(f"Index of {collection} holds {count} documents but the manifest lists "
                                      f"{manifest['documents']}; some documents were not indexed (see Anserini's log above)")
        index_manifest = dict(manifest, collection=str(collection.resolve()), index_threads=threads,
                              index_seconds=round(time.time() - started, 2), index_documents=count)
        write_manifest(staging, index_manifest)
        replace_directory(staging, index)
        return index_manifest
    finally:
        shutil.rmtree(inputs, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
