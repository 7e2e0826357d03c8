"""Pre-encoded topics: query ids with quantized SPLADE vectors, in a file, so a run can skip the model entirely.

Two formats, chosen by the file name:

- ``.tsv`` (optionally ``.gz``): Anserini's format for its SPLADE topics, ``qid<TAB>tokens`` where each token is
  repeated as many times as its integer weight (``topics.msmarco-passage.dev-subset.splade-pp-ed.tsv.gz``);
- ``.jsonl`` (optionally ``.gz``): ``{"id": qid, "vector": {token: weight}}`` per line.

Files we write get a sidecar ``<file>.manifest.json`` with the encoding settings, so a search can check them
against the index; Anserini's own files have none, and are searched as they are. Plain files: no model, no JVM.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .artifacts import check_separate, follow_umask, write_atomically
from .readers import check_id, numbered_lines, parse_json_object

FORMATS = ("tsv", "jsonl")
SIDECAR_SUFFIX = ".manifest.json"


@dataclass
class EncodedTopics:
    """Query ids and their vectors, in topic order, with the settings they were encoded with (if known)."""
    ids: list[str]
    vectors: list[dict]
    settings: dict = field(default_factory=dict)
    source: str = ""

    def __len__(self):
        return len(self.ids)


def encode_topics(queries, encoder) -> EncodedTopics:
    """Encode parsed topics (see :func:`readers.read_topics`) in batches with a query encoder (a SPLADE model's,
    :class:`~splade_anserini.lucene.queries.SpladeQueryEncoder`, or an inference-free one,
    :class:`~splade_anserini.model.query_models.InferenceFreeEncoder`)."""
    vectors = encoder.encode_batch([q.text for q in queries])
    return EncodedTopics([q.id for q in queries], vectors, encoder.settings, "encoded on the fly")


def kept_terms(vector: dict, df, num_docs: int, min_idf: float) -> dict:
    """The query terms a search sends, as Pyserini sends them to Lucene: weight > 0, in the index (``df(term)`` > 0)
    and with idf ``ln(num_docs / df)`` above ``min_idf`` (negative: every indexed term). One rule for every engine and
    for the trainer's exact scorer, so their hits stay the Lucene run's."""
    kept = {}
    for term, weight in vector.items():
        if weight <= 0:
            continue
        count = df(term)
        if count and (min_idf < 0 or math.log(num_docs / count) > min_idf):
            kept[term] = weight
    return kept


class TermStatisticsSearcher:
    """What the searchers over an index's own term statistics (PISA, Seismic, BMP) share: a term's document frequency
    from ``self._statistics``, the query terms Lucene would keep (:func:`kept_terms`, with ``self.num_docs`` and
    ``self.min_idf``), and use as a context manager that calls ``close()``."""

    def close(self) -> None:
        """Release the engine's index (each engine says how)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def df(self, term: str) -> int:
        return self._statistics.df(term)

    def kept_terms(self, vector: dict) -> dict:
        """The query terms Lucene is sent (:func:`kept_terms`)."""
        return kept_terms(vector, self.df, self.num_docs, self.min_idf)

    def search(self, vector: dict, k: int) -> list:
        return self.batch_search([vector], k)[0]

    def batch_search(self, vectors, k: int, threads: int = 1) -> list:
        """The k best (docid, score) of each query vector, each query timed (:attr:`latencies`); ``threads`` > 1
        searches that many queries at once (Seismic's and BMP's search release Python's lock; PISA overrides this
        with its own threads). An engine gives ``_search(terms, k)``."""
        return self.search_each(self._search, vectors, k, threads)

    def search_each(self, search, vectors, k: int, threads: int = 1) -> list:
        """``search(terms, k)`` for each query vector's kept terms, in input order, each query timed alone (appended
        to ``self.latencies``); with ``threads`` > 1 by a pool of threads, for engines whose native search releases
        Python's lock (Seismic's and BMP's do: measured in benchmarks/engines.py)."""
        import time

        def one(vector: dict) -> list:
            terms = self.kept_terms(vector)
            started = time.perf_counter()
            hits = search(terms, k) if terms else []
            self.latencies.append(time.perf_counter() - started)
            return hits

        if threads <= 1 or len(vectors) < 2:
            return [one(vector) for vector in vectors]
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(min(threads, len(vectors))) as pool:
            return list(pool.map(one, vectors))


def check_encoded(topics: EncodedTopics, vocabulary: set | None = None) -> None:
    """Refuse what is not pre-encoded topics: raw query text in a TSV file reads as tokens of weight 1, and its words
    (capitals, punctuation) are not the model's word pieces. SPLADE queries carry integer weights, most above 1."""
    heavy = sum(1 for vector in topics.vectors if any(weight > 1 for weight in vector.values()))
    if heavy < len(topics) / 2:
        raise InputError(f"{topics.source}: looks like raw query text, not pre-encoded topics (in {len(topics) - heavy} "
                         f"of {len(topics)} queries every token occurs once; a SPLADE query repeats its tokens by "
                         f"their weights): pass raw topics with --topics, or encode them with encode-queries")
    if vocabulary is not None:
        for qid, vector in zip(topics.ids, topics.vectors):
            unknown = [token for token in vector if token not in vocabulary]
            if unknown:
                raise InputError(f"{topics.source}: query {qid}: {unknown[0]!r} is not a word piece of the index's "
                                 f"model ({len(unknown)} such tokens); these are not topics encoded with that model")


