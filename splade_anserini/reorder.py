"""Document reordering by recursive graph bisection (BP: Dhulipala et al., KDD 2016; the variant of Mackenzie et
al., "Compressing inverted indexes with recursive graph bisection: a reproducibility study", ECIR 2019).

Block-max engines skip a block of docids when its bound is low; the bound is tight only when a block's documents
share their terms. BP orders the documents so that they do: the collection (a bipartite graph of documents and
terms) is split in two halves, documents are swapped between the halves while a swap lowers the cost of storing
both halves' posting lists (the log-gap cost, estimated from each term's degree in each half), and each half is
split again, down to ``leaf`` documents. Only which terms a document holds matters, not their impacts.

How it is computed: all the parts of one depth at once, with a fixed number of swap passes per depth (``ITERATIONS``,
the paper's 20; fewer only when a pass swaps nothing, after which every pass would be the same). The postings are a
sparse 0/1 matrix of documents x (pair, half), a pair being one term inside one part (at the first depth, a term),
so a document's columns say which half it is in. Each pass is one product in scipy's C loop (every document's gain
= its row x the columns' gains) and one sort of the documents by (part, half, gain); the gains are looked up in a
table of log2 values (no logarithm per pass), and after the swaps only the moved documents' columns and the
degrees of their pairs are updated. Between depths, a (pair, half) column becomes a pair of the next depth; a pair
held by one document cannot lower the cost by a move (its cost is the same in either half but for the halves'
sizes differing by one), so it is dropped for the rest of the recursion, as are the documents of parts not split
again: the matrix shrinks as the parts do. Memory: 8 bytes per posting (the matrix: int32 columns, float32 ones)
and a few arrays of one value per document or per pair; the peak, while a depth's matrix is built from the last,
is about 40 bytes per posting, the forward index's mapped pages included (measured: 4.4 GiB for 118.6M postings).

The order is a function of the collection and the settings only (no randomness, no threads: ties are kept in
position order), so every engine built with ``--reorder bp`` gets the same order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy
import scipy.sparse

from .formats.forward import ForwardIndex, write_forward_index

log = logging.getLogger(__name__)

ITERATIONS = 20  # swap passes per bisection (the paper's setting); a depth stops early when a pass swaps nothing
ALGORITHM = 1  # part of a kept order's name: raise it when a change to this module changes the order it computes
LEAF = 16  # stop splitting at this many documents (blocks of BMP are 32, PISA's 64)
_CHUNK = 1 << 24  # postings read from the forward index at a time
_GAIN = numpy.float32  # the gains' precision: the product reads half the bytes of float64; a gain is a sum of a
# document's terms' gains (each below ~25 bits), so float32 keeps it to about 1e-4 bits, and the same every run


def _initial_matrix(forward: ForwardIndex) -> scipy.sparse.csr_matrix:
    """Documents x terms (0/1), the terms held by a single document left out (they cannot gain from any move)."""
    kept = forward.df() >= 2
    column = numpy.cumsum(kept, dtype=numpy.int64) - 1
    offsets = numpy.asarray(forward.offsets, dtype=numpy.int64)
    indices, counts = [], numpy.zeros(forward.documents, dtype=numpy.int64)
    for begin in range(0, forward.postings, _CHUNK):
        terms = numpy.asarray(forward.terms[begin:begin + _CHUNK])
        keep = kept[terms]
        indices.append(column[terms[keep]].astype(numpy.int32))
        rows = numpy.searchsorted(offsets, numpy.arange(begin, begin + len(terms)), side="right") - 1
        counts += numpy.bincount(rows[keep], minlength=forward.documents)
    indptr = numpy.zeros(forward.documents + 1, dtype=numpy.int64)
    numpy.cumsum(counts, out=indptr[1:])
    indices = numpy.concatenate(indices) if indices else numpy.zeros(0, dtype=numpy.int32)
    return _matrix(indices, indptr, int(kept.sum()))


def _matrix(indices, indptr, columns: int, ones: numpy.ndarray | None = None) -> scipy.sparse.csr_matrix:
    """A 0/1 CSR matrix over ``indices`` without copying them (int32 indices, int64 row pointers); ``ones``, at
    least as long as ``indices``, is reused rather than allocated (the matrices only shrink)."""
    matrix = scipy.sparse.csr_matrix((len(indptr) - 1, columns))
    ones = numpy.ones(len(indices), dtype=_GAIN) if ones is None else ones[:len(indices)]
    matrix.indices, matrix.indptr, matrix.data = indices, indptr, ones
    return matrix


def _moves(largest: int) -> numpy.ndarray:
    """The table of F(d + 1) - F(d) for d = 0..largest, F(d) = d log2(d + 1): the log-gap cost d log2(n / (d + 1))
    of a term with degree d in a part of n documents is d log2(n) - F(d), so a move's gain is a difference of two
    entries (plus log2 of the halves' sizes), looked up rather than computed per pair and pass."""
    degree = numpy.arange(largest + 2, dtype=numpy.float64)
    return numpy.diff(degree * numpy.log2(degree + 1))


def bp_order(forward: ForwardIndex, *, iterations: int = ITERATIONS, leaf: int = LEAF,
             progress: bool | None = None) -> tuple[numpy.ndarray, dict]:
    """The BP order of the forward index's documents: an array of collection rows (new position -> row), and facts
    (depth, swaps, passes, iterations, leaf). Deterministic."""
    documents = forward.documents
    order = numpy.arange(documents, dtype=numpy.int64)  # position -> row
    side = numpy.zeros(documents, dtype=numpy.int8)  # the half a document is in at this depth: 0 left, 1 right
    # The postings as documents x (pair, half): column 2 p + s is pair p held in half s, so a document's columns
    # follow its half and one product gives every document its gain; the counts per column are the degrees.
    matrix = _initial_matrix(forward)
    pair_part = numpy.zeros(matrix.shape[1], dtype=numpy.int64)  # the part each pair belongs to
    part_begin, part_end = numpy.array([0]), numpy.array([documents])  # the parts of this depth, in order
    if documents <= leaf:
        part_begin = part_end = numpy.zeros(0, dtype=numpy.int64)
    else:
        matrix = _matrix(2 * matrix.indices, matrix.indptr, 2 * matrix.shape[1], matrix.data)  # all in the left half
        _place_halves(order, side, matrix, part_begin, part_end)
    move = _moves(documents)
    depth = swaps_total = passes = 0
    while len(part_begin):
        depth += 1
        middle = (part_begin + part_end) // 2
        sizes = part_end - part_begin
        positions = numpy.concatenate([numpy.arange(b, e) for b, e in zip(part_begin.tolist(), part_end.tolist())])
        part_of_position = numpy.repeat(numpy.arange(len(part_begin)), sizes)
        rows = order[positions]  # the documents of this depth, in position order
        halves = numpy.log2(middle - part_begin) - numpy.log2(part_end - middle)  # log2(left size / right size)
        towards = halves[pair_part]  # per pair: the sizes' share of a move's gain from the left
        degrees = numpy.bincount(matrix.indices, minlength=matrix.shape[1])
        gains = numpy.empty(matrix.shape[1], dtype=_GAIN)
        _gains(gains, degrees, towards, move)
        changed = numpy.zeros(len(towards), dtype=bool)
        for _ in range(iterations):
            passes += 1
            gain = (matrix @ gains)[rows]
            moved = _swap(rows, part_of_position, side, gain, len(part_begin))
            swaps_total += len(moved) // 2
            log.debug("BP depth %d pass: %d swaps", depth, len(moved) // 2)
            if not len(moved):  # a pass that swaps nothing leaves the same gains: the next ones would too
                break
            postings = _ranges(matrix.indptr, moved)
            columns = matrix.indices[postings]
            numpy.subtract.at(degrees, columns, 1)
            columns ^= 1  # to the other half's column
            matrix.indices[postings] = columns
            numpy.add.at(degrees, columns, 1)
            changed[:] = False
            changed[columns >> 1] = True
            _gains(gains, degrees, towards, move, changed)  # only the pairs whose degrees changed
        # the halves in place: the left documents of each part first, each half in its previous position order
        order[positions] = rows[numpy.lexsort((side[rows], part_of_position))]
        children_begin = numpy.stack([part_begin, middle], axis=1).ravel()  # part p's halves are 2p, 2p + 1
        children_end = numpy.stack([middle, part_end], axis=1).ravel()
        split = children_end - children_begin > leaf
        child_number = numpy.where(split, numpy.cumsum(split) - 1, -1)
        part_begin, part_end = children_begin[split], children_end[split]
        # each column (pair, half) becomes a pair of the next depth, kept if that half is split again and the pair
        # is held by two documents or more
        child_part = child_number[2 * pair_part[:, None] + numpy.array([0, 1])].ravel()  # per column
        kept = numpy.flatnonzero((child_part >= 0) & (degrees >= 2))
        by_part = kept[numpy.argsort(child_part[kept], kind="stable")]  # a part's pairs together: a document's
        column = numpy.zeros(len(child_part), dtype=numpy.int32)        # product reads one region of the gains
        column[by_part] = numpy.arange(len(by_part), dtype=numpy.int32)
        pair_part = child_part[by_part]
        kept = numpy.zeros(len(child_part), dtype=bool)
        kept[by_part] = True
        keep = kept[matrix.indices]
        before = numpy.zeros(len(keep) + 1, dtype=numpy.int64)
        numpy.cumsum(keep, out=before[1:])
        indices = (2 * column)[matrix.indices[keep]]  # all in the left half, then placed
        matrix = _matrix(indices, before[matrix.indptr], 2 * len(pair_part), matrix.data)
        del keep, before, indices
        if len(part_begin):
            _place_halves(order, side, matrix, part_begin, part_end)
        if progress is not False:
            log.info("BP depth %d: %d parts next, %d postings kept, %d swaps so far", depth, len(part_begin),
                     matrix.nnz, swaps_total)
    return order, {"depth": depth, "swaps": swaps_total, "passes": passes, "iterations": iterations, "leaf": leaf}


def cached_bp_order(forward: ForwardIndex, *, iterations: int = ITERATIONS, leaf: int = LEAF,
                    progress: bool | None = None, cache: str | Path | None = None) -> tuple[numpy.ndarray, dict]:
    """:func:`bp_order`, computed once per collection: BP costs minutes to hours (37 min at 1M documents) and gives
    the same order every time, so building the Lucene, PISA, BMP and Seismic indexes of one collection pays it once.
    The order is kept under ``cache`` (default ``$XDG_CACHE_HOME/splade-anserini/bp-orders``, 8 bytes a document),
    named by a digest of what BP reads (every document's terms, the vocabulary) and its settings; a kept order is
    checked (a permutation of the documents) before use, and the facts say where it came from (``cached``)."""
    from .model.models import cache_dir
    folder = Path(cache) if cache is not None else cache_dir() / "bp-orders"
    path = folder / f"{forward_digest(forward, iterations, leaf)}.npy"
    facts_path = path.with_suffix(".json")
    if path.is_file() and facts_path.is_file():
        try:
            order, facts = numpy.load(path), json.loads(facts_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("BP order cache %s is unreadable (%s); computing the order again", path, error)
        else:
            if len(order) == forward.documents and numpy.array_equal(numpy.sort(order),
                                                                      numpy.arange(forward.documents)):
                log.info("BP order of these %d documents reused from %s (computed in %.0f s)", forward.documents,
                         path, facts.get("seconds", 0))
                return order, dict(facts, cached=str(path))
            log.warning("BP order cache %s is not a permutation of this collection's documents; computing the "
                        "order again", path)
    started = time.time()
    order, facts = bp_order(forward, iterations=iterations, leaf=leaf, progress=progress)
    facts = dict(facts, method="bp", seconds=round(time.time() - started, 2))
    try:  # written under temporary names and renamed, so a reader never sees half an order
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{path.stem}.{os.getpid()}.partial.npy"
        numpy.save(partial, order)
        partial_facts = folder / f".{path.stem}.{os.getpid()}.partial.json"
        partial_facts.write_text(json.dumps(facts), encoding="utf-8")
        os.replace(partial, path)
        os.replace(partial_facts, facts_path)
    except OSError as error:  # a cache that cannot be written costs the next build time, nothing else
        log.warning("BP order not kept in %s: %s", folder, error)
    return order, facts


def forward_digest(forward: ForwardIndex, iterations: int = ITERATIONS, leaf: int = LEAF) -> str:
    """SHA-256 of what BP's order depends on: the settings, the vocabulary and every document's term ids."""
    digest = hashlib.sha256(json.dumps({"method": "bp", "algorithm": ALGORITHM, "iterations": iterations, "leaf": leaf,
                                        "documents": forward.documents}).encode())
    digest.update("\n".join(forward.vocabulary).encode("utf-8"))
    digest.update(numpy.ascontiguousarray(forward.offsets, dtype=numpy.int64).tobytes())
    for begin in range(0, forward.postings, _CHUNK):
        digest.update(numpy.ascontiguousarray(forward.terms[begin:begin + _CHUNK], dtype=numpy.uint32).tobytes())
    return digest.hexdigest()


def _gains(gains, degrees, towards, move, changed=None) -> None:
    """Each pair's gains (cost before - cost after) of a move from the left (column 2 p) and from the right (2 p + 1):
    from the left, towards - move[left - 1] + move[right], where towards is log2(left size / right size); the
    "- 1" is clipped on a side holding none of the pair, whose gain no document uses. ``changed``: a mask of the
    pairs whose degrees changed (default all)."""
    if changed is None or changed.sum() > len(changed) // 8:  # most of them: whole arrays beat indexing
        left, right, sizes, into = degrees[0::2], degrees[1::2], towards, slice(None)
    else:
        pairs = numpy.flatnonzero(changed)
        left, right, sizes, into = degrees[2 * pairs], degrees[2 * pairs + 1], towards[pairs], pairs
    gains[0::2][into] = sizes - move[numpy.maximum(left - 1, 0)] + move[right]
    gains[1::2][into] = -sizes - move[numpy.maximum(right - 1, 0)] + move[left]


def _place_halves(order, side, matrix, part_begin, part_end) -> None:
    """A depth starts with the first half of each part's positions on the left: set ``side`` and the columns."""
    middle = (part_begin + part_end) // 2
    right = order[numpy.concatenate([numpy.arange(m, e) for m, e in zip(middle.tolist(), part_end.tolist())])]
    side[:] = 0
    side[right] = 1
    matrix.indices[_ranges(matrix.indptr, right)] |= 1


def _ranges(indptr: numpy.ndarray, rows: numpy.ndarray) -> numpy.ndarray:
    """The positions in a CSR matrix's ``indices`` of the postings of ``rows``."""
    begins = indptr[rows]
    lengths = indptr[rows + 1] - begins
    firsts = numpy.cumsum(lengths) - lengths  # where each row's postings start in the result
    return numpy.arange(int(lengths.sum()), dtype=numpy.int64) - numpy.repeat(firsts - begins, lengths)


def _swap(rows, part_of_position, side, gain, parts: int) -> numpy.ndarray:
    """In every part, swap the i-th best mover of its left half with the i-th best of its right half while their
    gains sum above zero (both lists fall, so the swaps are a prefix). Returns the rows moved. Ties keep position
    order."""
    group = 2 * part_of_position + side[rows]  # (part, half)
    ranked = numpy.lexsort((-gain, group))
    starts = numpy.searchsorted(group[ranked], numpy.arange(2 * parts + 1))
    counts = numpy.diff(starts)
    couples = numpy.minimum(counts[0::2], counts[1::2])  # per part: how many left/right couples can be formed
    part = numpy.repeat(numpy.arange(parts), couples)
    rank = numpy.arange(len(part)) - numpy.repeat(numpy.cumsum(couples) - couples, couples)
    lefts, rights = ranked[starts[2 * part] + rank], ranked[starts[2 * part + 1] + rank]
    good = gain[lefts] + gain[rights] > 0
    moved = numpy.concatenate([rows[lefts[good]], rows[rights[good]]])
    side[moved] ^= 1
    return moved


def collection_order(collection: str | Path, scratch_parent: str | Path, *, progress: bool | None = None
                     ) -> tuple[numpy.ndarray, list, dict]:
    """BP order of a collection, for the engines that keep no forward index (Lucene, PISA): the collection is
    streamed into a forward index in a scratch directory under ``scratch_parent`` (removed after), and ordered as
    :func:`bp_order` orders the Seismic and BMP indexes, so every engine gets the same order. Returns the order
    (new position -> collection row), the collection's document ids by row, and the facts the manifest records."""
    scratch = Path(tempfile.mkdtemp(prefix=".reorder-", dir=scratch_parent))
    try:
        forward = write_forward_index(collection, scratch, progress)
        order, facts = cached_bp_order(forward, progress=progress)
        ids = list(forward.ids)
        del forward  # its memory maps, before the directory goes
        return order, ids, facts
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def log_gap_bits(forward: ForwardIndex, order: numpy.ndarray | None = None) -> float:
    """What BP lowers, measured: the sum over the posting lists of log2(1 + gap) between consecutive docids, with
    the documents in ``order`` (new position -> row; default collection order). Per posting, it estimates the bits
    an ideal gap coder needs."""
    documents = forward.documents
    position = numpy.arange(documents, dtype=numpy.int64)
    if order is not None:
        position[numpy.asarray(order)] = numpy.arange(documents)
    matrix = scipy.sparse.csr_matrix((numpy.ones(forward.postings, dtype=numpy.int8), numpy.asarray(forward.terms),
                                      numpy.asarray(forward.offsets)), shape=(documents, len(forward.vocabulary)))
    lists = matrix.T.tocsr()  # terms x documents: each posting list's documents, by row
    docs = position[lists.indices]
    term = numpy.repeat(numpy.arange(lists.shape[0]), numpy.diff(lists.indptr))
    keys = numpy.lexsort((docs, term))
    docs, term = docs[keys], term[keys]
    gaps = numpy.diff(docs)[term[1:] == term[:-1]]
    return float(numpy.log2(gaps + 1.0).sum())
