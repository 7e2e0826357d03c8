"""A collection's posting lists, inverted in bounded memory: what CIFF export and the PISA indexer both write.

A JsonVectorCollection holds documents (each a {term: impact} vector); engines and exchange formats want the
transpose, one list of (docid, impact) per term, terms in sorted order. Inverting a whole corpus in Python memory
does not scale (MS MARCO passage: 8.8M documents, hundreds of millions of postings), so this is an external sort:

1. one pass over the part files numbers the documents 0, 1, 2, ... in collection order (the order of the part
   files, then of their lines), gives each new term an id, and collects postings into a chunk of at most
   ``chunk_postings``; a full chunk is sorted by term id (stably, so docids stay ascending within a term) and
   spilled to a scratch file with its per-term counts;
2. the chunks hold consecutive document ranges, so a term's whole list is its segment of chunk 0, then of chunk 1,
   and so on: read back term by term, in sorted term order, from the chunk files.

Memory is one chunk (three uint32 arrays while it fills, a sort's worth when it spills), the vocabulary, one
integer length per document, and one term's list at a time; document ids are spilled to a scratch file too.
Plain files and numpy: no JVM.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy

from ..errors import InputError
from .collection import load_collection

# Postings gathered before a chunk is sorted and spilled: 16M postings are 192 MiB of uint32 while they are
# collected and about twice that while sorted; larger chunks gain little (a corpus of 1B postings makes 60 chunks).
CHUNK_POSTINGS = 1 << 24
DOCIDS_FILE = "docids.jsonl"
MAX_BITS = 31  # impacts are positive and at most 2**31 - 1 (Lucene's frequencies are Java ints)


def check_bits(bits: int | None) -> None:
    """Refuse a re-quantization width outside 1..31 (impacts are uint32 and positive) before any work is done."""
    if bits is not None and not 1 <= bits <= MAX_BITS:
        raise InputError(f"impact bits must be between 1 and {MAX_BITS}, not {bits}")


def requantize_factor(max_impact: int, bits: int | None) -> float | None:
    """The factor that maps impacts 1..``max_impact`` into 1..2**bits - 1 (None when they already fit, or when no
    re-quantization is asked for)."""
    check_bits(bits)
    if bits is None:
        return None
    top = (1 << bits) - 1
    return None if max_impact <= top else top / max_impact


def requantize(impacts: numpy.ndarray, factor: float | None) -> numpy.ndarray:
    """``round(impact * factor)``, at least 1: a posting never disappears, so the lists keep their documents (and
    df, min_idf and the costs stay those of the original collection); ranking by the sum of query weight x impact
    is unchanged by the factor itself, only by its rounding."""
    if factor is None:
        return impacts
    scaled = numpy.floor(impacts.astype(numpy.float64) * factor + 0.5)
    return numpy.maximum(scaled, 1).astype(numpy.uint32)


@dataclass
class Inversion:
    """The inverted collection, in a scratch directory: iterate :meth:`postings` (sorted terms) and
    :meth:`documents`; remove it with :meth:`close` (or use it as a context manager)."""
    scratch: Path
    manifest: dict
    terms: list  # term of each term id, in order of first appearance
    chunks: list  # (path, per-term counts, postings) of each spilled chunk, in document order
    lengths: numpy.ndarray  # per document: the sum of its impacts (what Lucene records as its length)
    postings_total: int
    max_impact: int

    @property
    def documents_total(self) -> int:
        return len(self.lengths)

    @property
    def terms_sorted(self) -> list:
        """Terms in the order engines keep them: by code point, which is UTF-8 byte order (Lucene's and PISA's)."""
        return sorted(self.terms)

    def postings(self, factor: float | None = None) -> Iterator[tuple[str, numpy.ndarray, numpy.ndarray]]:
        """(term, docids, impacts) for every term in sorted order; docids ascending, uint32 arrays; impacts
        re-quantized by ``factor`` (see :func:`requantize`) when one is given."""
        ids = {term: number for number, term in enumerate(self.terms)}
        starts = [numpy.concatenate(([0], numpy.cumsum(counts, dtype=numpy.int64))) for _, counts, _ in self.chunks]
        # Plain reads rather than memory maps: mapped pages would count in the process's memory as the whole
        # scratch space is read, where reads leave them to the page cache.
        with contextlib.ExitStack() as stack:
            files = [stack.enter_context(open(path, "rb")) for path, _, _ in self.chunks]
            for term in self.terms_sorted:
                number = ids[term]
                docids, impacts = [], []
                for handle, offsets, (_, _, size) in zip(files, starts, self.chunks):
                    if number + 1 >= len(offsets):
                        continue  # the term first occurs in a later chunk
                    begin, end = int(offsets[number]), int(offsets[number + 1])
                    if end > begin:
                        docids.append(_read(handle, begin, end - begin))
                        impacts.append(_read(handle, size + begin, end - begin))
                yield term, numpy.concatenate(docids), requantize(numpy.concatenate(impacts), factor)

    def documents(self) -> Iterator[tuple[int, str, int]]:
        """(docid, external id, length) in docid order."""
        with open(self.scratch / DOCIDS_FILE, encoding="utf-8") as ids:
            for docid, (line, length) in enumerate(zip(ids, self.lengths.tolist())):
                yield docid, json.loads(line), length

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def invert_collection(collection: str | Path, scratch_parent: str | Path | None = None, *,
                      chunk_postings: int = CHUNK_POSTINGS, progress: bool = True) -> Inversion:
    """Invert ``collection`` (a collection directory, or one of its shards' parent) into a scratch directory under
    ``scratch_parent`` (default: the system's temporary directory). Bad lines (malformed JSON, no id, an impact that
    is not a positive integer) are an :class:`InputError` naming file and line."""
    from tqdm import tqdm
    manifest, parts = load_collection(collection)
    if not parts:
        raise InputError(f"{collection}: no part-*.jsonl files beside the manifest")
    scratch = Path(tempfile.mkdtemp(prefix=".inversion-", dir=scratch_parent))
    try:
        return _invert(parts, manifest, scratch, chunk_postings, progress, tqdm)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _invert(parts, manifest, scratch, chunk_postings, progress, tqdm) -> Inversion:
    term_ids: dict = {}
    terms: list = []
    chunks: list = []
    lengths = array("Q")
    chunk_terms, chunk_impacts, chunk_sizes = array("I"), array("I"), array("I")
    first_doc = 0  # docid of the chunk's first document
    max_impact = 0

    def spill() -> None:
        nonlocal first_doc, chunk_terms, chunk_impacts, chunk_sizes
        term_column = numpy.frombuffer(chunk_terms, dtype=numpy.uint32)
        docids = numpy.repeat(numpy.arange(first_doc, first_doc + len(chunk_sizes), dtype=numpy.uint32),
                              numpy.frombuffer(chunk_sizes, dtype=numpy.uint32))
        order = numpy.argsort(term_column, kind="stable")
        path = scratch / f"chunk-{len(chunks):05d}.u32"
        with open(path, "wb") as out:
            out.write(docids[order].tobytes())
            out.write(numpy.frombuffer(chunk_impacts, dtype=numpy.uint32)[order].tobytes())
        chunks.append((path, numpy.bincount(term_column, minlength=len(terms)), len(term_column)))
        first_doc += len(chunk_sizes)
        chunk_terms, chunk_impacts, chunk_sizes = array("I"), array("I"), array("I")

    total = manifest.get("documents")
    with open(scratch / DOCIDS_FILE, "w", encoding="utf-8") as ids, \
            tqdm(total=total, desc="inverting", unit="doc", disable=not progress, mininterval=1.0) as bar:
        for part in parts:
            with open(part, encoding="utf-8") as lines:
                for number, line in enumerate(lines, start=1):
                    doc_id, vector = parse_vector_line(line, part, number)
                    values = vector.values()
                    try:
                        chunk_impacts.extend(values)
                    except (TypeError, OverflowError):
                        raise InputError(f"{part}:{number}: document {doc_id!r} has an impact that is not a "
                                         f"non-negative integer; is this a collection of quantized vectors?") from None
                    top = max(values, default=1)
                    if values and min(values) < 1:
                        raise InputError(f"{part}:{number}: document {doc_id!r} has an impact of 0; impacts are "
                                         f"positive integers (zeros are left out of the vector)")
                    for term in vector:
                        number_of_term = term_ids.get(term)
                        if number_of_term is None:
                            number_of_term = term_ids[term] = len(terms)
                            terms.append(term)
                        chunk_terms.append(number_of_term)
                    max_impact = max(max_impact, top)
                    chunk_sizes.append(len(vector))
                    lengths.append(sum(values))
                    ids.write(json.dumps(doc_id, ensure_ascii=False) + "\n")
                    bar.update()
                    if len(chunk_terms) >= chunk_postings:
                        spill()
        if len(chunk_sizes):
            spill()
    postings = sum(size for _, _, size in chunks)
    return Inversion(scratch, manifest, terms, chunks, numpy.frombuffer(lengths, dtype=numpy.uint64),
                     postings, max_impact if postings else 0)


def _read(handle, start: int, count: int) -> numpy.ndarray:
    """``count`` uint32 values from position ``start`` (in values) of a chunk file."""
    handle.seek(4 * start)
    return numpy.fromfile(handle, dtype=numpy.uint32, count=count)


def parse_vector_line(line: str, part: Path, number: int) -> tuple[str, dict]:
    """One JsonVectorCollection line as (id, vector); a malformed line is an InputError naming its part and line."""
    try:
        record = json.loads(line)
        doc_id, vector = record["id"], record["vector"]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{part}:{number}: not a JsonVectorCollection line ({{\"id\", \"contents\", \"vector\"}})") \
            from None
    if not isinstance(vector, dict) or not isinstance(doc_id, str) or not doc_id:
        raise InputError(f"{part}:{number}: expected a non-empty string id and a vector object")
    return doc_id, vector


def average(values: numpy.ndarray) -> float:
    return float(values.sum()) / len(values) if len(values) else math.nan
