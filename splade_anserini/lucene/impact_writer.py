"""Direct impact indexing: each term of a document once, with its integer weight as the term frequency.

Anserini indexes a JsonVectorCollection by writing every term ``weight`` times into a string that Lucene tokenizes
again ("fake words": its SPLADE++ index of MS MARCO passes 52 billion tokens through the analyzer), one thread per
part file. Here Lucene's own analysis reads ``term<SOH>weight`` pairs (SOH: U+0001; a whitespace tokenizer and a
delimited term-frequency filter), so a document costs one token per term, and every thread takes documents from
any part file.

The index is Anserini's: the ``contents`` field with DOCS_AND_FREQS and the same norms (Lucene adds a token's
frequency to the field length, as the repeated words did), the stored ``id`` and its binary doc values (Anserini's
searchers break score ties with them), the same writer settings. Like Anserini, a document without terms is not
indexed (it could never be found); such documents are counted.

Reordered (``index --reorder bp``): every document also gets its new position as a numeric doc value (``ORDER``),
the index is sorted by it (Lucene's index sorting, which holds within every segment whatever thread wrote a
document, and through merges), and merged into one segment, so the docids are the order itself.
"""

from __future__ import annotations

import json
import threading
from json.decoder import scanstring
from pathlib import Path
from typing import Iterator

from ..errors import InputError

# Between a term and its weight: a control character, which no word-piece vocabulary holds (BERT's has "|"), and
# not one that Java counts as white space (U+001C to U+001F are), where the tokenizer would cut.
DELIMITER = "\u0001"
ID, CONTENTS = "id", "contents"
ORDER = "reorder"  # the numeric doc value a reordered index is sorted by
# Lines handed to a thread at a time: large enough that taking the next batch costs nothing, small enough to keep
# the threads evenly busy.
BATCH_LINES = 512
# Anserini's IndexCollection default; Lucene flushes a segment when the buffered documents need this much memory.
RAM_BUFFER_MB = 2048.0


def impact_line(vector: dict) -> str:
    """The text the analyzer turns into (term, frequency) pairs."""
    return " ".join(f"{term}{DELIMITER}{weight}" for term, weight in vector.items())


_ID_START = '{"id": "'
_VECTOR_KEY = '"vector": {'


def parse_line(line: bytes) -> tuple[str, str]:
    """(id, impact line) of one collection line. Lines as ``encode`` writes them (id first, the vector last, no
    escapes in its tokens) are cut apart directly, several times faster than parsing the JSON, which the rest get."""
    text = line.decode("utf-8")
    start = text.rfind(_VECTOR_KEY)
    if text.startswith(_ID_START) and start > 0:
        vector = text[start + len(_VECTOR_KEY):text.rindex("}", 0, text.rindex("}"))]
        if "\\" not in vector:
            doc_id = scanstring(text, len(_ID_START))[0]
            if not vector.strip():
                return doc_id, ""
            # '"term": 12, "next": 3' -> 'term<SOH>12 next<SOH>3'
            return doc_id, vector[1:].replace('": ', DELIMITER).replace(', "', " ")
    record = json.loads(text)
    return record["id"], impact_line(record["vector"])


def check_terms(line: bytes, doc_id: str, terms: str) -> None:
    """Every term must be one token with one weight: white space inside a term would cut it in two (in Anserini's
    index as in this one), and the delimiter inside a term would be read as its weight."""
    if len(terms.split()) != terms.count(DELIMITER):
        bad = next(t for t in json.loads(line)["vector"] if len(t.split()) != 1 or DELIMITER in t or t != t.strip())
        raise InputError(f"document {doc_id!r}: the term {bad!r} holds white space or a control character and "
                         f"cannot be indexed as one term")


def _batches(parts: list[Path]) -> Iterator[tuple[int, list[bytes]]]:
    """(collection row of the first line, lines): rows count the non-blank lines, as the forward index does."""
    row = 0
    for part in parts:
        with open(part, "rb") as lines:
            batch = []
            for line in lines:
                if line.strip():
                    batch.append(line)
                    if len(batch) == BATCH_LINES:
                        yield row, batch
                        row += len(batch)
                        batch = []
            if batch:
                yield row, batch
                row += len(batch)


