"""Query encoding: topics -> quantized SPLADE query vectors, on the fly or saved to a pre-encoded topics file.

:class:`SpladeQueryEncoder` is a Pyserini ``QueryEncoder``, so it plugs straight into
``pyserini.search.lucene.LuceneImpactSearcher``; it encodes with the settings the index was built with (model,
scale, pooling and max length, read from the index's manifest) unless told otherwise.

Pre-encoded topics let a run skip the model entirely. Two formats, chosen by the file name:

- ``.tsv`` (optionally ``.gz``): Anserini's format for its SPLADE topics, ``qid<TAB>tokens`` where each token is
  repeated as many times as its integer weight (``topics.msmarco-passage.dev-subset.splade-pp-ed.tsv.gz``);
- ``.jsonl`` (optionally ``.gz``): ``{"id": qid, "vector": {token: weight}}`` per line.

Files we write get a sidecar ``<file>.manifest.json`` with the encoding settings, so a search can check them
against the index; Anserini's own files have none, and are searched as they are.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .errors import InputError
from .jvm import start_jvm
from .readers import numbered_lines, parse_json_object

start_jvm()  # must precede the first pyserini import

from pyserini.encode import QueryEncoder  # noqa: E402

FORMATS = ("tsv", "jsonl")
SIDECAR_SUFFIX = ".manifest.json"


class SpladeQueryEncoder(QueryEncoder):
    """SPLADE query encoder returning {token: int} weights, quantized like the documents of the index.

    Either pass ``index`` (settings come from its manifest) or the settings themselves; explicit arguments win.
    ``max_length`` is the query's token budget (default: the index's document max length).
    """

    def __init__(self, model: str | None = None, *, index: str | Path | None = None, scale: float | None = None,
                 max_length: int | None = None, pooling: str | None = None, device: str | None = None,
                 batch_size: int = 32):
        super().__init__()
        from .collection import read_manifest
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

    @property
    def settings(self) -> dict:
        """What a pre-encoded topics file records about how it was made."""
        return {"model": self.model_name, "model_path": str(self.splade.path), "scale": self.scale,
                "max_length": self.max_length, "pooling": self.pooling}

    def encode(self, text: str, **kwargs) -> dict:
        """Quantized weights of one query; served from the cache filled by :meth:`prime` where possible."""
        vector = self._cache.get(text)
        if vector is None:
            vector = self.splade.encode([text], self.scale)[0]
        return vector

    def encode_batch(self, texts: Sequence[str]) -> list[dict]:
        """Many queries at once, in batches of similar length; results in input order."""
        return self.splade.encode_sorted(list(texts), self.scale, self.batch_size)

    def prime(self, texts: Sequence[str]) -> None:
        """Encode many queries in batches now, so a searcher's one-at-a-time ``encode`` calls become lookups."""
        unique = list(dict.fromkeys(t for t in texts if t not in self._cache))
        self._cache.update(zip(unique, self.encode_batch(unique)))


@dataclass
class EncodedTopics:
    """Query ids and their vectors, in topic order, with the settings they were encoded with (if known)."""
    ids: list[str]
    vectors: list[dict]
    settings: dict = field(default_factory=dict)
    source: str = ""

    def __len__(self):
        return len(self.ids)


def encode_topics(queries, encoder: SpladeQueryEncoder) -> EncodedTopics:
    """Encode parsed topics (see :func:`readers.read_topics`) in batches."""
    vectors = encoder.encode_batch([q.text for q in queries])
    return EncodedTopics([q.id for q in queries], vectors, encoder.settings, "encoded on the fly")


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
    return qid.strip(), dict(Counter(tokens.split()))


def _number(value, where: str, token: str):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        raise InputError(f"{where}: weight of {token!r} must be a non-negative number, not {value!r}")
    return int(value) if isinstance(value, float) and value.is_integer() else value


def parse_jsonl_line(line: str, where: str = "") -> tuple[str, dict]:
    """(qid, {token: weight}) from one ``{"id", "vector"}`` line."""
    record = parse_json_object(line, where)
    qid = next((record[k] for k in ("id", "qid", "_id") if k in record), None)
    if qid is None or not str(qid).strip():
        raise InputError(f"{where}: missing query id (field 'id')")
    vector = record.get("vector")
    if not isinstance(vector, dict):
        raise InputError(f"{where}: missing 'vector' object of token weights")
    return str(qid).strip(), {str(t): _number(w, where, t) for t, w in vector.items()}


def write_encoded_topics(path: str | Path, topics: EncodedTopics) -> Path:
    """Write pre-encoded topics (format from the file name) plus the sidecar manifest; atomic."""
    path = Path(path)
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
    sidecar = {"format": kind, "queries": len(topics), "source": topics.source, **topics.settings}
    Path(str(path) + SIDECAR_SUFFIX).write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    return path


def read_encoded_topics(path: str | Path) -> EncodedTopics:
    """Read a pre-encoded topics file (ours or Anserini's); errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such pre-encoded topics file")
    parse = parse_tsv_line if topics_format(path) == "tsv" else parse_jsonl_line
    ids, vectors, seen = [], [], set()
    try:
        for number, line in numbered_lines(path):
            if not line.strip():
                continue
            qid, vector = parse(line, f"{path}:{number}")
            if qid in seen:
                raise InputError(f"{path}:{number}: query id {qid!r} occurs more than once")
            seen.add(qid)
            ids.append(qid)
            vectors.append(vector)
    except (OSError, EOFError) as err:  # e.g. a truncated or non-gzip .gz file
        raise InputError(f"{path}: cannot read ({err})") from None
    if not ids:
        raise InputError(f"{path}: no queries found")
    sidecar = Path(str(path) + SIDECAR_SUFFIX)
    settings = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
    return EncodedTopics(ids, vectors, settings, str(path))
