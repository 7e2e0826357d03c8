"""The search job: topics -> query vectors -> Lucene impact search -> a run file (TREC or MS MARCO format), with
its search facts (settings, timings, costs) beside it.

The index's manifest is read once: it decides the query model (the index's query model: its document model unless
``encode --query-model`` recorded another), scale and pooling (unless given), and the pair is checked against the
query side (:func:`check_compatible`). Queries are encoded in batches, or read pre-encoded; inference-free queries
(:mod:`.model.query_models`) are tokenized and weighted by the index's own statistics, without importing torch. The
scoring is :class:`~splade_anserini.lucene.searcher.ImpactSearcher`'s, exactly Anserini's.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Sequence

from .errors import InputError, MismatchWarning
from .formats.artifacts import ENGINES, MANIFEST, output_lock, read_manifest, write_atomically
from .formats.readers import read_topics
from .formats.runs import (
    format_run,
    prepare_run_output,
    search_facts_path,
    write_run_file,
)
from .formats.topics import check_encoded, encode_topics, read_encoded_topics
from .lucene.searcher import ImpactSearcher
from .model.models import vocabulary
from .model.query_models import QueryEncoder, describe_query_model, index_query_model, open_query_encoder
from .settings import FORWARD_ENGINES, SEARCH, SearchSettings
from .stats import percentiles, query_costs

logger = logging.getLogger(__name__)

LATENCY_QUERIES = 1000


def check_compatible(settings: dict, manifest: dict, where: str, allow_mismatch: bool = False) -> list[str]:
    """Compare query settings with the index's; refuse a mismatch (scores would be wrong) unless allowed.

    The query model must be the index's query model (``encode --query-model``; its document model unless another was
    recorded), compared by what determines the vectors: the checksums of its weights and tokenizer (for an
    inference-free one: its kind, the tokenizer and a table's checksum) where both sides recorded them (an identical
    copy at another path matches, a retrained checkpoint at the same path does not), by name otherwise. Queries
    that record the document model they were made for (encode-queries does) must be for the index's. Returns the
    problems found (empty when all is well); with ``allow_mismatch`` they are printed as a warning."""
    problems = []
    index_side = index_query_model(manifest)
    ours, theirs = settings.get("model_identity"), index_side["model_identity"]
    if ours and theirs:
        if ours.get("inference_free") != theirs.get("inference_free"):
            problems.append(f"query model {describe_query_model(settings.get('model'), ours)} is not the index's "
                            f"query model {describe_query_model(index_side['model'], theirs)}")
        else:
            for part in ("weights", "tokenizer", "table"):
                if ours.get(part) != theirs.get(part):
                    problems.append(f"query model {settings.get('model')!r} has other {part} than the index's "
                                    f"{index_side['model']!r} (sha256 {str(ours.get(part))[:12]} vs "
                                    f"{str(theirs.get(part))[:12]})")
    else:
        model, index_model = settings.get("model"), index_side["model"]
        same_model = model == index_model or (settings.get("model_path") is not None
                                              and settings.get("model_path") == index_side["model_path"])
        if model is not None and index_model is not None and not same_model:
            problems.append(f"model {model!r} vs index {index_model!r}")
    document, index_document = settings.get("document_model_identity"), manifest.get("model_identity")
    if document and index_document and document != index_document:
        problems.append(f"the queries were encoded for the documents of model {settings.get('document_model')!r}, "
                        f"not of the index's {manifest.get('model')!r} (other checksums)")
    if None not in (settings.get("scale"), manifest.get("scale")) and settings["scale"] != manifest["scale"]:
        problems.append(f"scale {settings['scale']} vs index {manifest['scale']}")
    if None not in (settings.get("pooling"), manifest.get("pooling")) and settings["pooling"] != manifest["pooling"]:
        problems.append(f"pooling {settings['pooling']} vs index {manifest['pooling']}")
    if problems:
        message = f"Query settings do not match the index {where}: {'; '.join(problems)}"
        if not allow_mismatch:
            raise InputError(f"{message}. Leave --query-model/--scale unset to use the index's settings, or pass "
                             f"--allow-mismatch to search anyway.")
        warnings.warn(f"{message}; searching anyway (--allow-mismatch): scores mix two scales or models.",
                      MismatchWarning, stacklevel=3)
    return problems


def term_statistics(index: str | Path, manifest: dict):
    """Document count and frequencies of an index (Lucene's, or PISA's by its manifest's kind), for idf queries."""
    from .formats.artifacts import BMP_INDEX, PISA_INDEX, SEISMIC_INDEX
    if manifest.get("kind") == PISA_INDEX:
        from .pisa.statistics import PisaTermStatistics
        return PisaTermStatistics(index)
    if manifest.get("kind") in (SEISMIC_INDEX, BMP_INDEX):
        from .formats.forward import ForwardStatistics, read_forward_index
        return ForwardStatistics(read_forward_index(index))
    from .lucene.statistics import LuceneTermStatistics
    return LuceneTermStatistics(index)


def engine_exactness(engine: str, options: dict | None) -> tuple[str, object]:
    """(exact, settings) of an engine's search settings: ``"yes"`` for Lucene and PISA (every document scored or
    safely skipped), ``"safe"`` for BMP with alpha = beta = 1 (exact by design; its rounding is undone by
    rescoring), ``"no"`` for Seismic and for BMP's approximate settings. Settings are refused for engines without
    any."""
    if engine in FORWARD_ENGINES:
        from .bmp import BmpSearch, load_bmp
        from .seismic import SeismicSearch, load_seismic
        kind, load = (SeismicSearch, load_seismic) if engine == "seismic" else (BmpSearch, load_bmp)
        load()  # a missing extra is said before any work
        unknown = set(options or {}) - {f.name for f in dataclasses.fields(kind)}
        if unknown:
            raise InputError(f"{engine} has no search setting {sorted(unknown)}")
        settings = kind(**(options or {}))
        return ("no" if engine == "seismic" or not settings.safe else "safe"), settings
    if options:
        raise InputError(f"search settings {sorted(options)} are for the Seismic and BMP engines, not {engine}")
    return "yes", None


def query_encoder(index: str | Path | None, manifest: dict, settings: SearchSettings = SEARCH) -> QueryEncoder:
    """The encoder of ``settings.query_model`` (default: the index's query model) with the settings' scale, query
    max length, batch size and device, as :func:`~.model.query_models.open_query_encoder` chooses it (idf weighs by
    ``index``'s statistics, of whichever engine built it). Call its ``close()`` when done."""
    model, scale, max_length = settings.query_settings
    opener = None if index is None else functools.partial(term_statistics, index, manifest)
    return open_query_encoder(model, manifest, open_statistics=opener, scale=scale, max_length=max_length,
                              batch_size=settings.batch_size, device=settings.device)


def heaviest_terms(vector: dict, n: int) -> dict:
    """The ``n`` heaviest terms of a query vector (ties: term order)."""
    if len(vector) <= n:
        return vector
    return dict(sorted(vector.items(), key=lambda item: (-item[1], item[0]))[:n])


def _one_writer(function):
    """Run ``function`` holding the lock on its ``output`` (see :func:`~.formats.artifacts.output_lock`): a second
    search into the same run file is refused, naming the first one's process id, before it changes anything."""
    signature = inspect.signature(function)

    @functools.wraps(function)
    def locked(*args, **kwargs):
        with output_lock(signature.bind(*args, **kwargs).arguments["output"]):
            return function(*args, **kwargs)
    return locked


@_one_writer
def search_topics(index: str | Path, output: str | Path, settings: SearchSettings = SEARCH, *,
                  topics: str | Path | None = None, encoded_topics: str | Path | None = None,
                  topic_fields: Sequence[str] | None = None,
                  encoder: QueryEncoder | None = None, overwrite: bool = False) -> dict:
    """Search every query of ``topics`` (encoded on the fly; ``topic_fields`` pick a JSONL/irds topic's text) or of
    ``encoded_topics`` (a pre-encoded file, no model needed) on ``index`` and write a run to ``output``; returns
    facts about the run. ``settings`` (:class:`~splade_anserini.settings.SearchSettings`) hold every knob: the query
    model (default: the index's query model; a SPLADE model, or ``idf`` / a token-weight JSON file for
    inference-free queries, see :func:`query_encoder`), k, threads, the engine (``pisa`` searches a PISA index,
    :mod:`.pisa`, with the same queries, scores and run format) and its options. ``encoder`` is an open query
    encoder to use instead of one made from the settings. An existing run at ``output`` is replaced only with
    ``overwrite`` (and then its stale metrics go with it). ``settings.on_error="skip"`` skips bad topic lines (an
    invalid or repeated id, an empty text) instead of stopping, and lists them in the search facts
    (``skipped_queries``)."""
    settings.validate()
    engine, k, remove_query = settings.engine, settings.k, settings.remove_query
    exact, engine_search = engine_exactness(engine, settings.engine_settings())
    if (topics is None) == (encoded_topics is None):
        raise InputError("give either topics (encoded on the fly) or encoded_topics (a pre-encoded file), not both")
    if encoded_topics is not None and (settings.query_settings != (None,) * 3 or encoder is not None):
        raise InputError("model, scale and query max length apply to encoding queries; pre-encoded topics carry "
                         "their own (re-encode them with encode-queries to change these)")
    if not Path(index).is_dir():
        raise InputError(f"{index}: no such index directory")
    # An index built elsewhere (e.g. by Anserini) has no manifest: pre-encoded topics can still search it.
    foreign = engine == "lucene" and not (Path(index) / MANIFEST).is_file()
    if foreign and encoded_topics is None and encoder is None and None in (settings.query_model, settings.scale):
        raise InputError(f"{index} has no {MANIFEST} (not built by splade-anserini), so the query model and scale "
                         f"are unknown: pass --model and --scale, or search with --encoded-topics")
    manifest = {} if foreign else read_manifest(index, (ENGINES[engine],), f"search --engine {engine}")
    output = prepare_run_output(output, overwrite, [index, topics, encoded_topics])
    threads = settings.threads or os.cpu_count() or 1
    started = time.time()
    encoding = None  # seconds spent encoding queries, model loading left out
    skipped: list | None = [] if settings.on_error == "skip" else None
    if encoded_topics is not None:
        queries = read_encoded_topics(encoded_topics)
        check_encoded(queries, vocabulary(queries.settings.get("model_path") or manifest.get("model_path")))
        if not queries.settings:
            logger.info(f"note: {encoded_topics} has no {Path(str(encoded_topics)).name}.manifest.json; its model and "
                        f"scale cannot be checked against the index")
        problems = check_compatible(queries.settings, manifest, str(index), settings.allow_mismatch)
    else:
        created = encoder is None
        encoder = encoder or query_encoder(index, manifest, settings)
        try:
            problems = check_compatible(encoder.settings, manifest, str(index), settings.allow_mismatch)  # first
            parsed = read_topics(topics, topic_fields, skipped)
            encoding = time.perf_counter()
            queries = encode_topics(parsed, encoder)
            encoding = time.perf_counter() - encoding
        finally:
            if created:
                encoder.close()
    if settings.query_top_k is not None:
        queries.vectors = [heaviest_terms(vector, settings.query_top_k) for vector in queries.vectors]
    encoded = time.time()
    if engine == "pisa":
        from .pisa.searcher import PisaSearcher as searcher_class
    elif engine == "seismic":
        from .seismic.searcher import SeismicSearcher
        searcher_class = functools.partial(SeismicSearcher, settings=engine_search)
    elif engine == "bmp":
        from .bmp.searcher import BmpSearcher
        searcher_class = functools.partial(BmpSearcher, settings=engine_search)
    else:
        searcher_class = ImpactSearcher  # it starts Java (with Anserini on the classpath) before importing jnius
    with searcher_class(index, **settings.searcher_options()) as searcher:
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
    if skipped:
        logger.warning(f"search: skipped {len(skipped)} bad topic lines (listed in {search_facts_path(output).name} "
                       f"under 'skipped_queries'), first: {skipped[0]['where']}: {skipped[0]['reason']}")
    empty = [qid for qid, h in zip(queries.ids, hits) if not h]
    if empty:
        logger.info(f"note: {len(empty)} of {len(queries)} queries got no hits (no query term occurs in the index with "
                    f"idf > {settings.min_idf}): {', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}")
    name = queries.settings.get("model") or manifest.get("model") or "model"
    lines = format_run(dict(zip(queries.ids, hits)), k, settings.tag or f"splade-anserini.{Path(str(name)).name}",
                       remove_query, settings.format)
    write_run_file(output, lines)
    finished = time.time()
    facts = {"kind": "run", "engine": engine, "exact": exact,
             "engine_settings": None if engine_search is None else engine_search.as_dict(), "index": str(index),
             "queries": len(queries), "lines": len(lines),
             "queries_without_hits": len(empty),
             "encode_seconds": round(encoded - started, 3), "search_seconds": round(finished - encoded, 3),
             "query_encoding_ms": None if encoding is None else round(1000 * encoding / max(len(queries), 1), 3),
             "k": k, "threads": threads, "min_idf": settings.min_idf, "query_top_k": settings.query_top_k,
             "format": settings.format,
             "query_source": queries.source,
             "skipped_queries": {"count": len(skipped or []), "queries": skipped or []},
             "query_settings": queries.settings, "mismatch": problems,
             "latency_ms": {key: round(value, 3) for key, value in percentiles(latencies, (50, 95, 99)).items()},
             "latency_queries": len(latencies), "throughput_qps": round(len(queries) / max(retrieval, 1e-9), 1),
             "throughput_threads": threads,
             "index_bytes": sum(p.stat().st_size for p in Path(index).iterdir() if p.is_file()),
             "flops": costs["flops"], "touched_postings_per_query": costs["touched_postings_per_query"]}
    write_atomically(search_facts_path(output), json.dumps(facts, indent=2) + "\n")
    logger.info(f"searched {len(queries)} queries in {finished - started:.1f} s "
                f"({len(queries) / max(finished - started, 1e-9):.1f} q/s) -> {output}")
    return facts
