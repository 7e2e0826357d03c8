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
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, SpladeAnseriniWarning
from .formats.artifacts import check_separate, write_atomically
from .formats.readers import read_qrels
from .formats.runs import metrics_path, read_run, search_facts_path
from .settings import MEASURES

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


def evaluate(run: dict, qrels: dict, measures=MEASURES) -> tuple[dict, dict]:
    """(means, per-query values) for each measure; measures are names like 'nDCG@10' or Measure objects."""
    parsed = [m if isinstance(m, Measure) else parse_measure(m) for m in measures]
    means, per_query = {}, {}
    for measure in parsed:
        values = {qid: _score(measure, run.get(qid, {}), judged) for qid, judged in qrels.items()}
        means[str(measure)] = sum(values.values()) / len(values) if values else 0.0
        per_query[str(measure)] = values
    return means, per_query


def overlap(run: dict, qrels: dict, run_path, qrels_source) -> dict:
    """How many of the run's queries and document ids the qrels know: {"queries", "run_queries", "documents",
    "run_documents"}. A run that shares no query, or no document id, with the qrels is refused: they are the qrels
    of other topics or of another collection (whose numeric query ids may well overlap this run's)."""
    queries = sum(1 for q in run if q in qrels)
    if not queries:
        raise InputError(f"{run_path} shares no query with {qrels_source} (run: {len(run)} queries, e.g. "
                         f"{', '.join(list(run)[:3])}; qrels: {len(qrels)}, e.g. {', '.join(list(qrels)[:3])}); "
                         f"are these the qrels of this run's topics?")
    judged = {docid for grades in qrels.values() for docid in grades}
    retrieved = {docid for hits in run.values() for docid in hits}
    documents = len(retrieved & judged)
    if not documents:
        raise InputError(f"no document id of {run_path} occurs in {qrels_source} (run: e.g. "
                         f"{', '.join(sorted(retrieved)[:3])}; qrels: e.g. {', '.join(sorted(judged)[:3])}); are "
                         f"these the qrels of this run's collection?")
    return {"queries": queries, "run_queries": len(run), "documents": documents, "run_documents": len(retrieved)}


def describe_overlap(run_path, qrels_source, shared: dict) -> str:
    return (f"{run_path} and {qrels_source} share {shared['queries']} of the run's {shared['run_queries']} queries "
            f"and {shared['documents']} of its {shared['run_documents']} document ids")


def _same_run(recorded: str | None, run: Path) -> bool:
    """Whether a metrics file's recorded run is ``run`` (a path recorded relative to another directory counts as
    the same when the names agree)."""
    if not recorded:
        return False
    other = Path(recorded)
    if other.exists():
        return other.resolve() == run.resolve()
    return other.name == run.name


def evaluate_run(run_path: str | Path, qrels_source: str | Path, measures=MEASURES,
                 output: str | Path | None = None, extra: dict | None = None) -> dict:
    """Evaluate a run file against qrels and write the metrics JSON (plus the run's search facts, when it has them,
    and ``extra`` fields) next to the run, or to ``output``.

    A run that shares no query with the qrels is refused (wrong qrels, or an empty run), and so is an output that
    holds the metrics of another run or something that is not a metrics file."""
    run_path = Path(run_path)
    out = Path(output) if output else metrics_path(run_path)
    check_separate([run_path, qrels_source], out)
    if out.exists():
        try:
            previous = json.loads(out.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            previous = None
        if not isinstance(previous, dict) or "metrics" not in previous:
            raise InputError(f"{out} exists and is not a metrics file written by splade-anserini eval; not "
                             f"replacing it (choose another --output)")
        if not _same_run(previous.get("run_path") or previous.get("run"), run_path):
            raise InputError(f"{out} holds the metrics of another run ({previous.get('run')}); not replacing them "
                             f"(choose another --output)")
    run = read_run(run_path)
    qrels = read_qrels(qrels_source)
    if not run:
        raise InputError(f"{run_path}: the run is empty (no hits at all); nothing to evaluate")
    shared = overlap(run, qrels, run_path, qrels_source)
    judged_in_run = shared["queries"]
    if judged_in_run < len(qrels) / 2:
        warnings.warn(f"only {judged_in_run} of the {len(qrels)} judged queries have hits in {run_path}; the "
                      f"others count as 0 in every mean", SpladeAnseriniWarning, stacklevel=2)
    means, per_query = evaluate(run, qrels, measures)
    facts = search_facts_path(run_path)
    search = json.loads(facts.read_text(encoding="utf-8")) if facts.is_file() else None
    result = {"run": str(run_path), "run_path": str(run_path.resolve()), "qrels": str(qrels_source),
              "queries_in_qrels": len(qrels), "queries_in_run": len(run), "queries_evaluated": judged_in_run,
              "shared": shared,
              "metrics": means, "per_query": per_query, "search": search, **(extra or {})}
    write_atomically(out, json.dumps(result, indent=2) + "\n")
    return result


def format_table(metrics: dict, title: str = "") -> str:
    width = max(len(m) for m in metrics)
    lines = [title] if title else []
    lines += [f"{name:<{width}}  {value:.4f}" for name, value in metrics.items()]
    return "\n".join(lines)
