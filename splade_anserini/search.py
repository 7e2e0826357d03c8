"""The search job: topics -> query vectors -> Lucene impact search -> a run file (TREC or MS MARCO format), with
its search facts (settings, timings, costs) beside it.

The index's manifest is read once: it decides the query model, scale and pooling (unless given), and it is checked
against the query side (:func:`check_compatible`). Queries are encoded in batches, or read pre-encoded; the scoring is
:class:`~splade_anserini.lucene.searcher.ImpactSearcher`'s, exactly Anserini's.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from .errors import InputError
from .formats.artifacts import INDEX, MANIFEST, read_manifest, write_atomically
from .formats.readers import read_topics
from .formats.runs import RUN_FORMATS, format_run, prepare_run_output, search_facts_path, write_run_file
from .formats.topics import check_encoded, read_encoded_topics
from .lucene.queries import SpladeQueryEncoder, encode_topics
from .lucene.searcher import ImpactSearcher
from .model.models import vocabulary
from .settings import SEARCH
from .stats import percentiles, query_costs

LATENCY_QUERIES = 1000


def check_compatible(settings: dict, manifest: dict, where: str, allow_mismatch: bool = False) -> list[str]:
    """Compare query settings with the index's; refuse a mismatch (scores would be wrong) unless allowed.

    The model is compared by what determines the vectors, the checksums of its weights and tokenizer, where both
    sides recorded them (an identical copy at another path matches, a retrained checkpoint at the same path does
    not); by name otherwise. Returns the problems found (empty when all is well); with ``allow_mismatch`` they are
    printed as a warning."""
    problems = []
    ours, theirs = settings.get("model_identity"), manifest.get("model_identity")
    if ours and theirs:
        for part in ("weights", "tokenizer"):
            if ours.get(part) != theirs.get(part):
                problems.append(f"model {settings.get('model')!r} has other {part} than the index's "
                                f"{manifest.get('model')!r} (sha256 {str(ours.get(part))[:12]} vs "
                                f"{str(theirs.get(part))[:12]})")
    else:
        model, index_model = settings.get("model"), manifest.get("model")
        same_model = model == index_model or (settings.get("model_path") is not None
                                              and settings.get("model_path") == manifest.get("model_path"))
        if model is not None and index_model is not None and not same_model:
            problems.append(f"model {model!r} vs index {index_model!r}")
    if None not in (settings.get("scale"), manifest.get("scale")) and settings["scale"] != manifest["scale"]:
        problems.append(f"scale {settings['scale']} vs index {manifest['scale']}")
    if None not in (settings.get("pooling"), manifest.get("pooling")) and settings["pooling"] != manifest["pooling"]:
        problems.append(f"pooling {settings['pooling']} vs index {manifest['pooling']}")
    if problems:
        message = f"Query settings do not match the index {where}: {'; '.join(problems)}"
        if not allow_mismatch:
            raise InputError(f"{message}. Leave --model/--scale unset to use the index's settings, or pass "
                             f"--allow-mismatch to search anyway.")
        print(f"WARNING: {message}; searching anyway (--allow-mismatch): scores mix two scales or models.",
              file=sys.stderr)
    return problems


def search_topics(index: str | Path, topics: str | Path | None, output: str | Path, *,
                  encoded_topics: str | Path | None = None, model: str | None = None, scale: float | None = None,
                  k: int = SEARCH.k, threads: int | None = SEARCH.threads, batch_size: int = SEARCH.batch_size,
                  query_max_length: int | None = SEARCH.query_max_length, min_idf: float = SEARCH.min_idf,
                  remove_query: bool = SEARCH.remove_query, run_format: str = SEARCH.format, tag: str | None = None,
                  fields: Sequence[str] | None = None, device: str | None = None, allow_mismatch: bool = False,
                  encoder: SpladeQueryEncoder | None = None, overwrite: bool = False) -> dict:
    """Search every query of ``topics`` (encoded on the fly) or of ``encoded_topics`` (a pre-encoded file, no model
    needed) on ``index`` and write a run to ``output``; returns facts about the run. An existing run at ``output`` is
    replaced only with ``overwrite`` (and then its stale metrics go with it)."""
    if k < 1:
        raise InputError("k must be at least 1")
    if (topics is None) == (encoded_topics is None):
        raise InputError("give either topics (encoded on the fly) or encoded_topics (a pre-encoded file), not both")
    if run_format not in RUN_FORMATS:
        raise InputError(f"run format must be one of {RUN_FORMATS}, not {run_format!r}")
    if encoded_topics is not None and (model, scale, query_max_length, encoder) != (None,) * 4:
        raise InputError("model, scale and query max length apply to encoding queries; pre-encoded topics carry "
                         "their own (re-encode them with encode-queries to change these)")
    if not Path(index).is_dir():
        raise InputError(f"{index}: no such index directory")
    # An index built elsewhere (e.g. by Anserini) has no manifest: pre-encoded topics can still search it.
    foreign = not (Path(index) / MANIFEST).is_file()
    if foreign and encoded_topics is None and encoder is None and (model is None or scale is None):
        raise InputError(f"{index} has no {MANIFEST} (not built by splade-anserini), so the query model and scale "
                         f"are unknown: pass --model and --scale, or search with --encoded-topics")
    manifest = {} if foreign else read_manifest(index, (INDEX,), "search")
    output = prepare_run_output(output, overwrite, [index, topics, encoded_topics])
    threads = threads or os.cpu_count() or 1
    started = time.time()
    if encoded_topics is not None:
        queries = read_encoded_topics(encoded_topics)
        check_encoded(queries, vocabulary(queries.settings.get("model_path") or manifest.get("model_path")))
        if not queries.settings:
            print(f"note: {encoded_topics} has no {Path(str(encoded_topics)).name}.manifest.json; its model and "
                  f"scale cannot be checked against the index", file=sys.stderr)
        problems = check_compatible(queries.settings, manifest, str(index), allow_mismatch)
    else:
        encoder = encoder or SpladeQueryEncoder(model, manifest=manifest, scale=scale, device=device,
                                                batch_size=batch_size, max_length=query_max_length)
        problems = check_compatible(encoder.settings, manifest, str(index), allow_mismatch)  # before the work
        queries = encode_topics(read_topics(topics, fields), encoder)
    encoded = time.time()
    with ImpactSearcher(index, min_idf=min_idf) as searcher:
        # One more hit per query where the query's own id may be dropped, so every query still gets k.
        retrieval = time.perf_counter()
        hits = searcher.batch_search(queries.vectors, k + int(remove_query), threads)
        retrieval = time.perf_counter() - retrieval
        if threads > 1:  # latency is a one-thread figure: time (up to LATENCY_QUERIES) queries again, one at a time
            searcher.latencies = []
            searcher.batch_search(queries.vectors[:LATENCY_QUERIES], k + int(remove_query), 1)
        kept = [searcher.kept_terms(vector) for vector in queries.vectors]
        costs = query_costs(kept, {t: searcher.df(t) for v in kept for t in v}, searcher.num_docs)
        latencies = [1000 * t for t in searcher.latencies]
    empty = [qid for qid, h in zip(queries.ids, hits) if not h]
    if empty:
        print(f"note: {len(empty)} of {len(queries)} queries got no hits (no query term occurs in the index with "
              f"idf > {min_idf}): {', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}", file=sys.stderr)
    name = queries.settings.get("model") or manifest.get("model") or "model"
    lines = format_run(dict(zip(queries.ids, hits)), k, tag or f"splade-anserini.{Path(str(name)).name}",
                       remove_query, run_format)
    write_run_file(output, lines)
    finished = time.time()
    facts = {"kind": "run", "index": str(index), "queries": len(queries), "lines": len(lines), "queries_without_hits": len(empty),
             "encode_seconds": round(encoded - started, 3), "search_seconds": round(finished - encoded, 3),
             "k": k, "threads": threads, "min_idf": min_idf, "format": run_format, "query_source": queries.source,
             "query_settings": queries.settings, "mismatch": problems,
             "latency_ms": {key: round(value, 3) for key, value in percentiles(latencies, (50, 95, 99)).items()},
             "latency_queries": len(latencies), "throughput_qps": round(len(queries) / max(retrieval, 1e-9), 1),
             "throughput_threads": threads,
             "index_bytes": sum(p.stat().st_size for p in Path(index).iterdir() if p.is_file()),
             "flops": costs["flops"], "touched_postings_per_query": costs["touched_postings_per_query"]}
    write_atomically(search_facts_path(output), json.dumps(facts, indent=2) + "\n")
    print(f"searched {len(queries)} queries in {finished - started:.1f} s "
          f"({len(queries) / max(finished - started, 1e-9):.1f} q/s) -> {output}", file=sys.stderr)
    return facts