def topics_format(path: str | Path) -> str:
    """'tsv' or 'jsonl' from the file name (a trailing .gz is allowed)."""
    name = Path(path).name.lower()
    name = name[:-3] if name.endswith(".gz") else name
    for kind, suffixes in (("tsv", (".tsv", ".txt")), ("jsonl", (".jsonl", ".json"))):
        if name.endswith(suffixes):
            return kind
    raise InputError(f"{path}: unknown pre-encoded topics format; name it .tsv (Anserini's repeated-token format) "
                     f"or .jsonl ({{\"id\", \"vector\"}} lines), optionally .gz")


def _open_for_writing(path: Path):
    if path.name.endswith(".gz"):
        return gzip.open(path, "wt", encoding="utf-8")
    return open(path, "w", encoding="utf-8", newline="\n")


def tsv_line(qid: str, vector: dict) -> str:
    """Anserini's pre-encoded query line: each token repeated as many times as its weight."""
    for token, weight in vector.items():
        if not isinstance(weight, int) or weight < 0:
            raise InputError(f"query {qid}: weight {weight!r} of {token!r} is not a non-negative integer; the "
                             f"repeated-token format holds integers only (write .jsonl instead)")
    return qid + "\t" + " ".join(" ".join([token] * weight) for token, weight in vector.items() if weight) + "\n"


def parse_tsv_line(line: str, where: str = "") -> tuple[str, dict]:
    """(qid, {token: weight}) from one Anserini pre-encoded query line."""
    qid, tab, tokens = line.rstrip("\r\n").partition("\t")
    if not tab:
        raise InputError(f"{where}: expected 'qid<TAB>tokens', found no tab")
    if not qid.strip():
        raise InputError(f"{where}: missing query id before the tab")
    return check_id(qid.strip(), where, "query id"), dict(Counter(tokens.split()))


def _number(value, where: str, token: str):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(f"{where}: weight of {token!r} must be a non-negative number, not {value!r}")
    return int(value) if isinstance(value, float) and value.is_integer() else value


def parse_jsonl_line(line: str, where: str = "") -> tuple[str, dict]:
    """(qid, {token: weight}) from one ``{"id", "vector"}`` line."""
    record = parse_json_object(line, where)
    qid = next((record[k] for k in ("id", "qid", "_id") if k in record), None)
    if qid is None or isinstance(qid, (bool, dict, list)) or not str(qid).strip():
        raise InputError(f"{where}: missing query id (field 'id')")
    check_id(str(qid).strip(), where, "query id")
    vector = record.get("vector")
    if not isinstance(vector, dict):
        raise InputError(f"{where}: missing 'vector' object of token weights")
    return str(qid).strip(), {str(t): _number(w, where, t) for t, w in vector.items()}


def sidecar_path(path: str | Path) -> Path:
    return Path(str(path) + SIDECAR_SUFFIX)


def prepare_topics_output(path: str | Path, overwrite: bool = False, inputs=()) -> Path:
    """Check that pre-encoded topics may be written at ``path``: a new path, or (with ``overwrite``) pre-encoded
    topics that splade-anserini wrote (they have the sidecar); and none of the ``inputs``."""
    path = Path(path)
    topics_format(path)
    check_separate(inputs, path)
    if path.exists():
        if not sidecar_path(path).is_file():
            raise InputError(f"{path} exists and is not a pre-encoded topics file that splade-anserini wrote (no "
                             f"{sidecar_path(path).name} beside it); not replacing it")
        if not overwrite:
            raise InputError(f"{path} already exists; pass --overwrite to replace it, or choose another output")
    return path


def write_encoded_topics(path: str | Path, topics: EncodedTopics, inputs=(), overwrite: bool = False) -> Path:
    """Write pre-encoded topics (format from the file name) plus the sidecar manifest; atomic. An existing file is
    replaced only with ``overwrite``, and only when it is pre-encoded topics that splade-anserini wrote."""
    path = prepare_topics_output(path, overwrite, inputs)
    kind = topics_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp" + (".gz" if path.name.endswith(".gz") else ""))
    with _open_for_writing(tmp) as out:
        for qid, vector in zip(topics.ids, topics.vectors):
            if kind == "tsv":
                out.write(tsv_line(qid, vector))
            else:
                out.write(json.dumps({"id": qid, "vector": vector}, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    follow_umask(path)
    sidecar = {"kind": "encoded-topics", "format": kind, "queries": len(topics), "source": topics.source,
               **topics.settings}
    write_atomically(sidecar_path(path), json.dumps(sidecar, indent=2) + "\n")
    return path


def read_encoded_topics(path: str | Path) -> EncodedTopics:
    """Read a pre-encoded topics file (ours or Anserini's); errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such pre-encoded topics file")
    parse = parse_tsv_line if topics_format(path) == "tsv" else parse_jsonl_line
    ids, vectors, seen = [], [], {}
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        qid, vector = parse(line, f"{path}:{number}")
        if qid in seen:
            raise InputError(f"{path}:{number}: query id {qid!r} occurs more than once (first at line {seen[qid]})")
        seen[qid] = number
        ids.append(qid)
        vectors.append(vector)
    if not ids:
        raise InputError(f"{path}: no queries found")
    sidecar = sidecar_path(path)
    settings = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
    return EncodedTopics(ids, vectors, settings, str(path))
