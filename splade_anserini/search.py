"""The search job: topics -> SPLADE query vectors -> Lucene impact search -> a TREC run file.

:class:`SpladeQueryEncoder` is a Pyserini ``QueryEncoder``, so it plugs straight into
``pyserini.search.lucene.LuceneImpactSearcher``. It encodes with the settings the index was built with (model,
scale, max length, pooling, read from the index's manifest) unless told otherwise. Queries of a run are encoded in
batches up front; Lucene then searches them on several threads.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Sequence

from .collection import read_manifest
from .errors import InputError
from .jvm import start_jvm
from .readers import read_topics

start_jvm()  # must precede the first pyserini import

from pyserini.encode import QueryEncoder  # noqa: E402
from pyserini.search.lucene import LuceneImpactSearcher  # noqa: E402


class SpladeQueryEncoder(QueryEncoder):
    """SPLADE query encoder returning {token: int} weights, quantized like the documents of the index.

    Either pass ``index`` (settings come from its manifest) or the settings themselves; explicit arguments win.
    """

    def __init__(self, model: str | None = None, *, index: str | Path | None = None, scale: float | None = None,
                 max_length: int | None = None, pooling: str | None = None, device: str | None = None,
                 batch_size: int = 32):
        super().__init__()
        from .splade import Splade
        manifest = read_manifest(index) if index is not None else {}
        self.model_name = model or manifest.get("model") or "splade-tiny"
        self.scale = scale if scale is not None else manifest.get("scale", 100)
        self.max_length = max_length or manifest.get("max_length", 256)
        self.pooling = pooling or manifest.get("pooling", "max")
        self.batch_size = batch_size
        self.splade = Splade(self.model_name, max_length=self.max_length, pooling=self.pooling, device=device)
        self.has_model = True
        self._cache: dict = {}

    def encode(self, text: str, **kwargs) -> dict:
        """Quantized weights of one query; served from the cache filled by :meth:`prime` where possible."""
        vector = self._cache.get(text)
        if vector is None:
            vector = self.splade.encode([text], self.scale)[0]
        return vector

    def encode_batch(self, texts: Sequence[str]) -> list[dict]:
        return self.splade.encode_sorted(list(texts), self.scale, self.batch_size)

    def prime(self, texts: Sequence[str]) -> None:
        """Encode many queries in batches now, so the searcher's one-at-a-time ``encode`` calls are lookups."""
        unique = list(dict.fromkeys(t for t in texts if t not in self._cache))
        self._cache.update(zip(unique, self.encode_batch(unique)))


def check_compatible(encoder: SpladeQueryEncoder, manifest: dict, index: str | Path) -> None:
    """Refuse to score queries against an index encoded with another model or scale: the scores would be wrong."""
    problems = []
    same_model = encoder.model_name == manifest.get("model") or str(encoder.splade.path) == manifest.get("model_path")
    if manifest.get("model") is not None and not same_model:
        problems.append(f"model {encoder.model_name!r} vs index {manifest['model']!r}")
    if manifest.get("scale") not in (None, encoder.scale):
        problems.append(f"scale {encoder.scale} vs index {manifest['scale']}")
    if problems:
        raise InputError(f"Query settings do not match the index {index}: {'; '.join(problems)}. "
                         f"Leave --model/--scale unset to use the index's settings.")


def format_run(results: dict, k: int, tag: str, remove_query: bool = False) -> list[str]:
    """TREC run lines ``qid Q0 docid rank score tag``, ranked by score then docid (deterministic ties)."""
    lines = []
    for qid, hits in results.items():
        pairs = [(hit.docid, hit.score) for hit in hits if not (remove_query and hit.docid == qid)]
        pairs.sort(key=lambda p: (-p[1], p[0]))
        for rank, (docid, score) in enumerate(pairs[:k], start=1):
            lines.append(f"{qid} Q0 {docid} {rank} {score:.6f} {tag}\n")
    return lines


def search_topics(index: str | Path, topics: str | Path, output: str | Path, *, model: str | None = None,
                  k: int = 1000, threads: int | None = None, batch_size: int = 32, remove_query: bool = False,
                  tag: str | None = None, fields: Sequence[str] | None = None, device: str | None = None,
                  encoder: SpladeQueryEncoder | None = None) -> dict:
    """Search every query of ``topics`` on ``index`` and write a TREC run to ``output``; returns run facts."""
    if k < 1:
        raise ValueError("k must be at least 1")
    manifest = read_manifest(index)
    queries = read_topics(topics, fields)
    encoder = encoder or SpladeQueryEncoder(model, index=index, device=device, batch_size=batch_size)
    check_compatible(encoder, manifest, index)
    threads = threads or os.cpu_count() or 1
    started = time.time()
    encoder.prime([q.text for q in queries])
    encoded = time.time()
    searcher = LuceneImpactSearcher(str(index), encoder)
    # One more hit per query where the query's own id may be dropped, so every query still gets k.
    results = searcher.batch_search([q.text for q in queries], [q.id for q in queries],
                                    k=k + int(remove_query), threads=threads)
    ordered = {q.id: results.get(q.id, []) for q in queries}
    lines = format_run(ordered, k, tag or f"splade-anserini.{Path(str(encoder.model_name)).name}", remove_query)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    os.replace(tmp, output)
    finished = time.time()
    facts = {"queries": len(queries), "lines": len(lines), "encode_seconds": round(encoded - started, 3),
             "search_seconds": round(finished - encoded, 3), "k": k, "threads": threads}
    print(f"searched {len(queries)} queries in {finished - started:.1f} s "
          f"({len(queries) / max(finished - started, 1e-9):.1f} q/s) -> {output}", file=sys.stderr)
    return facts
