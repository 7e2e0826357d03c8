"""Supervised examples from a train split: for each query of a batch, one of its judged positives and negatives
drawn from its candidates (:mod:`.mining`), and, for distillation, a teacher's scores of those documents.

Batches are indexed by their number: batch ``i`` takes its queries from the epoch's shuffle (seeded with the run's
seed and the epoch) and draws its positive and negatives with a generator seeded by the seed and ``i``, so a
resumed run sees exactly the batches an uninterrupted one sees.

Teachers (all available offline, from what the run computes anyway):
- ``model``: the starting model itself (self-distillation): its exact scores of the query's documents, frozen at
  step 0. It keeps the fine-tuned model close to what it was, moving only where the qrels push;
- ``ensemble``: the starting model's scores and BM25's, each standardised over all the documents the teacher knows
  for the query (its candidates and positives), mixed with ``bm25_weight``; on SciFact BM25 beats splade-tiny
  (0.6789 against 0.6436 nDCG@10), and a mix of two retrievers that fail differently ranks better than either, so it can teach the student more than the student knows.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import numpy

from .data import Example, Judged
from .mining import above_margin, draw_negatives

if TYPE_CHECKING:  # the settings name this module's teachers
    from .settings import TrainSettings

TEACHERS = ("none", "model", "ensemble")
# The generator of batch i is seeded with seed * SEED_STRIDE + i, so runs with neighbouring seeds draw differently.
SEED_STRIDE = 1_000_003


def epoch_order(count: int, seed: int, epoch: int) -> list:
    order = list(range(count))
    random.Random(seed + epoch).shuffle(order)
    return order


def batch_members(count: int, batch_size: int, seed: int, number: int) -> list:
    """Indices (into ``count`` items) of batch ``number``: full batches of an epoch's shuffle (in-batch negatives
    need company; a set smaller than one batch is one batch)."""
    per_epoch = max(count // batch_size, 1)
    epoch, position = divmod(number, per_epoch)
    return epoch_order(count, seed, epoch)[position * batch_size:(position + 1) * batch_size]


class FixedExamples:
    """Ready-made examples (triples, scored pairs, pseudo-queries) in epoch-shuffled batches."""

    def __init__(self, examples: list, batch_size: int, seed: int):
        self.examples, self.batch_size, self.seed = examples, batch_size, seed

    def batch(self, number: int) -> list:
        return [self.examples[i] for i in batch_members(len(self.examples), self.batch_size, self.seed, number)]


class SupervisedExamples:
    """Examples drawn batch by batch from a train split and the candidates of its queries."""

    def __init__(self, judged: Judged, query_ids: list, settings: TrainSettings):
        self.judged, self.query_ids, self.settings = judged, query_ids, settings
        self.candidates: dict = {}   # miner name -> {qid: [(docid, score), ...]}
        self.teacher = None          # {qid: {docid: the starting model's score}}, fixed at step 0
        self.doc_ids = list(judged.corpus)

    def set_candidates(self, source: str, candidates: dict) -> None:
        self.candidates[source] = candidates

    def pool(self, qid: str, window: bool = True) -> list:
        """The query's candidates from every miner in use, each cut to the rank window (``negatives.ranks``) unless
        ``window`` is false, without repeats."""
        lo, hi = self.settings.negatives.ranks if window else (0, None)
        merged: dict = {}
        for source in self.settings.negatives.sources:
            for docid, score in self.candidates.get(source, {}).get(qid, [])[lo:hi]:
                merged.setdefault(docid, score)
        return list(merged.items())

    def batch(self, number: int) -> list[Example]:
        s = self.settings
        n, margin = s.negatives_per_query, s.negatives.margin
        rng = random.Random(s.seed * SEED_STRIDE + number)
        examples = []
        for index in batch_members(len(self.query_ids), s.batch_size, s.seed, number):
            qid = self.query_ids[index]
            positives = self.judged.positives(qid)
            positive = rng.choice(positives)
            skip: set = set()
            if margin is not None:
                for source in s.negatives.sources:
                    skip |= above_margin(self.candidates.get(source, {}).get(qid, []), positives, margin)
            negatives = draw_negatives(self.pool(qid), positives, n, rng, skip=skip)
            while len(negatives) < n:  # a query with too few candidates: random documents fill in
                docid = rng.choice(self.doc_ids)
                if docid not in positives and docid not in negatives:
                    negatives.append(docid)
            docs = [positive, *negatives]
            examples.append(Example(self.judged.queries[qid], self.judged.corpus[positive],
                                    [self.judged.corpus[d] for d in negatives], self.teacher_scores(qid, docs),
                                    (qid, docs)))
        return examples

    def teacher_scores(self, qid: str, docs: list) -> list | None:
        """The teacher's scores of ``docs`` (positive first): the starting model's, fixed at step 0 for the
        query's candidates and positives (a document outside them scores as the lowest of them), mixed with BM25's
        for the ensemble."""
        kind = self.settings.teacher.kind
        if kind == "none":
            return None
        known = self.teacher[qid]
        floor = min(known.values())
        if kind == "model":
            return [known.get(d, floor) for d in docs]
        # Both retrievers are standardised over all the documents the teacher knows for the query, so a document's
        # score does not depend on which others were drawn with it: over a positive and one negative, each
        # retriever standardises to -1 and +1, and the mix would keep nothing but whether the two agree.
        bm25 = dict(self.candidates.get("bm25", {}).get(qid, []))
        lowest = min(bm25.values(), default=0.0)  # a document below BM25's depth scores as its last hit
        model_all = numpy.array(list(known.values()), dtype=numpy.float64)
        lexical_all = numpy.array([bm25.get(d, lowest) for d in known], dtype=numpy.float64)
        model = numpy.array([known.get(d, floor) for d in docs], dtype=numpy.float64)
        lexical = numpy.array([bm25.get(d, lowest) for d in docs], dtype=numpy.float64)
        weight = self.settings.teacher.bm25_weight
        mixed = (1 - weight) * _standard(model, model_all) + weight * _standard(lexical, lexical_all)
        # back on the student's scale: the start model's spread and level over the query's documents
        return (mixed * max(model_all.std(), 1e-6) + model_all.mean()).tolist()


def _standard(values, over: numpy.ndarray):
    """``values`` standardised by the mean and spread of ``over``."""
    return (values - over.mean()) / max(over.std(), 1e-6)
