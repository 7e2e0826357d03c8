"""Document reordering by recursive graph bisection (BP: Dhulipala et al., KDD 2016; the variant of Mackenzie et
al., "Compressing inverted indexes with recursive graph bisection: a reproducibility study", ECIR 2019).

Block-max engines skip a block of docids when its bound is low; the bound is tight only when a block's documents
share their terms. BP orders the documents so that they do: the collection (a bipartite graph of documents and
terms) is split in two halves, documents are swapped between the halves while a swap lowers the cost of storing
both halves' posting lists (the log-gap cost, estimated from each term's degree in each half), and each half is
split again, down to ``leaf`` documents. Only which terms a document holds matters, not their impacts.

Memory: the forward index is memory-mapped; each swap pass holds a few arrays of one value per posting (its
document's part, its term, their degree) and one per document: about 50 bytes per posting, nothing per
(part, term) pair. The order is a
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


def _gather(forward: ForwardIndex, rows: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    """(owner, term) of every posting of ``rows``: owner = index into ``rows``."""
    begins = forward.offsets[rows]
    lengths = forward.offsets[rows + 1] - begins
    owner = numpy.repeat(numpy.arange(len(rows)), lengths)
    positions = numpy.repeat(begins - (numpy.cumsum(lengths) - lengths), lengths) + numpy.arange(len(owner))
    return owner, numpy.asarray(forward.terms[positions], dtype=numpy.int64)


def bp_order(forward: ForwardIndex, *, iterations: int = ITERATIONS, leaf: int = LEAF,
             progress: bool = True) -> tuple[numpy.ndarray, dict]:
    """The BP order of the forward index's documents: an array of collection rows (new position -> row), and facts
    (depth, swaps). Deterministic."""
    documents, terms = forward.documents, len(forward.vocabulary)
    order = numpy.arange(documents, dtype=numpy.int64)  # position -> row
    segments = [(0, documents)] if documents > leaf else []  # the parts of the current depth, split all at once
    depth, swaps_total = 0, 0
    while segments and depth < MAX_DEPTH:
        depth += 1
        begins = numpy.array([b for b, _ in segments], dtype=numpy.int64)
        ends = numpy.array([e for _, e in segments], dtype=numpy.int64)
        middles = (begins + ends) // 2
        # the part of each active position: 2 s (left half of segment s) or 2 s + 1 (right half)
        active = numpy.concatenate([numpy.arange(b, e) for b, e in segments])
        segment_of = numpy.repeat(numpy.arange(len(segments)), ends - begins)
        side = 2 * segment_of + (active >= middles[segment_of])
        sizes = numpy.empty(2 * len(segments))
        sizes[0::2], sizes[1::2] = middles - begins, ends - middles
        for _ in range(iterations):
            owner, term = _gather(forward, order[active])
            here = side[owner]
            gains = _move_gains(owner, term, here, here ^ 1, sizes, terms, len(active))
            swapped = _swap(order, active, side, gains, len(segments))
            swaps_total += swapped
            if swapped <= len(active) // 1000:  # converged: fewer than 0.1% of the documents still move
                break
        segments = sorted([(b, m) for b, m in zip(begins.tolist(), middles.tolist()) if m - b > leaf]
                          + [(m, e) for m, e in zip(middles.tolist(), ends.tolist()) if e - m > leaf])
        if progress:
            log.info("BP depth %d: %d parts, %d swaps so far", depth, len(segments), swaps_total)
    return order, {"depth": depth, "swaps": swaps_total, "iterations": iterations, "leaf": leaf}


def _move_gains(owner, term, here, there, sizes, terms: int, count: int) -> numpy.ndarray:
    """Per active document: cost(before) - cost(after) of moving it from its part to the other half of its segment,
    summed over its terms (the standard BP gain). Degrees of (part, term) pairs come from one sort of the postings'
    (part, term) keys, so memory is per posting, never parts x terms."""
    keys = here * terms + term
    unique, inverse, counts = numpy.unique(keys, return_inverse=True, return_counts=True)
    d_here = counts[inverse].astype(numpy.float64)
    other = there * terms + term
    found = numpy.minimum(numpy.searchsorted(unique, other), len(unique) - 1)
    d_there = numpy.where(unique[found] == other, counts[found], 0).astype(numpy.float64)
    s_here, s_there = sizes[here], sizes[there]
    before = _cost(d_here, s_here) + _cost(d_there, s_there)
    after = _cost(d_here - 1, s_here) + _cost(d_there + 1, s_there)
    return numpy.bincount(owner, weights=before - after, minlength=count)


def _swap(order, active, side, gains, segments) -> int:
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
    return swapped
