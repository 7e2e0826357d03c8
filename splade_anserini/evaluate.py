"""Evaluation: trec_eval's measures computed in Python, named the way ir_measures names them.

Measures: ``nDCG@k``, ``RR@k``, ``R@k``, ``P@k``, ``AP`` (MAP) and ``AP@k``; a relevance threshold goes in
parentheses, e.g. ``RR(rel=2)@10`` or ``R(rel=2)@1000`` (a document is relevant when its grade >= rel, default 1).
The semantics are trec_eval's with ``-c``: hits are ranked by score, ties by docid in decreasing order; the mean
runs over every query in the qrels, and a query without hits or without relevant documents scores 0. nDCG uses
the grades as gains and ignores ``rel``.

``MRR@k`` is the MS MARCO evaluation script's reciprocal rank: the same as ``RR@k`` except that hits are taken in
the run file's rank order, not re-sorted by score. The two differ only where scores tie, which integer impact
scores often do; published MS MARCO MRR@10 figures are of this kind. The test suite checks
these numbers against the real trec_eval.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .readers import read_qrels

DEFAULT_MEASURES = ("nDCG@10", "RR@10", "R@100", "R@1000", "AP")
_MEASURE = re.compile(r"^(nDCG|MRR|RR|R|P|AP)(?:\(rel=(\d+)\))?(?:@(\d+))?$")


@dataclass(frozen=True)
class Measure:
    name: str
    rel: int = 1
    cutoff: int | None = None

    def __str__(self):
        return f"{self.name}{f'(rel={self.rel})' if self.rel != 1 else ''}{f'@{self.cutoff}' if self.cutoff else ''}"


def parse_measure(text: str) -> Measure:
    match = _MEASURE.match(text.strip())
    if not match:
        raise InputError(f"Unknown measure {text!r}; use nDCG@k, RR@k, MRR@k, R@k, P@k, AP or AP@k, with an optional "
                         f"relevance threshold like RR(rel=2)@10")
    name, rel, cutoff = match.group(1), int(match.group(2) or 1), match.group(3)
    if name in ("R", "P", "nDCG") and cutoff is None:
        raise InputError(f"Measure {text!r} needs a cutoff, e.g. {name}@10")
    return Measure(name, rel, int(cutoff) if cutoff else None)


def read_run(path: str | Path) -> dict:
    """A TREC or MS MARCO run as {qid: {docid: score}}, each query's hits in the file's rank order (an MS MARCO run's
    scores are minus the ranks); errors name file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such run file")
    run: dict = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) == 3:  # MS MARCO format: the rank is all there is; higher ranks get lower scores
                qid, docid, rank = parts
                score = f"-{rank}"
            elif len(parts) == 6:
                qid, _, docid, rank, score, _ = parts
            else:
                raise InputError(f"{path}:{number}: expected 'qid Q0 docid rank score tag' (TREC) or "
                                 f"'qid docid rank' (MS MARCO), got {len(parts)} fields")
            try:
                value, position = float(score), int(rank)
            except ValueError:
                raise InputError(f"{path}:{number}: rank {rank!r} or score {score!r} is not a number") from None
            hits = run.setdefault(qid, {})
            if docid in hits:
                raise InputError(f"{path}:{number}: document {docid} appears twice for query {qid}")
            hits[docid] = (position, value)
    return {qid: {d: score for d, (_, score) in sorted(hits.items(), key=lambda item: item[1][0])}
            for qid, hits in run.items()}


def ranking(hits: dict) -> list[str]:
    """Docids in trec_eval's order: score descending, then docid descending."""
    return [d for d, _ in sorted(hits.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def _score(measure: Measure, hits: dict, judged: dict) -> float:
    """One query's value; ``hits`` is {docid: score} in the run's rank order."""
    ranked = list(hits) if measure.name == "MRR" else ranking(hits)
    if measure.name == "nDCG":
        gains = sorted((g for g in judged.values() if g > 0), reverse=True)
        if not gains:
            return 0.0
        k = measure.cutoff
        dcg = sum(max(judged.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
        ideal = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:k]))
        return dcg / ideal
    relevant = {d for d, g in judged.items() if g >= measure.rel}
    if not relevant:
        return 0.0
    top = ranked[:measure.cutoff] if measure.cutoff else ranked
    if measure.name in ("RR", "MRR"):
        return next((1.0 / (i + 1) for i, d in enumerate(top) if d in relevant), 0.0)
    if measure.name == "R":
        return sum(d in relevant for d in top) / len(relevant)
    if measure.name == "P":
        return sum(d in relevant for d in top) / measure.cutoff
    found, total = 0, 0.0
    for i, d in enumerate(top):
        if d in relevant:
            found += 1
            total += found / (i + 1)
    return total / len(relevant)


def evaluate(run: dict, qrels: dict, measures=DEFAULT_MEASURES) -> tuple[dict, dict]:
    """(means, per-query values) for each measure; measures are names like 'nDCG@10' or Measure objects."""
    parsed = [m if isinstance(m, Measure) else parse_measure(m) for m in measures]
    means, per_query = {}, {}
    for measure in parsed:
        values = {qid: _score(measure, run.get(qid, {}), judged) for qid, judged in qrels.items()}
        means[str(measure)] = sum(values.values()) / len(values) if values else 0.0
        per_query[str(measure)] = values
    return means, per_query


def metrics_path(run: str | Path) -> Path:
    """``runs/x.trec`` -> ``runs/x.metrics.json`` (likewise .tsv, .txt); other names get ``.metrics.json`` appended."""
    run = Path(run)
    stem = run.name
    for suffix in (".trec", ".tsv", ".txt"):
        if stem.endswith(suffix):
            stem = stem[:-len(suffix)]
            break
    return run.with_name(stem + ".metrics.json")


def evaluate_run(run_path: str | Path, qrels_source: str | Path, measures=DEFAULT_MEASURES,
                 output: str | Path | None = None, extra: dict | None = None) -> dict:
    """Evaluate a run file against qrels, write the metrics JSON (plus ``extra`` fields) next to the run."""
    run = read_run(run_path)
    qrels = read_qrels(qrels_source)
    means, per_query = evaluate(run, qrels, measures)
    judged_in_run = sum(1 for q in run if q in qrels)
    result = {"run": str(run_path), "qrels": str(qrels_source), "queries_in_qrels": len(qrels),
              "queries_in_run": len(run), "queries_evaluated": judged_in_run, "metrics": means,
              "per_query": per_query, **(extra or {})}
    out = Path(output) if output else metrics_path(run_path)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def format_table(metrics: dict, title: str = "") -> str:
    width = max(len(m) for m in metrics)
    lines = [title] if title else []
    lines += [f"{name:<{width}}  {value:.4f}" for name, value in metrics.items()]
    return "\n".join(lines)