class _Writer:
    """A Lucene IndexWriter set up as Anserini sets up an impact index, fed from several Python threads (pyjnius
    releases Python's lock while Lucene inverts a document)."""

    def __init__(self, directory: Path, sorted_by_order: bool = False):
        from jnius import autoclass
        params = autoclass("java.util.HashMap")()
        params.put("delimiter", DELIMITER)
        analyzer = (autoclass("org.apache.lucene.analysis.custom.CustomAnalyzer").builder()
                    .withTokenizer("whitespace", autoclass("java.util.HashMap")())
                    .addTokenFilter("delimitedTermFrequency", params).build())
        config = autoclass("org.apache.lucene.index.IndexWriterConfig")(analyzer)
        config.setOpenMode(autoclass("org.apache.lucene.index.IndexWriterConfig$OpenMode").CREATE)
        config.setRAMBufferSizeMB(RAM_BUFFER_MB)
        config.setUseCompoundFile(False)
        if sorted_by_order:
            sort_field = autoclass("org.apache.lucene.search.SortField")(
                ORDER, autoclass("org.apache.lucene.search.SortField$Type").LONG)
            config.setIndexSort(autoclass("org.apache.lucene.search.Sort")(sort_field))
        self.sorted_by_order = sorted_by_order
        path = autoclass("java.io.File")(str(directory)).toPath()
        self.writer = autoclass("org.apache.lucene.index.IndexWriter")(
            autoclass("org.apache.lucene.store.FSDirectory").open(path), config)
        field_type = autoclass("org.apache.lucene.document.FieldType")()
        field_type.setStored(False)
        field_type.setTokenized(True)
        field_type.setIndexOptions(autoclass("org.apache.lucene.index.IndexOptions").DOCS_AND_FREQS)
        field_type.freeze()
        self.field_type = field_type

    def document(self):
        """A reusable Lucene document for one thread: (document, id field, id doc values, contents field, order doc
        value or None)."""
        from jnius import autoclass
        store = autoclass("org.apache.lucene.document.Field$Store").YES
        doc = autoclass("org.apache.lucene.document.Document")()
        id_field = autoclass("org.apache.lucene.document.StringField")(ID, "", store)
        id_values = autoclass("org.apache.lucene.document.BinaryDocValuesField")(
            ID, autoclass("org.apache.lucene.util.BytesRef")(b""))
        # pyjnius would pick the BytesRef overload for a str; the CharSequence one is the text field's
        contents = autoclass("org.apache.lucene.document.Field")(
            CONTENTS, "", self.field_type,
            signature="(Ljava/lang/String;Ljava/lang/CharSequence;Lorg/apache/lucene/index/IndexableFieldType;)V")
        order = None
        if self.sorted_by_order:
            order = autoclass("org.apache.lucene.document.NumericDocValuesField")(
                ORDER, 0, signature="(Ljava/lang/String;J)V")
        for field in (id_field, id_values, contents, order):
            if field is not None:
                doc.add(field)
        return doc, id_field, id_values, contents, order

    def close(self) -> None:
        if self.sorted_by_order:  # one segment: the docids are then the order, not one order per segment
            self.writer.forceMerge(1)
        self.writer.commit()
        self.writer.close()


def write_impact_index(directory: Path, parts: list[Path], threads: int, progress=None,
                       positions=None) -> tuple[int, int]:
    """Index the documents of ``parts`` (JsonVectorCollection files) into a new Lucene index in ``directory`` with
    ``threads`` threads; returns (documents indexed, documents without terms, not indexed). ``progress(n)`` is
    called as documents are added. ``positions`` (collection row -> new position, e.g. BP's) sorts the index by
    it."""
    from jnius import detach
    writer = _Writer(directory, sorted_by_order=positions is not None)
    batches = _batches(parts)
    take = threading.Lock()
    counts = {"indexed": 0, "empty": 0}
    failures: list = []

    def work():
        try:
            doc, id_field, id_values, contents, order = writer.document()
            while not failures:
                with take:
                    first, batch = next(batches, (None, None))
                if batch is None:
                    return
                indexed = empty = 0
                for row, line in enumerate(batch, first):
                    doc_id, terms = parse_line(line)
                    if not terms:
                        empty += 1
                        continue
                    check_terms(line, doc_id, terms)
                    id_field.setStringValue(doc_id)
                    id_values.setBytesValue(doc_id.encode("utf-8"))
                    contents.setStringValue(terms)
                    if order is not None:
                        order.setLongValue(int(positions[row]))
                    writer.writer.addDocument(doc)
                    indexed += 1
                with take:
                    counts["indexed"] += indexed
                    counts["empty"] += empty
                if progress is not None:
                    progress(indexed + empty)
        except BaseException as err:  # re-raised in the caller's thread
            failures.append(err)
        finally:
            detach()  # a Python thread that used the JVM must leave it before it ends

    workers = [threading.Thread(target=work, name=f"impact-writer-{n}", daemon=True) for n in range(max(threads, 1))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        writer.writer.rollback()
        raise failures[0]
    writer.close()
    return counts["indexed"], counts["empty"]
