"""A collection -> a Seismic index: the forward index's rows handed to Seismic in the index's document order
(collection order, or ``index --reorder``'s), as integer component ids (the forward index's term ids), so no token
strings are parsed twice and the ids of the documents are their collection rows."""

from __future__ import annotations

from pathlib import Path

import numpy

from ..errors import InputError
from ..formats.forward import ForwardIndex
from . import LOG, SeismicBuild, load_seismic, native_output

INDEX_FILE = "index"  # Seismic appends .index.seismic
BATCH = 50_000  # documents handed over at once
MAX_COMPONENTS = 1 << 16  # SeismicIndex keeps term ids in 16 bits


def rows_csr(forward: ForwardIndex, rows: numpy.ndarray) -> tuple:
    """(components, values, offsets) of collection ``rows``, each row's terms in increasing id order."""
    begins, ends = forward.offsets[rows], forward.offsets[rows + 1]
    lengths = ends - begins
    owner = numpy.repeat(numpy.arange(len(rows)), lengths)
    positions = numpy.repeat(begins, lengths) + numpy.arange(len(owner)) - numpy.repeat(
        numpy.cumsum(lengths) - lengths, lengths)
    terms = numpy.asarray(forward.terms[positions], dtype=numpy.int64)
    order = numpy.lexsort((terms, owner))
    offsets = numpy.concatenate(([0], numpy.cumsum(lengths))).astype(numpy.int64)
    return terms[order], numpy.asarray(forward.impacts[positions][order], dtype=numpy.float32), offsets


def write_seismic(forward: ForwardIndex, order: numpy.ndarray, staging: Path, build: SeismicBuild,
                  verbose: bool = False) -> dict:
    """Build Seismic's index of the documents in ``order`` into ``staging``; returns facts for the manifest."""
    if len(forward.vocabulary) > MAX_COMPONENTS:
        raise InputError(f"{len(forward.vocabulary)} distinct terms: the Seismic engine keeps term ids in 16 bits "
                         f"(at most {MAX_COMPONENTS})")
    seismic = load_seismic()
    with native_output(None if verbose else staging / LOG):
        dataset = seismic.SeismicDataset(dim=len(forward.vocabulary))
        added = 0
        for begin in range(0, len(order), BATCH):
            rows = numpy.asarray(order[begin:begin + BATCH], dtype=numpy.int64)
            components, values, offsets = rows_csr(forward, rows)
            added += dataset.add_documents_by_id([str(row) for row in rows.tolist()], components, values, offsets)
        index = seismic.SeismicIndex.build_from_dataset(
            dataset, n_postings=build.n_postings, centroid_fraction=build.centroid_fraction,
            min_cluster_size=build.min_cluster_size, summary_energy=build.summary_energy,
            max_fraction=build.max_fraction, doc_cut=build.doc_cut, nknn=build.knn)
        index.save(str(staging / INDEX_FILE))
    return {"documents_with_terms": added}
