"""Results tables: metrics JSON files (written by ``eval``) collected into one table, as Markdown or CSV.

One row per run (topic set and system: the SPLADE model tag, or ``bm25``), one column per measure, then the
search's cost where recorded: FLOPS, touched postings per query, latency percentiles, throughput and index size.
BM25 rows sit next to the SPLADE rows of the same topics so every table shows what SPLADE buys over BM25. Each run is
tested against the baseline system's run of the same topics (paired t-test over the judged queries, from the
per-query values the metrics files keep); a significant difference is marked with ``*`` (Markdown), or shown as
``<measure> p`` columns (CSV).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import pandas

from ..errors import InputError

# search facts shown beside the measures (from <run>.search.json, copied into the metrics file)
COST_COLUMNS = (("FLOPS", "flops"), ("postings/query", "touched_postings_per_query"), ("q/s", "throughput_qps"))


def metrics_files(paths: Iterable[str | Path]) -> list[Path]:
    """The ``*.metrics.json`` files named, or found in the directories named."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(path.glob("*.metrics.json"))
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    if not found:
        raise InputError(f"no *.metrics.json files in {', '.join(map(str, paths))} (run eval first)")
    return found


def collect(paths: Iterable[str | Path], baseline: str | None = None) -> pandas.DataFrame:
    """A table with columns topics, system, queries, then one per measure (in first-seen order), then costs. With a
    ``baseline`` system, ``<measure> p`` columns hold each other run's p-value against that system's run of the
    same topics."""
    rows, per_query, measures = [], [], []
    for path in metrics_files(paths):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{err.lineno}: malformed metrics JSON ({err.msg})") from None
        if not isinstance(result, dict) or "metrics" not in result:
            raise InputError(f"{path}: not a metrics file written by splade-anserini eval")
        run = Path(result.get("run", path.name))
        search = result.get("search") or {}
        costs = {label: search.get(key) for label, key in COST_COLUMNS}
        if search.get("engine") not in (None, "lucene"):  # which engine, and whether its setting is exact
            costs.update(engine=search["engine"], exact=search.get("exact"))
        latency = search.get("latency_ms") or {}
        costs.update({f"{p} ms": latency.get(p) for p in ("p50", "p95", "p99")})
        if search.get("index_bytes") is not None:
            costs["index MB"] = search["index_bytes"] / 2 ** 20
        rows.append({"topics": result.get("topics_name") or run.name.split(".")[0],
                     "system": result.get("system") or ".".join(run.name.split(".")[1:-1]) or run.stem,
                     "queries": result.get("queries_in_qrels"), **result["metrics"], **costs})
        per_query.append(result.get("per_query") or {})
        measures += list(result["metrics"])
    table = pandas.DataFrame(rows).dropna(axis=1, how="all")  # no cost columns where no run has them
    if baseline:
        _add_p_values(table, per_query, baseline, measures)
    # BM25 first within each topic set: the baseline, then what improves on it
    table["_order"] = table["system"] != "bm25"
    return table.sort_values(["topics", "_order", "system"], kind="stable").drop(columns="_order").reset_index(drop=True)


def _add_p_values(table: pandas.DataFrame, per_query: list, baseline: str, measures: list) -> None:
    """``<measure> p`` columns: each run's paired t-test p-value against the ``baseline`` system's run of the same
    topics (empty for the baseline itself and where it has no run)."""
    from ..compare import compare_per_query
    measures = list(dict.fromkeys(measures))
    for measure in measures:
        values = []
        for position, row in table.iterrows():
            base = table.index[(table["topics"] == row["topics"]) & (table["system"] == baseline)]
            mine = per_query[position].get(measure)
            theirs = per_query[base[0]].get(measure) if len(base) else None
            if row["system"] == baseline or mine is None or theirs is None or set(mine) != set(theirs):
                values.append(None)
            else:
                values.append(compare_per_query(theirs, mine)["p_value"])
        if any(v is not None for v in values):
            table.insert(list(table.columns).index(measure) + 1, f"{measure} p", values)


def to_markdown(table: pandas.DataFrame, digits: int = 4, alpha: float = 0.05, baseline: str | None = None) -> str:
    """A GitHub Markdown table (written here: pandas' own needs the optional tabulate package); a measure whose
    ``p`` column is below ``alpha`` gets a ``*`` and the p columns themselves are left out."""
    def cell(value) -> str:
        if isinstance(value, float):
            return "" if value != value else f"{value:.{digits}f}"
        return "" if value is None else str(value)

    p_columns = [c for c in table.columns if str(c).endswith(" p")]
    shown = [c for c in table.columns if c not in p_columns]
    header = "| " + " | ".join(shown) + " |"
    rule = "|" + "|".join("---" if i < 2 else "---:" for i in range(len(shown))) + "|"
    body = []
    for _, row in table.iterrows():
        cells = []
        for column in shown:
            text = cell(row[column])
            p = row.get(f"{column} p")
            if p is not None and p == p and p < alpha:
                text += "*"
            cells.append(text)
        body.append("| " + " | ".join(cells) + " |")
    lines = [header, rule, *body]
    if p_columns and table[p_columns].notna().any().any():
        lines.append(f"\n\\* p < {alpha} against {baseline} on the same topics (two-sided paired t-test over the "
                     f"judged queries)")
    return "\n".join(lines)


def plot(paths: Iterable[str | Path], output: str | Path, y: str = "nDCG@10", x: str = "FLOPS",
         title: str | None = None) -> Path:
    """Effectiveness against cost for a set of runs, one labelled point each, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt
    table = collect(paths)
    for column in (x, y):
        if column not in table.columns:
            raise InputError(f"no run here has {column!r} (columns: {', '.join(map(str, table.columns))})")
    points = table.dropna(subset=[x, y])
    if points.empty:
        raise InputError(f"no run has both {x} and {y}")
    figure, axes = plt.subplots(figsize=(6, 4.2), dpi=150)
    axes.scatter(points[x], points[y], color="tab:blue", zorder=3)
    for _, row in points.iterrows():
        axes.annotate(f"{row['system']}\n({row['topics']})", (row[x], row[y]), textcoords="offset points",
                      xytext=(6, 4), fontsize=7)
    axes.set_xlabel({"FLOPS": "FLOPS (expected multiplications per query-document pair)"}.get(x, x))
    axes.set_ylabel(y)
    axes.set_title(title or f"{y} against {x}")
    axes.grid(True, alpha=0.3)
    axes.margins(x=0.25, y=0.15)
    figure.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output)
    plt.close(figure)
    return output


def report(paths: Iterable[str | Path], fmt: str = "markdown", digits: int = 4, baseline: str | None = "bm25",
           alpha: float = 0.05, require_baseline: bool = False) -> str:
    """The table of :func:`collect` as Markdown or CSV. With ``require_baseline`` (a baseline the user named), a
    baseline that is the system of no run is an error instead of a table without tests."""
    table = collect(paths, baseline)
    if require_baseline and baseline not in set(table["system"]):
        raise InputError(f"--baseline {baseline!r} is the system of none of these runs (systems: "
                         f"{', '.join(sorted(set(table['system'])))})")
    if fmt == "csv":
        return table.to_csv(index=False, float_format=f"%.{digits}f")
    if fmt == "markdown":
        return to_markdown(table, digits, alpha, baseline)
    raise InputError(f"report format must be markdown or csv, not {fmt!r}")
