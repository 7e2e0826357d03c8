"""Opening Lucene indexes, and the table of external docids by Lucene doc id.

Beside Lucene's files an index keeps ``docids.json``, the external id of every Lucene doc id, so that search never
reads stored fields per hit; it is rebuilt whenever it does not match the index's commit.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..formats.artifacts import write_atomically
from .jvm import start_jvm

DOCIDS = "docids.json"


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
        write_atomically(path, json.dumps({"segments": commit, "docids": docids}, ensure_ascii=False))
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
