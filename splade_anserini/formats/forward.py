"""The forward index: a collection as one sparse matrix (documents x terms, integer impacts) kept in an index
directory, for the engines that score documents rather than lists (Seismic, BMP) and for document reordering.

Written by streaming the part files once: term ids (in order of first appearance), impacts and each document's
offset go to flat ``.npy`` files, so memory is the vocabulary and one offset per document whatever the size; the
arrays are read back as memory maps. Rows are in collection order; an engine that stores documents in another
order (``index --reorder``) keeps that order beside them (``ORDER``). No torch, no JVM.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy

from ..errors import InputError
from .collection import load_collection
from .postings import parse_vector_line

TERMS, IMPACTS, OFFSETS, VOCABULARY, DOCIDS, ORDER = ("forward.terms.npy", "forward.impacts.npy",
                                                      "forward.offsets.npy", "vocabulary.json", "docids.json",
                                                      "order.npy")
FILES = (TERMS, IMPACTS, OFFSETS, VOCABULARY, DOCIDS)
_BUFFER = 1 << 20  # postings gathered before a write


@dataclass
class ForwardIndex:
    """Rows of (term id, impact) per document, in collection order, with the vocabulary and the document ids."""
    terms: numpy.ndarray  # uint32, every posting's term id, row after row
    impacts: numpy.ndarray  # uint32
    offsets: numpy.ndarray  # int64, len = documents + 1
    vocabulary: list  # term id -> term
    ids: list  # row -> external document id

    @property
    def documents(self) -> int:
        return len(self.offsets) - 1

    @property
    def postings(self) -> int:
        return int(self.offsets[-1])

    def row(self, document: int) -> tuple[numpy.ndarray, numpy.ndarray]:
        begin, end = int(self.offsets[document]), int(self.offsets[document + 1])
        return self.terms[begin:end], self.impacts[begin:end]

    def df(self) -> numpy.ndarray:
        """Document frequency of each term id (a document holds a term once)."""
        counts = numpy.zeros(len(self.vocabulary), dtype=numpy.int64)
        for begin in range(0, self.postings, 1 << 24):
            counts += numpy.bincount(self.terms[begin:begin + (1 << 24)], minlength=len(self.vocabulary))
        return counts

    def matrix(self, rows: numpy.ndarray | None = None):
        """The documents (all, or ``rows`` in that order) as a scipy CSR matrix of impacts (float32)."""
        import scipy.sparse
        full = scipy.sparse.csr_matrix((numpy.asarray(self.impacts, dtype=numpy.float32),
                                        numpy.asarray(self.terms), numpy.asarray(self.offsets)),
                                       shape=(self.documents, len(self.vocabulary)))
        return full if rows is None else full[rows]


def write_forward_index(collection: str | Path, directory: Path, progress: bool | None = None) -> ForwardIndex:
    """Stream ``collection`` into the forward index files in ``directory``; returns them memory-mapped."""
    from tqdm import tqdm

    from ..progress import bar_disabled
    manifest, files = load_collection(collection)
    if not files:
        raise InputError(f"{collection}: no part-*.jsonl files beside the manifest")
    vocabulary: dict = {}
    ids: list = []
    offsets = [0]
    terms_buffer: list = []
    impacts_buffer: list = []
    total = 0
    with open(directory / (TERMS + ".raw"), "wb") as terms_out, open(directory / (IMPACTS + ".raw"), "wb") as out:
        def flush():
            terms_out.write(numpy.asarray(terms_buffer, dtype=numpy.uint32).tobytes())
            out.write(numpy.asarray(impacts_buffer, dtype=numpy.uint32).tobytes())
            terms_buffer.clear()
            impacts_buffer.clear()

        with tqdm(total=manifest.get("documents"), unit="doc", desc="forward index", disable=bar_disabled(progress),
                  mininterval=1.0) as bar:
            for part in files:
                with open(part, encoding="utf-8") as handle:
                    for number, line in enumerate(handle, 1):
                        if not line.strip():
                            continue
                        doc_id, vector = parse_vector_line(line, part, number)
                        for term, weight in vector.items():
                            if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
                                raise InputError(f"{part}:{number}: impact of {term!r} is {weight!r}, not a "
                                                 f"non-negative integer")
                            if weight:
                                terms_buffer.append(vocabulary.setdefault(term, len(vocabulary)))
                                impacts_buffer.append(weight)
                                total += 1
                        ids.append(doc_id)
                        offsets.append(total)
                        bar.update()
                        if len(terms_buffer) >= _BUFFER:
                            flush()
            flush()
    if not ids:
        raise InputError(f"{collection}: no documents to index")
    for name in (TERMS, IMPACTS):  # raw uint32 -> .npy (a header, then the same bytes)
        raw = directory / (name + ".raw")
        array = numpy.lib.format.open_memmap(directory / name, mode="w+", dtype=numpy.uint32, shape=(total,))
        with open(raw, "rb") as handle:
            for begin in range(0, total, _BUFFER):
                chunk = numpy.fromfile(handle, dtype=numpy.uint32, count=min(_BUFFER, total - begin))
                array[begin:begin + len(chunk)] = chunk
        array.flush()
        del array
        raw.unlink()
    numpy.save(directory / OFFSETS, numpy.asarray(offsets, dtype=numpy.int64))
    (directory / VOCABULARY).write_text(json.dumps(list(vocabulary), ensure_ascii=False), encoding="utf-8")
    (directory / DOCIDS).write_text(json.dumps(ids, ensure_ascii=False), encoding="utf-8")
    return read_forward_index(directory)


def read_forward_index(directory: str | Path) -> ForwardIndex:
    directory = Path(directory)
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise InputError(f"{directory}: damaged index ({', '.join(missing)} missing); rebuild it with --overwrite")
    return ForwardIndex(numpy.load(directory / TERMS, mmap_mode="r"), numpy.load(directory / IMPACTS, mmap_mode="r"),
                        numpy.load(directory / OFFSETS),
                        json.loads((directory / VOCABULARY).read_text(encoding="utf-8")),
                        json.loads((directory / DOCIDS).read_text(encoding="utf-8")))


def read_order(directory: str | Path, documents: int) -> numpy.ndarray:
    """The order the engine holds the documents in (engine position -> collection row): the index's ``order.npy``
    when it was reordered, else collection order."""
    path = Path(directory) / ORDER
    return numpy.load(path) if path.is_file() else numpy.arange(documents, dtype=numpy.int64)


class ForwardStatistics:
    """``num_docs`` and ``df(term)`` of an index that keeps a forward index (what :func:`.topics.kept_terms` needs
    to keep the query terms Lucene keeps)."""

    def __init__(self, forward: ForwardIndex):
        self.term_ids = {term: number for number, term in enumerate(forward.vocabulary)}
        self._df = forward.df()
        self.num_docs = forward.documents

    def df(self, term: str) -> int:
        number = self.term_ids.get(term)
        return 0 if number is None else int(self._df[number])

    def close(self) -> None:
        pass


def exact_scores(forward: ForwardIndex, rows: numpy.ndarray, query: dict, term_ids: dict) -> numpy.ndarray:
    """sum(query weight x impact) of each collection row in ``rows``: Lucene's impact score, computed exactly
    (float64 sums of integers)."""
    weights = numpy.zeros(len(forward.vocabulary), dtype=numpy.float64)
    for term, weight in query.items():
        weights[term_ids[term]] = weight
    rows = numpy.asarray(rows, dtype=numpy.int64)
    begins, ends = forward.offsets[rows], forward.offsets[rows + 1]
    lengths = ends - begins
    owner = numpy.repeat(numpy.arange(len(rows)), lengths)  # every posting of the rows, gathered at once
    positions = numpy.repeat(begins, lengths) + numpy.arange(len(owner)) - numpy.repeat(
        numpy.cumsum(lengths) - lengths, lengths)
    products = weights[forward.terms[positions]] * forward.impacts[positions]
    return numpy.bincount(owner, weights=products, minlength=len(rows))
