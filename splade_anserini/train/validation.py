"""Validation while training: queries carved out of the training split, searched over the whole corpus with the
model being trained, scored exactly as the Lucene run would be (:mod:`.exact`).

The split is drawn from the training queries only (the test topics were left out when the data was read, by id
and by text), with the run's seed, so a resumed run validates on the same queries. Each validation encodes the
corpus and the validation queries with the model in evaluation mode (dropout off) at the index's settings (scale,
max length), searches them with the search job's rules (k, ``min_idf``, a query's own id removed where asked),
computes the measure with :func:`splade_anserini.evaluate.evaluate`, and records FLOPS (SPLADE's definition, over
the terms Lucene keeps) and the documents' and queries' terms. The same encoded corpus serves to mine negatives
with the model (:mod:`.mining`). The curve is saved as JSON and drawn (measure and FLOPS against steps).
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from ..evaluate import evaluate
from ..formats.artifacts import write_atomically
from ..model.query_models import QueryEncoder, SpladeQueries
from ..progress import bar_disabled
from ..stats import query_costs
from .exact import SparseIndex
from .settings import ValidationSettings

CURVE_JSON = "validation.json"
CURVE_PNG = "validation.png"


def carve_validation(query_ids: list, size, seed: int) -> tuple[list, list]:
    """(training ids, validation ids): ``size`` queries (a count, or a fraction below 1) drawn with ``seed``; the
    rest, in their original order, train."""
    count = round(size * len(query_ids)) if isinstance(size, float) and size < 1 else int(size)
    count = max(0, min(count, len(query_ids) - 1))
    chosen = set(random.Random(seed).sample(list(query_ids), count))
    return [q for q in query_ids if q not in chosen], [q for q in query_ids if q in chosen]


def limit_training(train_ids: list, limit: int | None, seed: int) -> list:
    """``limit`` of the training ids drawn with ``seed`` as :func:`carve_validation` draws (all of them when
    ``limit`` is None or not smaller), in their original order: a learning curve over the amount of training data,
    on the same validation queries."""
    if limit is None or limit >= len(train_ids):
        return list(train_ids)
    return carve_validation(train_ids, limit, seed)[1]


class Validator:
    """Encodes the corpus with the model under training and evaluates the validation queries on it. Queries are
    encoded by ``query_encoder`` (a :class:`~..model.query_models.QueryEncoder`: a fixed query side's), by default
    the model under training itself at the validation's scale."""

    def __init__(self, splade, corpus: dict, queries: dict, qrels: dict, settings: ValidationSettings,
                 query_encoder: QueryEncoder | None = None):
        self.splade, self.corpus, self.queries, self.qrels = splade, corpus, queries, qrels
        self.settings = settings
        self.query_encoder = query_encoder or SpladeQueries(splade, scale=settings.scale,
                                                            batch_size=settings.batch_size)
        self.doc_ids = list(corpus)
        self.index: SparseIndex | None = None

    def encode_corpus(self, progress: bool | None = None) -> SparseIndex:
        """The corpus's quantized vectors with the model as it is now, as an exact index."""
        from tqdm import tqdm
        s = self.settings
        texts = [self.corpus[d] for d in self.doc_ids]
        chunk = s.batch_size * 16
        vectors: list = []
        with tqdm(total=len(texts), desc="encode corpus", unit="doc", disable=bar_disabled(progress), leave=False,
                  mininterval=1.0, file=sys.stderr) as bar:
            for start in range(0, len(texts), chunk):
                vectors += self.splade.encode(texts[start:start + chunk], s.scale, s.batch_size)
                bar.update(min(chunk, len(texts) - start))
        self.index = SparseIndex(self.doc_ids, vectors)
        return self.index

    def encode_queries(self, query_ids) -> list:
        return self.query_encoder.encode_batch([self.queries[q] for q in query_ids])

    def evaluate(self, progress: bool | None = None) -> dict:
        """Encode the corpus (kept in :attr:`index` for mining) and evaluate the validation queries; the model is
        left in the mode it was in."""
        s = self.settings
        model = self.splade.mlm
        was_training = model.training
        model.eval()
        started = time.time()
        try:
            index = self.encode_corpus(progress)
            ids = list(self.qrels)
            vectors = self.encode_queries(ids)
        finally:
            model.train(was_training)
        run = index.run(ids, vectors, s.k, s.min_idf, s.remove_query)
        means, _ = evaluate(run, self.qrels, [s.measure])
        kept = [index.kept_terms(v, s.min_idf) for v in vectors]
        costs = query_costs(kept, {t: index.df(t) for v in kept for t in v}, index.num_docs)
        return {s.measure: round(means[s.measure], 6), "flops": round(costs["flops"], 4),
                "query_terms": round(costs["query_terms"]["mean"], 2),
                "document_terms": round(index.postings_count / index.num_docs, 2),
                "seconds": round(time.time() - started, 1)}


def save_curve(output: Path, curve: list, measure: str, best_step: int | None) -> None:
    """The validation curve as ``validation.json`` and ``validation.png`` (the measure and FLOPS against steps)."""
    output.mkdir(parents=True, exist_ok=True)
    write_atomically(output / CURVE_JSON, json.dumps({"measure": measure, "best_step": best_step, "curve": curve},
                                                     indent=1) + "\n")
    if not curve:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [point["step"] for point in curve]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(6.4, 5.6))
    top.plot(steps, [point[measure] for point in curve], marker="o")
    top.set_ylabel(f"{measure} (validation)")
    if best_step is not None:
        top.axvline(best_step, color="grey", linestyle="--", linewidth=1)
    bottom.plot(steps, [point["flops"] for point in curve], marker="o", color="tab:orange")
    bottom.set_ylabel("FLOPS")
    bottom.set_xlabel("training step")
    figure.tight_layout()
    staging = output / f".{CURVE_PNG}.tmp.png"
    figure.savefig(staging, dpi=100)
    plt.close(figure)
    staging.replace(output / CURVE_PNG)
