"""Hard negatives: candidates retrieved for each training query, and the negatives drawn from them.

Candidates come from BM25 (Lucene, through :mod:`..lucene.bm25`: the only part of training that needs Java, run
once before training and saved, so a training run elsewhere needs only that file) and from the model being trained
(its own exact index, :mod:`.exact`, rebuilt every ``remine_every`` steps). Negatives are drawn from a query's
candidates between two ranks, never a judged positive of that query; optionally a candidate that the miner scores
above the query's positive by more than a margin is skipped too, since on a collection with sparse judgements
(SciFact cites one or two abstracts per claim) the top hits are often relevant but unjudged.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

from ..errors import InputError
from ..formats.artifacts import write_atomically
from ..formats.readers import numbered_lines, parse_json_object
from ..settings import BM25

logger = logging.getLogger(__name__)


def bm25_candidates(corpus: dict, queries: dict, depth: int, *, k1: float = BM25.k1, b: float = BM25.b,
                    threads: int = 2) -> dict:
    """{qid: [(docid, BM25 score), ...]}, the ``depth`` best of each query over ``corpus`` ({docid: text}) with
    Anserini's default English analyzer, as the pipeline's BM25 baseline."""
    from ..lucene.bm25 import bm25_hits, scratch_bm25_index
    with scratch_bm25_index(corpus, "mining-bm25-") as index:
        hits = bm25_hits(index, list(queries.values()), list(queries), depth, k1=k1, b=b, threads=threads)
    return {qid: [(docid, float(score)) for docid, score in hits.get(qid, [])] for qid in queries}


def save_candidates(path: Path, candidates: dict, source: str) -> None:
    """One JSON line per query: ``{"qid", "source", "hits": [[docid, score], ...]}``, written atomically."""
    lines = [json.dumps({"qid": qid, "source": source, "hits": [[d, s] for d, s in hits]}, ensure_ascii=False)
             for qid, hits in candidates.items()]
    write_atomically(Path(path), "\n".join(lines) + "\n")


def load_candidates(path: str | Path, queries: dict) -> dict:
    """Candidates saved by :func:`save_candidates` (or written by hand in that format) for the given queries; a
    query without a line gets none, a line for an unknown query is an error (the wrong file)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such candidates file")
    found: dict = {}
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        record = parse_json_object(line, where)
        qid, hits = str(record.get("qid")), record.get("hits")
        if qid not in queries:
            raise InputError(f"{where}: query {qid!r} is not a training query (candidates of another data set?)")
        if not isinstance(hits, list) or not all(isinstance(h, list) and len(h) == 2 for h in hits):
            raise InputError(f"{where}: 'hits' must be a list of [docid, score] pairs")
        found[qid] = [(str(d), float(s)) for d, s in hits]
    return found


def draw_negatives(hits: list, positives, count: int, rng: random.Random, *, ranks: tuple = (0, None),
                   skip=()) -> list:
    """``count`` docids drawn from ``hits`` (ranked (docid, score) pairs) between ranks ``ranks[0]`` and
    ``ranks[1]`` (0-based, end excluded), never one of ``positives`` nor of ``skip``; fewer when the pool is
    smaller."""
    excluded = set(positives) | set(skip)
    lo, hi = ranks
    pool = [d for d, _ in hits[lo:hi] if d not in excluded]
    return rng.sample(pool, min(count, len(pool)))


def above_margin(hits: list, positives, margin: float) -> set:
    """The candidates that score more than ``margin`` above the query's best-scored positive among ``hits`` (none
    when no positive is among them): on a collection with sparse judgements these are likely relevant documents
    nobody judged, not negatives."""
    positives = set(positives)
    best = max((s for d, s in hits if d in positives), default=None)
    return set() if best is None else {d for d, s in hits if d not in positives and s > best + margin}


def report_coverage(candidates: dict, judged, source: str) -> dict:
    """How many positives the candidates hold (recall at their depth), printed once: a check that the miner and
    the qrels speak of the same documents."""
    found = sum(1 for qid, hits in candidates.items() for d, _ in hits if d in judged.qrels.get(qid, {}))
    total = sum(len(judged.qrels[qid]) for qid in candidates)
    logger.info(f"train: {source} candidates hold {found} of {total} positives of {len(candidates)} queries")
    return {"positives_found": found, "positives": total}
