"""Sparsity and cost: how many terms documents and queries carry, and what a query costs.

Two costs of a query against an index (both reported, both asked for):
- FLOPS as defined in the SPLADE papers, the expected number of multiplications between a query and a document,
  ``sum_j p_q(j) * p_d(j)``, where ``p_d(j)`` is the share of documents with a non-zero weight for term ``j`` and
  ``p_q(j)`` the share of queries;
- touched postings, what a search engine actually reads: the sum of the posting-list lengths (document
  frequencies) of a query's terms, averaged over the queries.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable

from .formats.collection import load_collection


def percentiles(values: list, points=(50, 90, 99)) -> dict:
    """Nearest-rank percentiles (p50, p90, ...) of a list of numbers."""
    if not values:
        return {f"p{p}": None for p in points}
    ordered = sorted(values)
    return {f"p{p}": ordered[min(len(ordered) - 1, max(0, -(-p * len(ordered) // 100) - 1))] for p in points}


def query_costs(vectors: Iterable[dict], df: dict, documents: int) -> dict:
    """FLOPS (SPLADE's definition) and touched postings of queries against documents with the given document
    frequencies ``df`` (a mapping term -> number of documents holding it)."""
    vectors = [v for v in vectors]
    if not vectors or not documents:
        return {"queries": len(vectors), "flops": None, "touched_postings_per_query": None}
    in_queries = Counter(term for vector in vectors for term, weight in vector.items() if weight)
    flops = sum(count / len(vectors) * df.get(term, 0) / documents for term, count in in_queries.items())
    touched = [sum(df.get(term, 0) for term, weight in vector.items() if weight) for vector in vectors]
    return {"queries": len(vectors), "flops": flops, "touched_postings_per_query": sum(touched) / len(touched),
            "query_terms": {"mean": sum(map(len, vectors)) / len(vectors), **percentiles([len(v) for v in vectors])}}


def collection_stats(directory: str | Path, queries: Iterable[dict] | None = None, top: int = 10) -> dict:
    """Statistics of an encoded collection, and of queries (vectors) against it when given."""
    manifest, parts = load_collection(directory)
    df: Counter = Counter()
    lengths = []
    for part in parts:
        with open(part, encoding="utf-8") as lines:
            for line in lines:
                vector = json.loads(line)["vector"]
                df.update(term for term, weight in vector.items() if weight)
                lengths.append(sum(1 for weight in vector.values() if weight))
    vocab = manifest.get("vocab_size")
    stats = {
        "collection": str(directory), "documents": len(lengths), "postings": sum(lengths),
        "document_terms": {"mean": sum(lengths) / max(len(lengths), 1), **percentiles(lengths)},
        "vocabulary_used": len(df), "vocabulary_size": vocab,
        "vocabulary_share": len(df) / vocab if vocab else None,
        "largest_posting_lists": [{"term": t, "documents": n} for t, n in df.most_common(top)],
    }
    if queries is not None:
        stats["queries"] = query_costs(queries, df, len(lengths))
    return stats


def format_stats(stats: dict) -> str:
    terms = stats["document_terms"]
    lines = [f"{stats['collection']}: {stats['documents']} documents, {stats['postings']} postings",
             f"terms per document: mean {terms['mean']:.1f}, p50 {terms['p50']}, p90 {terms['p90']}, p99 {terms['p99']}",
             f"vocabulary used: {stats['vocabulary_used']} of {stats['vocabulary_size']}"
             + (f" ({stats['vocabulary_share']:.1%})" if stats["vocabulary_share"] is not None else ""),
             "largest posting lists: " + ", ".join(f"{e['term']} ({e['documents']})"
                                                   for e in stats["largest_posting_lists"])]
    queries = stats.get("queries")
    if queries and queries["flops"] is not None:
        q = queries["query_terms"]
        lines += [f"queries: {queries['queries']}, terms per query: mean {q['mean']:.1f}, p50 {q['p50']}, "
                  f"p90 {q['p90']}, p99 {q['p99']}",
                  f"FLOPS (expected multiplications per query-document pair): {queries['flops']:.3f}",
                  f"touched postings per query: {queries['touched_postings_per_query']:.0f}"]
    return "\n".join(lines)
