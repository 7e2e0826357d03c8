"""The BM25 baseline: the same corpus and topics through Lucene BM25, the row every results table needs.

The documents are the texts SPLADE encodes (same readers, same fields), indexed by Anserini with its default English
analyzer (Porter stemming, stopwords removed), as Pyserini's BEIR "flat" indexes are; topics are searched with
Pyserini's ``LuceneSearcher`` in BM25 mode (k1 and b: :class:`~splade_anserini.settings.Bm25Settings`).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from ..formats.artifacts import BM25_INDEX, read_manifest, write_atomically
from ..formats.readers import read_corpus, read_topics
from ..formats.runs import (
    format_run,
    prepare_run_output,
    search_facts_path,
    write_run_file,
)
from ..settings import BM25, SEARCH
from .indexer import anserini_writer, staged_index
from .jvm import start_jvm

logger = logging.getLogger(__name__)


def build_bm25_index(corpus: str | Path, index: str | Path, *, fields: Sequence[str] | None = None,
                     threads: int | None = None, overwrite: bool = False, verbose: bool = False) -> dict:
    """Index the corpus's texts for BM25 into ``index``; returns the index manifest."""

    def write_documents(inputs: Path) -> int:
        count = 0
        with open(inputs / "docs.jsonl", "w", encoding="utf-8", newline="\n") as out:
            for doc in read_corpus(corpus, fields):
                out.write(json.dumps({"id": doc.id, "contents": doc.text}, ensure_ascii=False) + "\n")
                count += 1
        return count

    manifest = {"corpus": str(corpus), "fields": list(fields or []), "index_threads": threads or 1,
                "analyzer": "Anserini default (English, Porter stemming, stopwords)"}
    write = anserini_writer(write_documents, collection_class="JsonCollection", threads=threads or 1, verbose=verbose)
    return staged_index(index, write, manifest=manifest, what=f"{corpus} (BM25)", overwrite=overwrite,
                        kind=BM25_INDEX, inputs=[corpus])


def bm25_hits(index: str | Path, texts: Sequence[str], qids: Sequence[str], k: int, *, k1: float = BM25.k1,
              b: float = BM25.b, threads: int | None = None) -> dict:
    """{qid: [(docid, score), ...]}: the ``k`` best BM25 hits of each text on ``threads`` threads (default: all
    cores), through Pyserini's ``LuceneSearcher`` (closed when done, also on an error)."""
    start_jvm()
    from pyserini.search.lucene import LuceneSearcher
    searcher = LuceneSearcher(str(index))
    try:
        searcher.set_bm25(k1, b)
        hits = searcher.batch_search(list(texts), list(qids), k=k, threads=threads or os.cpu_count() or 1)
        return {qid: [(hit.docid, hit.score) for hit in found] for qid, found in hits.items()}
    finally:
        searcher.close()


@contextmanager
def scratch_bm25_index(documents, prefix: str = "bm25-") -> Iterator[Path]:
    """A BM25 index of ``documents`` (a corpus path or irds: id, or a {docid: text} dict) in a temporary directory,
    removed on leaving the block: the candidates of training's hard negatives."""
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        if isinstance(documents, dict):
            corpus = Path(scratch) / "corpus.jsonl"
            with open(corpus, "w", encoding="utf-8") as out:
                for docid, text in documents.items():
                    out.write(json.dumps({"id": docid, "contents": text}, ensure_ascii=False) + "\n")
            documents = corpus
        index = Path(scratch) / "bm25"
        build_bm25_index(documents, index)
        yield index


def search_bm25(index: str | Path, topics: str | Path, output: str | Path, *, k: int = SEARCH.k, k1: float = BM25.k1,
                b: float = BM25.b, threads: int | None = None, remove_query: bool = False,
                fields: Sequence[str] | None = None, tag: str = "bm25", overwrite: bool = False) -> dict:
    """Search every query of ``topics`` with BM25 and write a TREC run (an existing run is replaced only with
    ``overwrite``); returns run facts, also saved beside the run."""
    read_manifest(index, (BM25_INDEX,), "BM25 search")
    output = prepare_run_output(output, overwrite, [index, topics])
    queries = read_topics(topics, fields)
    started = time.time()
    hits = bm25_hits(index, [q.text for q in queries], [q.id for q in queries], k + int(remove_query), k1=k1, b=b,
                     threads=threads)
    results = {q.id: hits.get(q.id, []) for q in queries}
    lines = format_run(results, k, tag, remove_query)
    write_run_file(output, lines)
    seconds = time.time() - started
    facts = {"kind": "run", "engine": "bm25", "index": str(index), "queries": len(queries), "lines": len(lines),
             "search_seconds": round(seconds, 3), "k": k, "k1": k1, "b": b, "threads": threads}
    write_atomically(search_facts_path(output), json.dumps(facts, indent=2) + "\n")
    logger.info(f"bm25: searched {len(queries)} queries in {seconds:.1f} s -> {output}")
    return facts
