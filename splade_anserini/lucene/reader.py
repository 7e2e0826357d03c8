"""Opening Lucene indexes, and the table of external docids by Lucene doc id.

Beside Lucene's files an index keeps ``docids.bin``, the external id of every Lucene doc id, so that search never
reads stored fields per hit; it is rebuilt whenever it does not match the index's commit. The table is compact (one
blob of UTF-8 ids and an array of offsets: MS MARCO's 8.8M ids take about 130 MB and load in a fraction of a
second) and is built with a few Lucene calls per hundred thousand documents rather than one per document: a
match-all search sorted by index order carries each document's ``id`` (binary doc values, as Anserini writes
them) out in bulk.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy

from ..formats.artifacts import write_atomically
from .jvm import start_jvm

DOCIDS = "docids.bin"
ID_FIELD = "id"
TABLE_FORMAT = 1
# Documents per bulk request while building the table: bounds the JSON that crosses from Java at once (~15 MB).
PAGE = 100_000


class DocidTable:
    """External docids by Lucene doc id: ``table[doc]`` and ``table.lookup(docs)``."""

    def __init__(self, blob: bytes, offsets: numpy.ndarray):
        self.blob = blob
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, doc: int) -> str:
        return self.blob[int(self.offsets[doc]):int(self.offsets[doc + 1])].decode("utf-8")

    def lookup(self, docs) -> list[str]:
        """The ids of many Lucene doc ids at once."""
        docs = numpy.asarray(docs, dtype=numpy.int64)
        starts, ends = self.offsets[docs].tolist(), self.offsets[docs + 1].tolist()
        blob = self.blob
        return [blob[a:b].decode("utf-8") for a, b in zip(starts, ends)]

    @classmethod
    def from_ids(cls, ids: list[str]) -> "DocidTable":
        encoded = [i.encode("utf-8") for i in ids]
        offsets = numpy.zeros(len(encoded) + 1, dtype=numpy.uint64)
        numpy.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(b"".join(encoded), offsets)

    def save(self, path: Path, segments: str) -> None:
        header = json.dumps({"format": TABLE_FORMAT, "segments": segments, "documents": len(self)}) + "\n"
        write_atomically(path, header.encode("utf-8") + self.offsets.astype("<u8").tobytes() + self.blob)

    @classmethod
    def load(cls, path: Path, segments: str, size: int) -> "DocidTable | None":
        """The table saved at ``path`` if it belongs to this commit of the index, else None."""
        try:
            with open(path, "rb") as handle:
                header = json.loads(handle.readline())
                if (header.get("format"), header.get("segments"), header.get("documents")) != \
                        (TABLE_FORMAT, segments, size):
                    return None
                offsets = numpy.fromfile(handle, dtype="<u8", count=size + 1)
                blob = handle.read()
        except (OSError, ValueError, AttributeError):
            return None  # missing or damaged: rebuilt by the caller
        if len(offsets) != size + 1 or int(offsets[-1]) != len(blob):
            return None
        return cls(blob, offsets.astype(numpy.uint64))


def _segments_file(reader) -> str:
    return reader.getIndexCommit().getSegmentsFileName()


def docid_table(index: str | Path, reader) -> DocidTable:
    """External docids by Lucene doc id for an open ``DirectoryReader`` of ``index``: read from ``docids.bin``
    when that file belongs to this commit of the index, otherwise built and saved there if the directory is
    writable."""
    path = Path(index) / DOCIDS
    commit, size = _segments_file(reader), reader.maxDoc()
    table = DocidTable.load(path, commit, size)
    if table is not None:
        return table
    table = DocidTable.from_ids(read_docids(reader))
    try:
        table.save(path, commit)
    except OSError:
        pass  # a read-only index (e.g. a shared prebuilt one) still works: the table then lives in memory only
    return table


def read_docids(reader) -> list[str]:
    """Every Lucene doc's external id (deleted documents: empty)."""
    from jnius import JavaException, autoclass, cast
    size = reader.maxDoc()
    ids = [""] * size
    searcher = autoclass("org.apache.lucene.search.IndexSearcher")(cast("org.apache.lucene.index.IndexReader", reader))
    sort_field = autoclass("org.apache.lucene.search.SortField")
    by_doc_then_id = autoclass("org.apache.lucene.search.Sort")(
        sort_field.FIELD_DOC, sort_field(ID_FIELD, autoclass("org.apache.lucene.search.SortField$Type").STRING_VAL))
    query = autoclass("org.apache.lucene.search.MatchAllDocsQuery")()
    to_json = autoclass("com.fasterxml.jackson.databind.ObjectMapper")()
    field_doc, integer = autoclass("org.apache.lucene.search.FieldDoc"), autoclass("java.lang.Integer")
    bytes_ref = autoclass("org.apache.lucene.util.BytesRef")
    after = None
    try:
        while True:
            page = (searcher.search(query, PAGE, by_doc_then_id) if after is None
                    else searcher.searchAfter(after, query, PAGE, by_doc_then_id))
            hits = json.loads(to_json.writeValueAsString(page))["scoreDocs"]
            if not hits:
                return ids
            for hit in hits:
                value = hit["fields"][1]
                raw = base64.b64decode(value["bytes"])[value["offset"]:value["offset"] + value["length"]]
                ids[hit["doc"]] = raw.decode("utf-8")
            # the page's last hit, rebuilt here: reading it from Java would convert the whole array of hits
            last = hits[-1]["doc"]
            after = field_doc(last, float("nan"), [integer(last), bytes_ref(ids[last].encode("utf-8"))])
    except JavaException:
        # no doc values for "id" (an index that Anserini built long ago): one stored-field read per document
        lookup = autoclass("io.anserini.index.IndexReaderUtils").convertLuceneDocidToDocid
        return [lookup(reader, doc) for doc in range(size)]


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
