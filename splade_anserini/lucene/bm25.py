"""The BM25 baseline: the same corpus and topics through Lucene BM25, the row every results table needs.

The documents are the texts SPLADE encodes (same readers, same fields), indexed by Anserini with its default English
analyzer (Porter stemming, stopwords removed), as Pyserini's BEIR "flat" indexes are; topics are searched with
Pyserini's ``LuceneSearcher`` in BM25 mode (k1 = 0.9, b = 0.4 unless told otherwise).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from ..formats.artifacts import BM25_INDEX, read_manifest, write_atomically
from ..formats.readers import read_corpus, read_topics
from ..formats.runs import format_run, prepare_run_output, search_facts_path, write_run_file
from ..settings import SEARCH
from .indexer import anserini_writer, staged_index
from .jvm import start_jvm


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


def search_bm25(index: str | Path, topics: str | Path, output: str | Path, *, k: int = SEARCH.k, k1: float = 0.9,
                b: float = 0.4, threads: int | None = None, remove_query: bool = False,
                fields: Sequence[str] | None = None, tag: str = "bm25", overwrite: bool = False) -> dict:
    """Search every query of ``topics`` with BM25 and write a TREC run (an existing run is replaced only with
    ``overwrite``); returns run facts, also saved beside the run."""
    read_manifest(index, (BM25_INDEX,), "BM25 search")
    output = prepare_run_output(output, overwrite, [index, topics])
    start_jvm()
    from pyserini.search.lucene import LuceneSearcher
    queries = read_topics(topics, fields)
    started = time.time()
    searcher = LuceneSearcher(str(index))
    searcher.set_bm25(k1, b)
    hits = searcher.batch_search([q.text for q in queries], [q.id for q in queries], k=k + int(remove_query),
                                 threads=threads or os.cpu_count() or 1)
    results = {q.id: [(hit.docid, hit.score) for hit in hits.get(q.id, [])] for q in queries}
    searcher.close()
    lines = format_run(results, k, tag, remove_query)
    write_run_file(output, lines)
    seconds = time.time() - started
    facts = {"kind": "run", "engine": "bm25", "index": str(index), "queries": len(queries), "lines": len(lines),
             "search_seconds": round(seconds, 3), "k": k, "k1": k1, "b": b, "threads": threads}
    write_atomically(search_facts_path(output), json.dumps(facts, indent=2) + "\n")
    print(f"bm25: searched {len(queries)} queries in {seconds:.1f} s -> {output}", file=sys.stderr)
    return facts
