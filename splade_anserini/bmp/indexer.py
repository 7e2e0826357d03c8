"""A collection -> a BMP index: the forward index's rows handed to BMP's indexer in the index's document order,
impacts re-quantized into 8 bits when they do not fit (BMP wraps larger ones)."""

from __future__ import annotations

from pathlib import Path

import numpy

from ..formats.forward import ForwardIndex
from ..formats.postings import requantize, requantize_factor
from . import IMPACT_BITS, load_bmp

INDEX_FILE = "index.bmp"
# bmp 0.2.8 never evaluates the last block of a query's blocks in order of their upper bounds (measured on the demo:
# whatever k, the block of lowest nonzero bound is missing from the hits). A last whole block of padding documents
# holding only PADDING_TERM, which the searcher adds to every query at the query's smallest weight (BMP weight 1),
# has bound 1, below every real block that holds a query term, so it is the one left out.
PADDING_ID, PADDING_TERM = "padding", "\x00padding"
SCALE_TERM = "\x00scale"  # in no document: its query weight sets BMP's query scale (see splade_anserini.bmp)


def write_bmp(forward: ForwardIndex, order: numpy.ndarray, staging: Path, block_size: int) -> dict:
    """Build BMP's index of the documents in ``order`` into ``staging``; returns facts for the manifest."""
    bmp = load_bmp()
    top = int(forward.impacts.max()) if forward.postings else 0
    factor = requantize_factor(top, IMPACT_BITS)
    indexer = bmp.Indexer(str(staging / INDEX_FILE), block_size, False)
    vocabulary = forward.vocabulary
    for row in order.tolist():
        terms, impacts = forward.row(row)
        impacts = requantize(numpy.asarray(impacts), factor)
        indexer.add_document(str(row), {vocabulary[t]: i for t, i in zip(terms.tolist(), impacts.tolist())})
    padding = (-len(order)) % block_size + block_size  # fills the last block, then one whole block
    for _ in range(padding):
        indexer.add_document(PADDING_ID, {PADDING_TERM: 1})
    indexer.finish()
    return {"requantize_factor": factor, "max_impact": top, "padding_documents": padding}
