"""Document reordering by recursive graph bisection (BP: Dhulipala et al., KDD 2016; the variant of Mackenzie et
al., "Compressing inverted indexes with recursive graph bisection: a reproducibility study", ECIR 2019).

Block-max engines skip a block of docids when its bound is low; the bound is tight only when a block's documents
share their terms. BP orders the documents so that they do: the collection (a bipartite graph of documents and
terms) is split in two halves, documents are swapped between the halves while a swap lowers the cost of storing
both halves' posting lists (the log-gap cost, estimated from each term's degree in each half), and each half is
split again, down to ``leaf`` documents. Only which terms a document holds matters, not their impacts.

Memory: the forward index is memory-mapped; each swap pass holds a few arrays of one value per posting (its
document's part, its term, their degrees; about 60 bytes per posting) and one per document, plus the (part, term)
degrees as a dense array while there are at most 16M such pairs (the first levels), by sorting the postings' keys
after that. The order is a
function of the collection and the settings only (no randomness), so every engine built with ``--reorder bp`` gets
the same order. Each swap pass is vectorized over the documents of a level (all the halves of one depth at once).
"""

from __future__ import annotations

import logging

import numpy

from .formats.forward import ForwardIndex

log = logging.getLogger(__name__)

ITERATIONS = 20  # swap passes per bisection (the paper's setting)
LEAF = 16  # stop splitting at this many documents (blocks of BMP are 32, PISA's 64)
MAX_DEPTH = 30


def _cost(degree: numpy.ndarray, size: float) -> numpy.ndarray:
    """The log-gap cost of a term with ``degree`` documents in a part of ``size``: degree x log2(size / (degree+1))."""
    return degree * numpy.log2(size / (degree + 1.0))


DENSE_DEGREES = 1 << 24  # (part, term) degrees counted in a dense array up to this many pairs, else by sorting


def bp_order(forward: ForwardIndex, *, iterations: int = ITERATIONS, leaf: int = LEAF,
             progress: bool | None = None) -> tuple[numpy.ndarray, dict]:
    """The BP order of the forward index's documents: an array of collection rows (new position -> row), and facts
    (depth, swaps). Deterministic."""
    documents, terms = forward.documents, len(forward.vocabulary)
    posting_row = numpy.repeat(numpy.arange(documents, dtype=numpy.int32), numpy.diff(forward.offsets))
    posting_term = numpy.asarray(forward.terms, dtype=numpy.int64)
    order = numpy.arange(documents, dtype=numpy.int64)  # position -> row
    position = numpy.arange(documents, dtype=numpy.int64)  # row -> position
    segments = [(0, documents)] if documents > leaf else []  # the parts of the current depth, split all at once
    depth, swaps_total = 0, 0
    while segments and depth < MAX_DEPTH:
        depth += 1
        begins = numpy.array([b for b, _ in segments], dtype=numpy.int64)
        ends = numpy.array([e for _, e in segments], dtype=numpy.int64)
        middles = (begins + ends) // 2
        # the part of each position: 2 s (left half of segment s), 2 s + 1 (right half), -1 outside every segment
        part_of_position = numpy.full(documents, -1, dtype=numpy.int64)
        active = numpy.concatenate([numpy.arange(b, e) for b, e in segments])
        segment_of = numpy.repeat(numpy.arange(len(segments)), ends - begins)
        part_of_position[active] = 2 * segment_of + (active >= middles[segment_of])
        sizes = numpy.empty(2 * len(segments))
        sizes[0::2], sizes[1::2] = middles - begins, ends - middles
        for _ in range(iterations):
            here = part_of_position[position[posting_row]]
            inside = here >= 0
            gains_by_row = _move_gains(posting_row, posting_term, here, inside, sizes, terms, documents)
            swapped = _swap(order, position, active, part_of_position[active], gains_by_row[order[active]],
                            len(segments))
            swaps_total += swapped
            if swapped <= len(active) // 1000:  # converged: fewer than 0.1% of the documents still move
                break
        segments = sorted([(b, m) for b, m in zip(begins.tolist(), middles.tolist()) if m - b > leaf]
                          + [(m, e) for m, e in zip(middles.tolist(), ends.tolist()) if e - m > leaf])
        if progress is not False:
            log.info("BP depth %d: %d parts, %d swaps so far", depth, len(segments), swaps_total)
    return order, {"depth": depth, "swaps": swaps_total, "iterations": iterations, "leaf": leaf}


def _move_gains(posting_row, posting_term, here, inside, sizes, terms: int, documents: int) -> numpy.ndarray:
    """Per document (by row): cost(before) - cost(after) of moving it from its part to the other half of its
    segment, summed over its terms (the standard BP gain); 0 outside the segments."""
    rows, term, here = posting_row[inside], posting_term[inside], here[inside]
    there = here ^ 1
    keys, other = here * terms + term, there * terms + term
    if len(sizes) * terms <= DENSE_DEGREES:
        degree = numpy.bincount(keys, minlength=len(sizes) * terms)
        d_here, d_there = degree[keys], degree[other]
    else:  # per posting, never parts x terms: one sort of the (part, term) keys
        unique, inverse, counts = numpy.unique(keys, return_inverse=True, return_counts=True)
        d_here = counts[inverse]
        found = numpy.minimum(numpy.searchsorted(unique, other), len(unique) - 1)
        d_there = numpy.where(unique[found] == other, counts[found], 0)
    d_here, d_there = d_here.astype(numpy.float64), d_there.astype(numpy.float64)
    s_here, s_there = sizes[here], sizes[there]
    before = _cost(d_here, s_here) + _cost(d_there, s_there)
    after = _cost(d_here - 1, s_here) + _cost(d_there + 1, s_there)
    return numpy.bincount(rows, weights=before - after, minlength=documents)


def _swap(order, position, active, side, gains, segments) -> int:
    """Swap, in every segment, the i-th best mover of its left half with the i-th best of its right half while
    their gains sum above zero; returns the number of swaps."""
    segment = side // 2
    left = side % 2 == 0
    swapped = 0
    # sort once by (segment, -gain): stable, deterministic (ties by position)
    keys = numpy.lexsort((-gains, segment))
    by_segment_left = keys[left[keys]]
    by_segment_right = keys[~left[keys]]
    left_segments = segment[by_segment_left]
    right_segments = segment[by_segment_right]
    left_starts = numpy.searchsorted(left_segments, numpy.arange(segments + 1))
    right_starts = numpy.searchsorted(right_segments, numpy.arange(segments + 1))
    moves_from, moves_to = [], []
    for number in range(segments):
        lefts = by_segment_left[left_starts[number]:left_starts[number + 1]]
        rights = by_segment_right[right_starts[number]:right_starts[number + 1]]
        count = min(len(lefts), len(rights))
        if not count:
            continue
        total = gains[lefts[:count]] + gains[rights[:count]]
        good = int(numpy.argmax(total <= 0)) if (total <= 0).any() else count
        if good:
            moves_from.append(lefts[:good])
            moves_to.append(rights[:good])
            swapped += good
    if swapped:
        a = active[numpy.concatenate(moves_from)]
        b = active[numpy.concatenate(moves_to)]
        order[a], order[b] = order[b].copy(), order[a].copy()
        position[order[a]] = a
        position[order[b]] = b
    return swapped
