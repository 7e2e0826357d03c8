"""Run fusion: several runs of the same topics -> one run, as IR papers combine BM25 with a learned sparse run.

Plain files only (no model, no JVM). Methods, for each query over the union of the documents its runs retrieved:

- ``rrf`` (reciprocal rank fusion, Cormack et al. 2009): ``sum_i w_i / (k + rank_i(d))``, ranks from 1 in each run's
  own order; a document a run did not retrieve gets nothing from it. Scores are ignored, so runs on different
  scales (BM25's, SPLADE's integer impacts) need no normalisation.
- ``interpolate``: ``sum_i w_i * norm_i(d)``, each run's scores normalised per query (``minmax`` by default); a
  document a run did not retrieve takes that run's lowest normalised score for the query (it ranked below the run's
  last hit, and anything lower would invent a score the run never gave). With two runs, ``--weights 0.3 0.7`` is
  ``0.3 * first + 0.7 * second``.
- ``combsum`` (Fox and Shaw 1994): ``sum_i w_i * norm_i(d)`` over the runs that retrieved ``d`` (a missing
  document adds 0), so documents found by several runs rise.

A query in only some of the runs is fused from those. Weights default to 1 each (``interpolate``: 1 / the number of
runs). The fused run is ranked as every run here is (score descending, then docid), after rounding scores to the
six decimals the run file keeps, so the file's ranks agree with its scores for any reader. Beside it,
``<run>.search.json`` records the method, its parameters and each input with its SHA-256.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from .errors import InputError
from .formats.artifacts import sha256_file, write_atomically
from .formats.runs import (
    format_run,
    prepare_run_output,
    read_run,
    search_facts_path,
    write_run_file,
)
from .settings import FUSE, FUSE_METHODS, FUSE_NORMALIZATIONS, SEARCH

METHODS = FUSE_METHODS
NORMALIZATIONS = FUSE_NORMALIZATIONS
SCORE_DECIMALS = 6  # what format_run writes; fused scores are ranked at this precision


def _normalized(hits: dict, how: str) -> dict:
    """{docid: score} of one query's hits, normalised over those hits."""
    if how == "none" or not hits:
        return dict(hits)
    values = list(hits.values())
    if how == "minmax":
        low, high = min(values), max(values)
        # one distinct score: the run does not tell its hits apart, so any constant ranks alike
        return {d: (s - low) / (high - low) if high > low else 1.0 for d, s in hits.items()}
    mean, spread = statistics.fmean(values), statistics.pstdev(values)
    return {d: (s - mean) / spread if spread > 0 else 0.0 for d, s in hits.items()}


def check_settings(count: int, method: str, k: float, weights, normalize: str | None) -> tuple[list, str]:
    """(weights, normalisation) in effect; one sentence for what does not fit."""
    if method not in METHODS:
        raise InputError(f"fusion method must be one of {', '.join(METHODS)}, not {method!r}")
    if count < 2:
        raise InputError(f"fusion needs at least two runs, got {count}")
    if method == "rrf":
        if normalize not in (None, "none"):
            raise InputError("rrf fuses ranks, not scores: --normalize applies to interpolate and combsum only")
        if not isinstance(k, (int, float)) or isinstance(k, bool) or k < 0:
            raise InputError(f"the rrf constant k must be a non-negative number, not {k!r}")
    elif normalize is not None and normalize not in NORMALIZATIONS:
        raise InputError(f"normalisation must be one of {', '.join(NORMALIZATIONS)}, not {normalize!r}")
    if weights is None:
        weights = [1.0 / count] * count if method == "interpolate" else [1.0] * count
    weights = list(weights)
    if len(weights) != count:
        raise InputError(f"{len(weights)} weights for {count} runs; give one weight per run, in the runs' order")
    if any(not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0 for w in weights):
        raise InputError(f"fusion weights must be non-negative numbers, not {weights}")
    return [float(w) for w in weights], "none" if method == "rrf" else (normalize or FUSE.normalize)


def fuse_runs(runs: list, method: str = FUSE.method, *, k: float = FUSE.k, weights=None,
              normalize: str | None = None) -> dict:
    """{qid: [(docid, fused score), ...]} ranked by score (rounded as written) descending, then docid. ``runs`` are
    {qid: {docid: score}} with each query's hits in rank order (as :func:`~.formats.runs.read_run` gives them)."""
    weights, normalize = check_settings(len(runs), method, k, weights, normalize)
    queries = list(dict.fromkeys(qid for run in runs for qid in run))
    fused = {}
    for qid in queries:
        scores: dict = {}
        for run, weight in zip(runs, weights):
            hits = run.get(qid)
            if not hits:
                continue
            if method == "rrf":
                for rank, docid in enumerate(hits, start=1):
                    scores[docid] = scores.get(docid, 0.0) + weight / (k + rank)
                continue
            values = _normalized(hits, normalize)
            for docid, value in values.items():
                scores[docid] = scores.get(docid, 0.0) + weight * value
        if method == "interpolate":  # a document a run missed takes that run's lowest score for the query
            for run, weight in zip(runs, weights):
                hits = run.get(qid)
                if hits:
                    values = _normalized(hits, normalize)
                    floor = min(values.values())
                    for docid in scores:
                        if docid not in values:
                            scores[docid] += weight * floor
        ranked = sorted(((d, round(s, SCORE_DECIMALS)) for d, s in scores.items()), key=lambda h: h[0])
        ranked.sort(key=lambda h: h[1], reverse=True)  # stable: equal scores stay in docid order
        fused[qid] = ranked
    return fused


def fuse(inputs: list, output: str | Path, method: str = FUSE.method, *, k: float = FUSE.k, weights=None,
         normalize: str | None = None, depth: int = SEARCH.k, tag: str | None = None, overwrite: bool = False) -> dict:
    """Fuse the run files ``inputs`` into ``output`` (the top ``depth`` of each query) and write its search facts;
    returns them."""
    started = time.time()
    inputs = [Path(p) for p in inputs]
    weights, normalize = check_settings(len(inputs), method, k, weights, normalize)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise InputError(f"the fused run's depth must be a positive integer, not {depth!r}")
    output = prepare_run_output(output, overwrite, inputs)
    runs = [read_run(path) for path in inputs]
    fused = fuse_runs(runs, method, k=k, weights=weights, normalize=normalize)
    lines = format_run(fused, depth, tag or f"splade-anserini.fuse-{method}")
    write_run_file(output, lines)
    facts = {"kind": "run", "engine": "fuse", "method": method,
             "k": depth, "rrf_k": k if method == "rrf" else None, "weights": weights,
             "normalize": None if method == "rrf" else normalize,
             "inputs": [{"run": str(path), "sha256": sha256_file(path), "queries": len(run)}
                        for path, run in zip(inputs, runs)],
             "queries": len(fused), "lines": len(lines), "search_seconds": round(time.time() - started, 3)}
    write_atomically(search_facts_path(output), json.dumps(facts, indent=2) + "\n")
    return facts
