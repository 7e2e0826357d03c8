"""Two runs compared query by query, as IR papers report it: per-measure means, the paired t-test's p-value over the
same judged queries, and wins/ties/losses (queries where the second run scores higher, equal, lower).

Every query in the qrels counts, with 0 where a run has no hits, exactly as in the means that ``eval`` reports.
"""

from __future__ import annotations

import math
from pathlib import Path

from .errors import InputError


def paired_t_test(baseline: list[float], other: list[float]) -> float:
    """Two-sided p-value of the paired t-test of ``other`` against ``baseline`` (the same queries, in order); 1.0
    when the two agree on every query, and when there are fewer than two queries."""
    if len(baseline) != len(other):
        raise ValueError("paired values must have the same length")
    if len(baseline) < 2 or all(a == b for a, b in zip(baseline, other)):
        return 1.0
    from scipy.stats import ttest_rel
    p = float(ttest_rel(other, baseline).pvalue)
    return 1.0 if math.isnan(p) else p  # every difference the same non-zero value: no variance to test with


def compare_per_query(baseline: dict, other: dict) -> dict:
    """Means, difference, p-value and wins/ties/losses of ``other`` against ``baseline``, two {qid: value} maps of
    one measure over the same queries."""
    queries = sorted(baseline)
    a = [baseline[q] for q in queries]
    b = [other.get(q, 0.0) for q in queries]
    return {"baseline": sum(a) / len(a) if a else 0.0, "run": sum(b) / len(b) if b else 0.0,
            "difference": (sum(b) - sum(a)) / len(a) if a else 0.0, "p_value": paired_t_test(a, b),
            "wins": sum(y > x for x, y in zip(a, b)), "ties": sum(y == x for x, y in zip(a, b)),
            "losses": sum(y < x for x, y in zip(a, b)), "queries": len(queries)}


def compare_runs(baseline: str | Path, run: str | Path, qrels: str | Path, measures) -> dict:
    """``run`` against ``baseline`` on ``qrels``, for each measure."""
    from .evaluate import evaluate, overlap
    from .formats.readers import read_qrels
    from .formats.runs import read_run
    judged = read_qrels(qrels)
    runs = [read_run(baseline), read_run(run)]
    shared = []
    for path, hits in zip((baseline, run), runs):
        if not hits:
            raise InputError(f"{path}: the run is empty (no hits at all); nothing to compare")
        shared.append(overlap(hits, judged, path, qrels))
    (_, per_a), (_, per_b) = (evaluate(hits, judged, measures) for hits in runs)
    return {"baseline": str(baseline), "run": str(run), "qrels": str(qrels),
            "shared": {"baseline": shared[0], "run": shared[1]},
            "measures": {m: compare_per_query(per_a[m], per_b[m]) for m in per_a}}


def format_comparison(result: dict, alpha: float = 0.05) -> str:
    rows = result["measures"]
    width = max([len(m) for m in rows] + [7])
    lines = [f"baseline: {result['baseline']}", f"run:      {result['run']}",
             f"{'measure':<{width}}  {'baseline':>8}  {'run':>8}  {'diff':>8}  {'p':>7}  {'wins/ties/losses':>16}"]
    for measure, r in rows.items():
        mark = " *" if r["p_value"] < alpha else ""
        lines.append(f"{measure:<{width}}  {r['baseline']:>8.4f}  {r['run']:>8.4f}  {r['difference']:>+8.4f}  "
                     f"{r['p_value']:>7.4f}  {r['wins']:>6}/{r['ties']}/{r['losses']}{mark}")
    queries = next(iter(rows.values()))["queries"] if rows else 0
    lines.append(f"({queries} judged queries; p: two-sided paired t-test; * p < {alpha}; wins: queries where the run "
                 f"scores higher than the baseline)")
    return "\n".join(lines)
