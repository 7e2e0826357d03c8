"""Run files and what lies beside them; plain files, no model and no JVM.

A run is TREC format (``qid Q0 docid rank score tag``) or MS MARCO format (``qid<TAB>docid<TAB>rank``). Beside a
run ``x.trec`` live ``x.trec.search.json`` (how it was made: settings, timings, costs; it marks the file as a run that
splade-anserini wrote), ``x.metrics.json`` (its evaluation) and ``x.config.yaml`` (the experiment's effective
config, when a config made it).
"""

from __future__ import annotations

import heapq
import math
from operator import itemgetter
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..settings import RUN_FORMATS
from .artifacts import check_separate, write_atomically
from .readers import check_id, numbered_lines


def search_facts_path(run: str | Path) -> Path:
    """Where a run's search facts (settings, timings, costs) are kept: beside it, ``<run>.search.json``."""
    return Path(str(run) + ".search.json")


def metrics_path(run: str | Path) -> Path:
    """``runs/x.trec`` -> ``runs/x.metrics.json`` (likewise .tsv, .txt); other names get ``.metrics.json`` appended."""
    run = Path(run)
    stem = run.name
    for suffix in (".trec", ".tsv", ".txt"):
        if stem.endswith(suffix):
            stem = stem[:-len(suffix)]
            break
    return run.with_name(stem + ".metrics.json")


def config_path(run: str | Path) -> Path:
    """Where the effective experiment config is saved beside a run."""
    metrics = metrics_path(run)
    return metrics.with_name(metrics.name[:-len(".metrics.json")] + ".config.yaml")


def prepare_run_output(run: str | Path, overwrite: bool, inputs=()) -> Path:
    """Check that a run may be written at ``run``: a new path, or (with ``overwrite``) a run that splade-anserini
    wrote, whose stale metrics and config are then removed (the search facts are rewritten with the run)."""
    run = Path(run)
    check_separate(inputs, run)
    if run.is_dir():
        raise InputError(f"{run} is a directory; give the run file's path")
    if run.exists():
        if not overwrite:
            raise InputError(f"{run} already exists; pass --overwrite to replace it (its metrics go with it), or "
                             f"choose another output")
        if not search_facts_path(run).is_file():
            raise InputError(f"{run} has no {search_facts_path(run).name} beside it, so it is not a run that "
                             f"splade-anserini wrote; --overwrite will not replace it")
        for stale in (metrics_path(run), config_path(run)):
            stale.unlink(missing_ok=True)
    return run


def rank_hits(hits: list) -> list:
    """(docid, score) pairs by score descending, then docid ascending (Anserini's order); two stable C-keyed sorts
    are several times faster than one sort on a (-score, docid) key."""
    hits = sorted(hits, key=itemgetter(0))
    hits.sort(key=itemgetter(1), reverse=True)  # reverse keeps equal scores in docid order: Python sorts are stable
    return hits


def anserini_top_k(hits: list, k: int) -> list:
    """The top ``k`` of (docid, score) ``hits``, in any order, as Anserini reports them: ranked by score, then docid
    (so the cut at k among tied scores is Anserini's, whatever order the engine found them in), with the scores
    Anserini prints (:func:`adjust_ties`). Every engine's hits end here; the engines fetch enough hits that all the
    documents tied with the k-th score are in ``hits``."""
    if len(hits) > k:
        floor = heapq.nlargest(k, (score for _, score in hits))[-1]
        hits = [hit for hit in hits if hit[1] >= floor]  # fewer to sort
    ranked = rank_hits(hits)[:k]
    return list(zip([docid for docid, _ in ranked], adjust_ties([score for _, score in ranked])))


