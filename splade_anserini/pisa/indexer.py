"""A collection -> a PISA index, through PISA's binary collection format.

PISA builds its compressed index from an uncompressed "binary collection": ``inv.docs`` (a list [1, N], then per
term its df followed by its docids), ``inv.freqs`` (per term its df followed by its frequencies) and ``inv.sizes``
([N, then each document's length]), all uint32, plus ``fwd.terms`` and ``fwd.documents`` (one term, one docid per
line) and their binary lexicons. The inverted collection (:mod:`..formats.postings`) streams into those files, so
memory stays bounded; PISA then writes the block-max metadata and the compressed index, and the uncompressed
files are dropped. The index is built in a staging directory and moved into place complete, manifest last.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy

from ..errors import InputError, SpladeAnseriniError
from ..formats.artifacts import (
    PISA_INDEX,
    prepare_output,
    replace_directory,
    write_manifest,
)
from ..formats.collection import load_collection
from ..formats.postings import check_bits, invert_collection, requantize_factor
from ..progress import bar_disabled
from . import BLOCK_SIZE, ENCODING, SCORER, load_pisa, native_output, pisa_version

TERMS, DOCUMENTS, TERM_DF = "fwd.terms", "fwd.documents", "term_df.npy"
LOG = "pisa.log"
LEXICONS = {TERMS: "fwd.termlex", DOCUMENTS: "fwd.doclex"}  # one string per line -> PISA's binary lexicon
BINARY_COLLECTION = ("inv.docs", "inv.freqs", "inv.sizes")


def _u32(values) -> bytes:
    return numpy.asarray(values, dtype=numpy.uint32).tobytes()


def build_pisa_index(collection: str | Path, index: str | Path, *, bits: int | None = None,
                     reorder: str | None = None, overwrite: bool = False, progress: bool | None = None,
                     verbose: bool = False) -> dict:
    """Index ``collection`` (or a directory of its shards) with PISA into ``index``; with ``bits``, impacts above
    2**bits - 1 are re-quantized into 1..2**bits - 1 first; with ``reorder="bp"`` the docids follow the BP order
    (:func:`..reorder.collection_order`, the order of a Seismic or BMP index of the same collection). Returns the
    index manifest (the collection's, plus index facts). PISA's log goes to ``pisa.log`` in the index (``verbose``
    shows it on the terminal instead)."""
    collection, index = Path(collection), Path(index)
    check_bits(bits)
    manifest, _ = load_collection(collection)
    prepare_output(index, overwrite, PISA_INDEX, [collection])
    pisa = load_pisa()
    index.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{index.name}.partial-", dir=index.parent))
    started = time.time()
    try:
        order = reordering = None
        if reorder is not None:
            from ..reorder import collection_order
            order, ids, reordering = collection_order(collection, staging, progress=progress)
        with invert_collection(collection, index.parent, progress=progress) as inversion:
            factor = requantize_factor(inversion.max_impact, bits)
            if order is not None and [doc_id for _, doc_id, _ in inversion.documents()] != ids:
                raise SpladeAnseriniError(f"{collection}: the documents changed while it was indexed")
            written_max = _write_binary_collection(staging, inversion, factor, progress, order)
            documents, terms, postings = inversion.documents_total, len(inversion.terms), inversion.postings_total
        if not documents:
            raise InputError(f"{collection}: no documents to index")
        for lines, lexicon in LEXICONS.items():
            pisa.build_binlex(str(staging / lines), str(staging / lexicon))
        compressing = time.time()
        with native_output(None if verbose else staging / LOG):  # block-max metadata, then compression
            pisa.prepare_index(pisa.RetrievalContext(), str(staging), ENCODING, SCORER, "", block_size=BLOCK_SIZE,
                               quantize=0)
        if not any(staging.glob(f"*.{ENCODING}")):
            raise SpladeAnseriniError(f"PISA did not write its compressed index for {collection}")
        for name in BINARY_COLLECTION:  # only needed to build the index; as large as the collection's postings
            (staging / name).unlink()
        index_manifest = dict(manifest, kind=PISA_INDEX, engine="pisa", collection=str(collection.resolve()),
                              index_documents=documents, index_terms=terms, index_postings=postings,
                              reorder=reordering, index_seconds=round(time.time() - started, 2),
                              compress_seconds=round(time.time() - compressing, 2),
                              pisa={"scorer": SCORER, "encoding": ENCODING, "block_size": BLOCK_SIZE,
                                    "bits": bits, "requantize_factor": factor, "max_impact": written_max,
                                    "pyterrier_pisa": pisa_version()})
        write_manifest(staging, index_manifest)
        replace_directory(staging, index, PISA_INDEX)
        return index_manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_line(text: str, what: str) -> None:
    if "\n" in text or "\r" in text:
        raise InputError(f"{what} {text!r} holds a line break; PISA's lexicons keep one per line")


def _write_binary_collection(staging: Path, inversion, factor, progress: bool | None,
                             order: numpy.ndarray | None = None) -> int:
    """Write the binary collection and the term and document lists, with the documents in ``order`` (new docid ->
    collection row; default collection order); returns the largest impact written."""
    from tqdm import tqdm
    lengths = numpy.zeros(inversion.documents_total, dtype=numpy.uint64)
    position = None
    if order is not None:  # collection row -> new docid
        position = numpy.empty(len(order), dtype=numpy.uint32)
        position[order] = numpy.arange(len(order), dtype=numpy.uint32)
    dfs, top = [], 0
    with open(staging / "inv.docs", "wb") as docs, open(staging / "inv.freqs", "wb") as freqs, \
            open(staging / TERMS, "w", encoding="utf-8", newline="\n") as terms:
        docs.write(_u32([1, inversion.documents_total]))
        for term, docids, impacts in tqdm(inversion.postings(factor), total=len(inversion.terms), desc="postings",
                                          unit="term", disable=bar_disabled(progress), mininterval=1.0):
            _check_line(term, "term")
            if position is not None:
                docids = position[docids]
                ascending = numpy.argsort(docids, kind="stable")
                docids, impacts = docids[ascending], impacts[ascending]
            terms.write(term + "\n")
            docs.write(_u32([len(docids)]))
            docs.write(docids.tobytes())
            freqs.write(_u32([len(docids)]))
            freqs.write(impacts.tobytes())
            numpy.add.at(lengths, docids, impacts.astype(numpy.uint64))
            dfs.append(len(docids))
            top = max(top, int(impacts.max()))
    ids = [doc_id for _, doc_id, _ in inversion.documents()]
    with open(staging / DOCUMENTS, "w", encoding="utf-8", newline="\n") as documents:
        for row in (range(len(ids)) if order is None else order.tolist()):
            _check_line(ids[row], "document id")
            documents.write(ids[row] + "\n")
    (staging / "inv.sizes").write_bytes(_u32([len(lengths)]) + lengths.astype(numpy.uint32).tobytes())
    numpy.save(staging / TERM_DF, numpy.asarray(dfs, dtype=numpy.uint32))
    return top
