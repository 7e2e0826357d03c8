"""Impact search with Anserini's scores and ranking, hits as (docid, score).

:class:`ImpactSearcher` scores exactly as Anserini's ``SimpleImpactSearcher`` (the engine behind Pyserini's
``LuceneImpactSearcher``): the same query (``BagOfWordsQueryGenerator`` over the ``contents`` field), the same
``ImpactSimilarity``, the same ranking (score, then external docid ascending), the same reported scores (Anserini
nudges tied scores apart, see :func:`..formats.runs.adjust_ties`). It differs in how hits cross into Python: Anserini
reads every hit's stored document and Pyserini wraps every hit in a Java object, which at k=1000 costs more than the
scoring. Here Lucene doc ids are mapped to external ids once per index (see :func:`.reader.docid_table`) and each
query's hits come back as one JSON string. Queries run on several threads (the JVM releases Python's lock while
Lucene works).

Query terms are kept as Pyserini keeps them: a term is used when it occurs in the index and its idf, ``ln(N/df)``,
is above ``min_idf`` (default 0, so a term found in every document is dropped, as Pyserini does). A negative
``min_idf`` keeps every term that occurs in the index.
"""

from __future__ import annotations

import math
import re
import threading
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy

from ..errors import InputError, SpladeAnseriniWarning
from ..formats.runs import anserini_top_k
from ..formats.topics import kept_terms
from .jvm import start_jvm
from .reader import close_reader, docid_table, open_reader

FIELD = "contents"
# Lucene rejects a BooleanQuery of more than 1024 clauses by default; SPLADE queries of long texts can have more
# terms, and a term can occur at most once per query, so the vocabulary size is a safe ceiling.
MAX_CLAUSES = 1 << 17
# Mean term frequency below which an index's postings look like word counts rather than quantized weights
# (on the demo collection: English text 1.17, splade-tiny at scale 100 64.5).
TEXT_INDEX_MEAN_TF = 2.0
_DOC = re.compile(r'"doc":(\d+)')
_SCORE = re.compile(r'"score":([^,}]+)')