def adjust_ties(scores: Sequence[float]) -> list[float]:
    """Anserini's ``ScoreTiesAdjusterReranker``, to the bit, for ranked scores: round each to 4 decimals, then
    lower the n-th member of a run of (near-)ties by n * 1e-6, in float32 as Java does. Anserini (and so Pyserini)
    reports these scores; where the float can hold the step they keep trec_eval, which re-sorts ties by docid
    descending, on the run's own order."""
    if not len(scores):
        return []
    import numpy  # here, not at the top: this module reads and writes plain files, and fuse needs no numpy
    f32 = numpy.float32
    tie_gap, tie_step = f32(1e-4), f32(1e-6)
    wide = numpy.asarray(scores, dtype=numpy.float64) * 10000.0
    whole = numpy.floor(wide)
    whole += (wide - whole) >= 0.5  # Java's Math.round: half up
    rounded = (whole / 10000.0).astype(numpy.float32)
    # Fast path: a run continues while the previous (adjusted) score is within 1e-4 of this one. Assume the runs
    # are those of the rounded scores, adjust, then confirm the assumption on the adjusted scores.
    tied = numpy.empty(len(rounded), dtype=bool)
    tied[0] = False
    tied[1:] = (rounded[:-1] - rounded[1:]) <= tie_gap
    starts = numpy.flatnonzero(~tied)
    positions = numpy.arange(len(rounded))
    dup = (positions - starts[numpy.searchsorted(starts, positions, side="right") - 1]).astype(numpy.float32)
    adjusted = rounded - tie_step * dup
    if numpy.array_equal(tied[1:], (adjusted[:-1] - rounded[1:]) <= tie_gap):
        return adjusted.astype(numpy.float64).tolist()
    out, run = rounded.copy(), 0  # the exact sequential rule, for the rare run whose steps cross a gap
    for i in range(1, len(out)):
        run = run + 1 if out[i - 1] - out[i] <= tie_gap else 0
        out[i] = out[i] - tie_step * f32(run)
    return out.astype(numpy.float64).tolist()


def format_run(results: dict, k: int, tag: str, remove_query: bool = False, run_format: str = "trec") -> list[str]:
    """Run lines, hits ranked by score then docid (deterministic ties): TREC ``qid Q0 docid rank score tag``
    or MS MARCO ``qid<TAB>docid<TAB>rank``. ``results`` is {qid: [(docid, score), ...]}."""
    if run_format not in RUN_FORMATS:
        raise InputError(f"run format must be one of {RUN_FORMATS}, not {run_format!r}")
    lines = []
    for qid, hits in results.items():
        pairs = rank_hits([h for h in hits if not (remove_query and h[0] == qid)])
        for rank, (docid, score) in enumerate(pairs[:k], start=1):
            if run_format == "trec":
                lines.append(f"{qid} Q0 {docid} {rank} {score:.6f} {tag}\n")
            else:
                lines.append(f"{qid}\t{docid}\t{rank}\n")
    return lines


def write_run_file(path: Path, lines: list[str]) -> None:
    """Write run lines atomically (a reader never sees half a run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, "".join(lines))


def read_run(path: str | Path) -> dict:
    """A TREC or MS MARCO run as {qid: {docid: score}}, each query's hits in the file's rank order (an MS MARCO run's
    scores are minus the ranks); errors name file and line: a malformed line, an invalid id (see
    :func:`~.readers.check_id`), a score that is not a finite number."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such run file")
    run: dict = {}
    for number, line in numbered_lines(path):
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
        where = f"{path}:{number}"
        try:
            value, position = float(score), int(rank)
        except ValueError:
            raise InputError(f"{where}: rank {rank!r} or score {score!r} is not a number") from None
        if not math.isfinite(value):  # float() reads nan, inf and 1e999 (inf); no ranking can use them
            raise InputError(f"{where}: score {score!r} is not a finite number")
        check_id(qid, where, "query id")
        check_id(docid, where, "document id")
        hits = run.setdefault(qid, {})
        if docid in hits:
            raise InputError(f"{path}:{number}: document {docid} appears twice for query {qid}")
        hits[docid] = (position, value)
    return {qid: {d: score for d, (_, score) in sorted(hits.items(), key=lambda item: item[1][0])}
            for qid, hits in run.items()}
