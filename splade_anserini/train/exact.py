"""Exact search over quantized SPLADE vectors held in memory, scored and ranked as the Lucene impact run is.

The trainer needs retrieval over a whole corpus several times a run (validation, mining negatives with the model
being trained) and must run where there is no Java. A query's score for a document is ``sum_j q_j * d_j`` over the
shared terms of the integer vectors (what Anserini's ``ImpactSimilarity`` computes in float32, exactly, while the
sums stay below 2^24); query terms found in every document are dropped as Pyserini's default ``min_idf`` 0 drops
them; hits are ranked by score, then docid ascending. The scores are then written as Anserini writes them (rounded
to 4 decimals, the n-th of a run of equal scores lowered by n x 1e-6 in float32) and through the run file's 6
decimals, so :func:`splade_anserini.evaluate.evaluate` sees exactly what it reads from the Lucene run, ties
included. ``tests/test_train.py`` checks the runs against :class:`~splade_anserini.lucene.searcher.ImpactSearcher`.
"""

from __future__ import annotations

from typing import Sequence

import numpy

from ..formats.runs import rank_hits
from ..formats.topics import kept_terms
from ..settings import SEARCH

# Anserini's tie adjustment: the n-th member of a run of equal scores is lowered by n times this step (in float32).
TIE_STEP = numpy.float32(1e-6)
# Run files carry scores with this many decimals; trec_eval (and evaluate) sort on what they read back.
RUN_DECIMALS = 6


def anserini_scores(scores: Sequence[int]) -> list[float]:
    """Integer scores, ranked, as they appear in a run file: equal scores lowered by their position in the run of
    equal scores times 1e-6 in float32 (integers need no rounding to 4 decimals, and distinct integers are more than
    1e-4 apart, so a run of ties is a run of equal integers), then printed with 6 decimals."""
    values = numpy.asarray(scores, dtype=numpy.float32)
    if not len(values):
        return []
    starts = numpy.flatnonzero(numpy.r_[True, values[1:] != values[:-1]])
    positions = numpy.arange(len(values))
    within = (positions - starts[numpy.searchsorted(starts, positions, side="right") - 1]).astype(numpy.float32)
    adjusted = values - TIE_STEP * within
    return [float(f"{v:.{RUN_DECIMALS}f}") for v in adjusted.astype(numpy.float64)]


class SparseIndex:
    """Posting lists (document numbers and integer weights per term) of quantized document vectors."""

    def __init__(self, doc_ids: Sequence[str], vectors: Sequence[dict]):
        self.doc_ids = list(doc_ids)
        self.num_docs = len(self.doc_ids)
        lists: dict = {}
        for number, vector in enumerate(vectors):
            for term, weight in vector.items():
                if weight > 0:
                    entry = lists.setdefault(term, ([], []))
                    entry[0].append(number)
                    entry[1].append(weight)
        self.postings = {term: (numpy.asarray(docs, dtype=numpy.int64), numpy.asarray(weights, dtype=numpy.int64))
                         for term, (docs, weights) in lists.items()}
        self.postings_count = sum(len(docs) for docs, _ in self.postings.values())

    def df(self, term: str) -> int:
        entry = self.postings.get(term)
        return 0 if entry is None else len(entry[0])

    def kept_terms(self, vector: dict, min_idf: float = SEARCH.min_idf) -> dict:
        """The query terms Lucene would search (:func:`~splade_anserini.formats.topics.kept_terms`)."""
        return kept_terms(vector, self.df, self.num_docs, min_idf)

    def scores(self, vector: dict, min_idf: float = SEARCH.min_idf) -> numpy.ndarray:
        """Every document's integer score for a query vector (0: no shared term, not a hit)."""
        total = numpy.zeros(self.num_docs, dtype=numpy.int64)
        for term, weight in self.kept_terms(vector, min_idf).items():
            docs, weights = self.postings[term]
            total[docs] += weight * weights
        return total

    def search(self, vector: dict, k: int, min_idf: float = SEARCH.min_idf) -> list:
        """The k best (docid, integer score), ranked as Anserini ranks them."""
        total = self.scores(vector, min_idf)
        matched = numpy.flatnonzero(total > 0)
        if len(matched) > k:
            # every document tied with the k-th score is a candidate: the cut at k is by docid among them
            floor = numpy.partition(total[matched], len(matched) - k)[len(matched) - k]
            matched = matched[total[matched] >= floor]
        return rank_hits([(self.doc_ids[i], int(total[i])) for i in matched])[:k]

    def run(self, query_ids: Sequence[str], vectors: Sequence[dict], k: int, min_idf: float = SEARCH.min_idf,
            remove_query: bool = False) -> dict:
        """{qid: {docid: score}} with the scores a run file of Anserini's would hold (see :func:`anserini_scores`),
        ready for :func:`splade_anserini.evaluate.evaluate`. With ``remove_query`` a query's own id is not a hit
        (BEIR's rule), dropped as the search job drops it: from k + 1 hits, after Anserini's tie adjustment."""
        run = {}
        for qid, vector in zip(query_ids, vectors):
            hits = self.search(vector, k + int(remove_query), min_idf)
            scored = zip([d for d, _ in hits], anserini_scores([s for _, s in hits]))
            run[qid] = dict([(d, s) for d, s in scored if not (remove_query and d == qid)][:k])
        return run