class ImpactSearcher:
    """Top-k impact search over a Lucene index, with Anserini's scores and ranking, hits as (docid, score)."""

    def __init__(self, index: str | Path, *, min_idf: float = 0.0):
        start_jvm()  # before jnius is first imported: that import starts a JVM, with or without Anserini's jar
        from jnius import autoclass, cast
        self.index = Path(index)
        if not any(self.index.glob("segments_*")):
            raise InputError(f"{self.index}: not a Lucene index (no segments file)")
        self._reader = open_reader(self.index.resolve())
        self._check_impact_field(autoclass)
        searcher_class = autoclass("org.apache.lucene.search.IndexSearcher")
        searcher_class.setMaxClauseCount(max(searcher_class.getMaxClauseCount(), MAX_CLAUSES))
        self._searcher = searcher_class(cast("org.apache.lucene.index.IndexReader", self._reader))
        self._searcher.setSimilarity(autoclass("io.anserini.search.similarity.ImpactSimilarity")())
        self._generator = autoclass("io.anserini.search.query.BagOfWordsQueryGenerator")()
        self._json = autoclass("com.fasterxml.jackson.databind.ObjectMapper")()
        self._HashMap = autoclass("java.util.HashMap")
        self._Float = autoclass("java.lang.Float")
        self._Term = autoclass("org.apache.lucene.index.Term")
        self._boxed = self._float_boxing()
        self.num_docs = self._reader.numDocs()
        self.min_idf = min_idf
        self._docids = docid_table(self.index, self._reader)
        self._df: dict = {}
        self._lock = threading.Lock()
        self.latencies: list = []  # seconds per query searched (list.append is atomic across threads)

    def _check_impact_field(self, autoclass) -> None:
        """Refuse an index whose text field keeps positions: that is a text (BM25) index, whose term frequencies are
        word counts, not SPLADE weights; an impact index keeps documents and frequencies only. A text index built
        without positions looks alike but for its frequencies: words occur a few times, SPLADE weights are tens."""
        info = autoclass("org.apache.lucene.index.FieldInfos").getMergedFieldInfos(self._reader).fieldInfo(FIELD)
        if info is None or str(info.getIndexOptions().toString()) != "DOCS_AND_FREQS":
            options = "no such field" if info is None else str(info.getIndexOptions().toString())
            self.close()
            raise InputError(f"{self.index}: its '{FIELD}' field is not an impact field ({options}; an impact index "
                             f"has DOCS_AND_FREQS), so it is no impact index (a BM25 index?); build one with "
                             f"splade-anserini index, or Anserini's -impact -pretokenized")
        postings = self._reader.getSumDocFreq(FIELD)
        mean = self._reader.getSumTotalTermFreq(FIELD) / postings if postings > 0 else 0.0
        if postings > 0 and mean < TEXT_INDEX_MEAN_TF:
            warnings.warn(f"{self.index}: its postings carry {mean:.2f} on average, as word counts of a text (BM25) "
                          f"index do; SPLADE impacts are larger. Is this an impact index?", SpladeAnseriniWarning,
                          stacklevel=3)

    def _float_boxing(self):
        """How to pass a weight as the java.lang.Float that the query generator unboxes: pyjnius boxes a Python
        float as a Float for an Object parameter (4x faster than calling Float's constructor); checked, not assumed."""
        probe = self._HashMap()
        probe.put("w", 1.5)
        if probe.containsValue(self._Float(1.5)):
            return float
        return lambda weight: self._Float(float(weight))

    def close(self) -> None:
        close_reader(self._reader)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def df(self, term: str) -> int:
        value = self._df.get(term)
        if value is None:
            value = self._df[term] = self._reader.docFreq(self._Term(FIELD, term))
        return value

    def kept_terms(self, vector: dict) -> dict:
        """The query terms Pyserini would send to Lucene (:func:`~splade_anserini.formats.topics.kept_terms`)."""
        return kept_terms(vector, self.df, self.num_docs, self.min_idf)

    def _top(self, query, n: int) -> list[tuple[int, float]]:
        """Lucene's top n as (lucene doc, score), ties in Lucene doc order."""
        text = self._json.writeValueAsString(self._searcher.search(query, n))
        docs = _DOC.findall(text)
        scores = _SCORE.findall(text)
        if len(docs) != len(scores):  # the JSON has one "doc" and one "score" per hit
            raise RuntimeError(f"unexpected Lucene TopDocs serialization: {text[:200]}")
        # Java prints the shortest decimal that identifies a float; back through float32, it is the exact value
        # that Anserini formats (as a double) in its runs.
        exact = numpy.array(scores, dtype=numpy.float64).astype(numpy.float32).astype(numpy.float64).tolist()
        return list(zip(map(int, docs), exact))

    def query(self, vector: dict):
        """The Lucene query for a vector {term: weight} (None when no term is kept), built as Anserini builds it."""
        terms = self.kept_terms(vector)
        if not terms:
            return None
        weights = self._HashMap()
        for term, weight in terms.items():
            weights.put(term, self._boxed(weight))
        return self._generator.buildQuery(FIELD, weights)

    def _ranked(self, query, k: int) -> list[tuple[str, float]]:
        started = time.perf_counter()
        try:
            return self._collect(query, k)
        finally:
            self.latencies.append(time.perf_counter() - started)

    def _collect(self, query, k: int) -> list[tuple[str, float]]:
        if query is None:
            return []
        # Anserini breaks score ties by external docid, Lucene by internal doc id. Fetch past k until the hits
        # tied with the k-th score are all in hand, then re-rank those by docid, so the cut at k is Anserini's.
        n = k + max(16, k // 8)
        while True:
            hits = self._top(query, n)
            if len(hits) < n or hits[-1][1] < hits[k - 1][1]:
                break
            n *= 2
        floor = hits[k - 1][1] if len(hits) >= k else -math.inf
        kept = [(doc, score) for doc, score in hits if score >= floor]  # only these need their external ids
        return anserini_top_k(list(zip(self._docids.lookup([doc for doc, _ in kept]), [score for _, score in kept])), k)

    def search(self, vector: dict, k: int) -> list[tuple[str, float]]:
        """The k best (docid, score) for one query vector {term: weight}, ranked as Anserini ranks them."""
        return self._ranked(self.query(vector), k)

    def batch_search(self, vectors: Sequence[dict], k: int, threads: int = 1) -> list[list[tuple[str, float]]]:
        """:meth:`search` for many queries on ``threads`` threads; results in input order."""
        from jnius import detach
        # pyjnius binds a method to its object by writing into the method's shared, per-class descriptor, so calls on
        # different objects of one class race between threads. Queries are therefore built here, in one thread;
        # the workers only call methods of objects they share (the searcher and the JSON writer).
        queries = [self.query(vector) for vector in vectors]
        if threads <= 1:
            return [self._ranked(query, k) for query in queries]
        results: list = [None] * len(queries)
        position = iter(range(len(queries)))
        failures: list = []

        def work():
            try:
                while not failures:
                    with self._lock:
                        i = next(position, None)
                    if i is None:
                        return
                    results[i] = self._ranked(queries[i], k)
            except BaseException as err:  # re-raised in the caller's thread
                failures.append(err)
            finally:
                detach()  # a Python thread that used the JVM must leave it before it ends

        workers = [threading.Thread(target=work, daemon=True) for _ in range(min(threads, len(queries)))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if failures:
            raise failures[0]
        return results
