"""Query models: the query side of an index's pair of models, and the inference-free query encoder.

An index records the model that encoded its documents (``model``) and the one its queries are to be encoded with
(``query_model``; ``encode --query-model``, by default the document model itself). A query model is

- a SPLADE model (directory, Hugging Face id or alias) other than the document model, as in Efficient SPLADE's
  pairs (``naver/efficient-splade-V-large-doc`` / ``-query``); it must cut text into the same word pieces;
- ``idf``: inference-free queries weighted by the index's own statistics;
- a JSON file ``{token: weight}`` (like the ``idf.json`` of OpenSearch's doc-only models), or a
  sentence-transformers ``SparseStaticEmbedding`` folder (the query route of an inference-free ``Router`` model):
  inference-free queries weighted by that table.

A sentence-transformers ``Router`` model given as the model is such a pair by itself: its document route encodes the
documents and its query route is the recorded query model (:func:`recorded_query_model`).

Inference-free queries (SPLADE-v3-doc, OpenSearch's doc-only models) need no transformer: a query is

1. cut into word pieces by the document model's tokenizer (its ``tokenizer.json`` through the ``tokenizers`` package,
   or its ``vocab.txt``), at most the query max length of them, special tokens counted, as for SPLADE queries;
2. stripped of special tokens (``[CLS]``, ``[SEP]``, ``[UNK]``, ...); a word piece repeated in the query counts once
   (SPLADE's max pooling gives a repeated piece one weight; OpenSearch's doc-only encoders set it to 1 likewise);
3. weighted: ``idf`` gives a piece ``ln(N / df)`` over the index's N documents, df of them containing it (a piece in
   no document is dropped: it cannot match); a table gives the table's weight, and a piece it lacks is dropped
   (weight 0, as in OpenSearch's encoder);
4. quantized as ``round(scale * w)`` at the index's scale, zeros dropped, like every other query.

Every query side is a :class:`QueryEncoder`: a batch of texts -> integer vectors at the index's scale, plus the
identity an index's manifest records for it. Its implementations are :class:`SpladeQueries` (a SPLADE model) and
:class:`InferenceFreeEncoder` (``idf`` weights, or a token-weight table); :func:`open_query_encoder` is the one
place that chooses between them for an index (``search``, ``encode-queries``, Pyserini's
:class:`~splade_anserini.lucene.queries.SpladeQueryEncoder` all call it), and training's fixed query sides hand their
validation the same kinds of encoder (:mod:`splade_anserini.train.query_side`).

This module imports neither torch (until a SPLADE model is loaded) nor the JVM: the index statistics come from the
caller, as an object with ``df(term)`` and ``num_docs``
(:class:`~splade_anserini.lucene.statistics.LuceneTermStatistics`, or a searcher), or a function that opens them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from collections.abc import Callable
from typing import Protocol, Sequence

from ..errors import InputError, SetupError
from ..formats.artifacts import sha256_file
from ..formats.quantization import quantize_vector
from ..settings import ENCODE, MIN_MAX_LENGTH, SEARCH
from .layouts import STATIC_WEIGHTS, is_static_embedding, model_files, read_layout, static_table

IDF = "idf"
TABLE = "table"
MODEL = "model"
PAIR_FILE = "query_model.json"  # in a model directory trained with its own query side (train/query_side.py)


class TermStatistics(Protocol):
    """What idf weights need from an index."""
    num_docs: int

    def df(self, term: str) -> int: ...


class QueryEncoder(Protocol):
    """What encodes queries, whatever the query side: ``encode_batch`` gives each text's ``{term: int}`` vector (in
    input order, quantized at ``scale`` by :func:`~splade_anserini.formats.quantization.quantize_vector`'s rule,
    zeros dropped); ``identity`` is what an index's manifest records as its ``query_model_identity`` and search
    compares (:func:`query_side`); ``settings`` what a pre-encoded topics file and a run's search facts record;
    ``close()`` releases what the encoder opened (an index's statistics)."""
    model_name: str
    scale: float
    max_length: int
    has_model: bool  # a neural model encodes the queries (Pyserini's QueryEncoder attribute)

    def encode_batch(self, texts: Sequence[str]) -> list[dict]: ...

    @property
    def identity(self) -> dict: ...

    @property
    def settings(self) -> dict: ...

    def close(self) -> None: ...


def query_model_kind(spec: str | Path) -> str:
    """``idf``, ``table`` (a JSON token-weight file, or a SparseStaticEmbedding folder) or ``model`` (a directory,
    a hub id or an alias; a model is never a single file)."""
    if str(spec) == IDF:
        return IDF
    path = Path(str(spec)).expanduser()
    return TABLE if path.is_file() or is_static_embedding(path) else MODEL


def table_checksum(path: str | Path) -> str:
    """The SHA-256 that identifies a token-weight table: of the JSON file, or of a SparseStaticEmbedding's weights."""
    path = Path(path)
    return sha256_file(path / STATIC_WEIGHTS if path.is_dir() else path)


def load_token_weights(path: str | Path, vocabulary: set | None = None) -> dict:
    """A token-weight table ``{token: weight}`` from a JSON file; weights are non-negative numbers, and with
    ``vocabulary`` every token must be one of its word pieces (a table of another tokenizer would never match)."""
    path = Path(path).expanduser()
    try:
        table = static_table(path) if path.is_dir() else json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: not a token-weight table (a JSON object {{token: weight}}): "
                         f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    if not isinstance(table, dict) or not table:
        raise InputError(f"{path}: a token-weight table must be a non-empty JSON object {{token: weight}}")
    for token, weight in table.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0 or math.isinf(weight):
            raise InputError(f"{path}: weight of {token!r} must be a non-negative number, not {weight!r}")
    if vocabulary is not None:
        unknown = [token for token in table if token not in vocabulary]
        if unknown:
            raise InputError(f"{path}: {unknown[0]!r} is not a word piece of the document model ({len(unknown)} "
                             f"such tokens); this table was made for another tokenizer")
    return table


# ---- the pair in manifests --------------------------------------------------------------------------------------

def query_side(spec: str | None, document_model_path: str | Path) -> dict:
    """What a manifest records about the query model ``spec`` of documents encoded with the model at
    ``document_model_path``: ``query_model_path`` and ``query_model_identity`` (checksums, compared at search time
    as the document model's are); nothing beyond ``query_model`` when it is the document model itself.

    The identity of an inference-free query model is its kind, the document model's tokenizer and, for a table,
    the table's SHA-256. Refuses a query model that cuts text into other word pieces than the document model."""
    from .models import model_identity, resolve_model, vocabulary
    if spec is None:
        return {}
    tokenizer = model_identity(document_model_path)["tokenizer"]
    kind = query_model_kind(spec)
    if kind == IDF:
        return {"query_model_path": None, "query_model_identity": {"inference_free": IDF, "tokenizer": tokenizer}}
    if kind == TABLE:
        path = Path(spec).expanduser().resolve()
        load_token_weights(path, vocabulary(document_model_path))
        return {"query_model_path": str(path),
                "query_model_identity": {"inference_free": TABLE, "table": table_checksum(path),
                                         "tokenizer": tokenizer}}
    path = resolve_model(str(spec))
    ours, theirs = vocabulary(path), vocabulary(document_model_path)
    if ours is not None and theirs is not None and ours != theirs:
        raise InputError(f"query model {spec!r} has another vocabulary than the document model "
                         f"({len(ours)} vs {len(theirs)} word pieces); a query model must use the document model's")
    return {"query_model_path": str(path), "query_model_identity": model_identity(path)}


def recorded_query_model(model_path: str | Path) -> str | None:
    """The query model a checkpoint was trained with (its ``query_model.json``, written by the trainer with a fixed
    query side): ``idf``, or the absolute path of the model or table the record names inside the checkpoint; for a
    sentence-transformers Router without a record, its query route's folder; None for a model without either (its
    queries are its own)."""
    record_path = Path(model_path) / PAIR_FILE
    if not record_path.is_file():
        layout = read_layout(model_path)
        if layout.query is None:
            return None
        return str(Path(layout.query.table or layout.query.mlm).resolve())
    try:
        spec = json.loads(record_path.read_text(encoding="utf-8"))["query_model"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"{record_path}: not a query model record ({{\"query_model\": ...}}): "
                         f"{type(err).__name__}") from None
    if not isinstance(spec, str) or not spec:
        raise InputError(f"{record_path}: query_model must name 'idf' or a file or folder in the checkpoint")
    if spec == IDF:
        return IDF
    path = (Path(model_path) / spec).resolve()
    if not path.exists():
        raise InputError(f"{record_path}: the query model it names, {path}, is missing")
    return str(path)


def index_query_model(manifest: dict) -> dict:
    """The query side an index was built for, as ``{"model", "model_path", "model_identity"}``: its recorded query
    model, or the document model (indexes built before pairs were recorded, or without ``--query-model``)."""
    if manifest.get("query_model") is None:
        return {key: manifest.get(key) for key in ("model", "model_path", "model_identity")}
    return {"model": manifest["query_model"], "model_path": manifest.get("query_model_path"),
            "model_identity": manifest.get("query_model_identity")}


def index_query_spec(manifest: dict) -> str:
    """The query model to encode an index's queries with: ``idf``, the recorded table or model by its absolute path
    (whatever the working directory now), or a model by its name where its directory is gone."""
    recorded = index_query_model(manifest)
    path = recorded.get("model_path")
    if manifest.get("query_model") is not None and path and Path(path).exists():
        return path
    return recorded["model"] or ENCODE.model


def describe_query_model(name, identity: dict | None) -> str:
    kind = (identity or {}).get("inference_free")
    return f"{name!r}" + (f" (inference-free, {kind} weights)" if kind else "")


# ---- the encoder ------------------------------------------------------------------------------------------------

class QueryTokenizer:
    """A model directory's tokenizer without transformers (and so without torch): ``tokenizer.json`` through the
    ``tokenizers`` package, or a BERT ``vocab.txt``."""

    def __init__(self, model_path: str | Path):
        from tokenizers import Tokenizer
        directory = model_files(model_path)
        if (directory / "tokenizer.json").is_file():
            self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        elif (directory / "vocab.txt").is_file():
            from tokenizers.implementations import BertWordPieceTokenizer
            config = directory / "tokenizer_config.json"
            lowercase = json.loads(config.read_text(encoding="utf-8")).get("do_lower_case", True) \
                if config.is_file() else True
            self.tokenizer = BertWordPieceTokenizer(str(directory / "vocab.txt"), lowercase=lowercase)
        else:
            raise SetupError(f"{directory}: no tokenizer.json or vocab.txt; inference-free queries need the document "
                             f"model's tokenizer files")
        self.tokenizer.no_padding()  # a tokenizer.json may carry padding and truncation settings of its own
        self.special = {entry.content for entry in self.tokenizer.get_added_tokens_decoder().values()
                        if entry.special}
        self.vocabulary = set(self.tokenizer.get_vocab())

    def pieces(self, texts: Sequence[str], max_length: int) -> list[list[str]]:
        """Each text's distinct word pieces in order of first occurrence, special tokens left out, from its first
        ``max_length`` tokens (special tokens counted)."""
        self.tokenizer.enable_truncation(max_length)
        out = []
        for encoding in self.tokenizer.encode_batch(list(texts)):
            out.append(list(dict.fromkeys(token for token, special in zip(encoding.tokens,
                                                                          encoding.special_tokens_mask)
                                          if not special and token not in self.special)))
        return out


def inference_free_weights(tokenizer: QueryTokenizer, texts: Sequence[str], weight, max_length: int) -> list[dict]:
    """Each text's distinct word pieces (see :meth:`QueryTokenizer.pieces`) with their float weights, zero weights
    left out: ``weight`` is a ``{token: weight}`` table (a piece it lacks weighs 0) or a function of the piece.
    What :class:`InferenceFreeEncoder` quantizes, and what a trainer needs for a frozen inference-free query side."""
    weigh = weight.get if isinstance(weight, dict) else weight
    out = []
    for pieces in tokenizer.pieces(texts, max_length):
        weighted = ((piece, weigh(piece) or 0.0) for piece in pieces)
        out.append({piece: value for piece, value in weighted if value > 0})
    return out


class InferenceFreeEncoder:
    """Queries as weighted word pieces (see the module's rule), with the interface of
    :class:`~splade_anserini.lucene.queries.SpladeQueryEncoder` (``encode``, ``encode_batch``, ``settings``) and no
    model: ``idf`` weights from ``statistics`` (an object with ``df(term)`` and ``num_docs``) or from a ready
    ``table`` of them (training's idf over its documents), or a token-weight ``table`` (loaded from ``spec`` unless
    given). ``close()`` closes the statistics when ``owns_statistics``. A :class:`QueryEncoder`."""

    def __init__(self, spec: str, tokenizer_path: str | Path, *, scale: float = ENCODE.scale,
                 max_length: int = ENCODE.max_length, statistics: TermStatistics | None = None,
                 table: dict | None = None, batch_size: int = SEARCH.batch_size, manifest: dict | None = None,
                 owns_statistics: bool = False):
        self.kind = query_model_kind(spec)
        if self.kind == MODEL:
            raise InputError(f"{spec!r} is a model, not an inference-free query model ('idf' or a token-weight file)")
        if max_length < MIN_MAX_LENGTH:
            raise InputError(f"query max length must be at least {MIN_MAX_LENGTH} (two special tokens and one word), "
                             f"not {max_length}")
        self.model_name = str(spec)
        self.tokenizer_path = Path(tokenizer_path)
        self.tokenizer = QueryTokenizer(tokenizer_path)
        self.scale, self.max_length, self.batch_size = scale, max_length, batch_size
        self.manifest = manifest or {}
        self.statistics, self.owns_statistics = statistics, owns_statistics
        self.table_path = None
        if self.kind == IDF and table is None:
            if statistics is None:
                raise InputError("idf query weights come from an index: give the index (its term statistics)")
            self._weight = self._idf
        elif self.kind == IDF:
            self.table = self._weight = table
        else:
            self.table_path = Path(spec).expanduser().resolve()
            self.table = table if table is not None else load_token_weights(self.table_path,
                                                                            self.tokenizer.vocabulary)
            self._weight = self.table
        self.has_model = False  # Pyserini's QueryEncoder attribute: no neural model behind these queries
        self.splade = None

    def _idf(self, piece: str) -> float:
        df = self.statistics.df(piece)
        return math.log(self.statistics.num_docs / df) if df else 0.0

    def weights(self, texts: Sequence[str]) -> list[dict]:
        """Each text's word pieces with their float weights (zero weights left out), before quantization."""
        return inference_free_weights(self.tokenizer, texts, self._weight, self.max_length)

    def encode_batch(self, texts: Sequence[str]) -> list[dict]:
        """Quantized vectors ``{piece: round(scale * w)}`` without zeros, in input order."""
        return [quantize_vector(vector, self.scale) for vector in self.weights(texts)]

    def encode(self, text: str, **kwargs) -> dict:
        return self.encode_batch([text])[0]

    def prime(self, texts: Sequence[str]) -> None:
        """Nothing to do ahead of time (:meth:`SpladeQueryEncoder.prime`'s counterpart): encoding is a lookup."""

    @property
    def identity(self) -> dict:
        from .models import model_identity
        identity = {"inference_free": self.kind, "tokenizer": model_identity(self.tokenizer_path)["tokenizer"]}
        if self.kind == TABLE:
            identity["table"] = table_checksum(self.table_path)
        return identity

    @property
    def settings(self) -> dict:
        """What a pre-encoded topics file and a run's search facts record about these queries."""
        table = None if self.table_path is None else str(self.table_path)
        settings = {"model": self.model_name, "model_path": None, "model_identity": self.identity,
                    "inference_free": self.kind, "table_path": table,
                    "scale": self.scale, "max_length": self.max_length,
                    "document_model": self.manifest.get("model"),
                    "document_model_identity": self.manifest.get("model_identity")}
        if self.kind == IDF and self.statistics is not None:
            settings["index_documents"] = self.statistics.num_docs
        return settings

    def close(self) -> None:
        if self.owns_statistics and self.statistics is not None and hasattr(self.statistics, "close"):
            self.statistics.close()
            self.statistics = None

    @classmethod
    def for_index(cls, spec: str, manifest: dict, *, statistics: TermStatistics | None = None,
                  scale: float | None = None, max_length: int | None = None, batch_size: int = SEARCH.batch_size,
                  owns_statistics: bool = False) -> "InferenceFreeEncoder":
        """The encoder of an index (its ``manifest``): the document model's tokenizer, the index's scale and max
        length unless given; for a table recorded in the manifest, the recorded file."""
        if not manifest.get("model_path"):
            raise InputError("inference-free queries use the document model's tokenizer, which only an index built "
                             "by splade-anserini records (its manifest.json): search this index with --encoded-topics")
        scale = scale if scale is not None else manifest.get("scale", ENCODE.scale)
        return cls(spec, manifest["model_path"], scale=scale,
                   max_length=max_length or manifest.get("max_length", ENCODE.max_length), statistics=statistics,
                   batch_size=batch_size, manifest=manifest, owns_statistics=owns_statistics)


class SpladeQueries:
    """Queries encoded by a SPLADE model (the document model, or another with its word pieces): a
    :class:`QueryEncoder` over a loaded :class:`~splade_anserini.model.splade.Splade` (``splade``), quantized at
    ``scale``. ``name`` is the query model as the caller named it (recorded in the settings and a run's tag);
    ``pooling`` the pooling asked for (None: the model's own); ``manifest`` the index's, whose document model the
    settings record."""

    has_model = True

    def __init__(self, splade, *, scale: float = ENCODE.scale, batch_size: int = ENCODE.batch_size,
                 name: str | None = None, pooling: str | None = None, manifest: dict | None = None):
        self.splade = splade
        self.model_name = str(splade.path) if name is None else name
        self.scale, self.batch_size, self.max_length = scale, batch_size, splade.max_length
        self.pooling = pooling
        self.manifest = manifest or {}

    @classmethod
    def load(cls, spec: str, *, scale: float, max_length: int, pooling: str | None = None,
             device: str | None = None, batch_size: int = ENCODE.batch_size,
             manifest: dict | None = None) -> SpladeQueries:
        """The model ``spec`` (directory, alias or hub id) loaded for queries of at most ``max_length`` tokens."""
        from .splade import Splade  # torch: only where a SPLADE model encodes queries
        return cls(Splade(spec, max_length=max_length, pooling=pooling, device=device), scale=scale,
                   batch_size=batch_size, name=spec, pooling=pooling, manifest=manifest)

    def encode_batch(self, texts: Sequence[str]) -> list[dict]:
        """Quantized vectors in batches of similar length, in input order."""
        return self.splade.encode(list(texts), self.scale, self.batch_size)

    @property
    def identity(self) -> dict:
        from .models import model_identity
        return model_identity(self.splade.path)

    @property
    def settings(self) -> dict:
        """What a pre-encoded topics file records about how it was made: the query model, and the document model
        of the index it was set up for (the pair is checked at search time)."""
        return {"model": self.model_name, "model_path": str(self.splade.path), "model_identity": self.identity,
                "scale": self.scale, "max_length": self.max_length, "pooling": self.pooling,
                "document_model": self.manifest.get("model"),
                "document_model_identity": self.manifest.get("model_identity")}

    def close(self) -> None:
        """Nothing to release (the model goes with the object)."""


def open_query_encoder(spec: str | None, manifest: dict, *, statistics: TermStatistics | None = None,
                       open_statistics: Callable[[], TermStatistics] | None = None, scale: float | None = None,
                       max_length: int | None = None, pooling: str | None = None,
                       batch_size: int = SEARCH.batch_size, device: str | None = None) -> QueryEncoder:
    """The query encoder of an index (its ``manifest``; ``{}`` for none): the one place that decides what encodes
    queries. ``spec`` is the query model (default: the index's, :func:`index_query_spec`; without a manifest the
    default model); ``idf`` and token-weight tables give an :class:`InferenceFreeEncoder` (the document model's
    tokenizer; no torch), anything else a SPLADE model's :class:`SpladeQueries`. Scale, max length and pooling
    default to the index's. ``idf`` weighs by ``statistics``, or by those ``open_statistics()`` opens (only then, and
    closed by the encoder's ``close()``). Call ``close()`` when done."""
    spec = spec or (index_query_spec(manifest) if manifest else ENCODE.model)
    scale = scale if scale is not None else manifest.get("scale", ENCODE.scale)
    max_length = max_length or manifest.get("max_length", ENCODE.max_length)
    kind = query_model_kind(spec)
    if kind == MODEL:
        return SpladeQueries.load(spec, scale=scale, max_length=max_length, device=device, batch_size=batch_size,
                                  pooling=pooling or manifest.get("pooling", ENCODE.pooling), manifest=manifest)
    opened = None
    if kind == IDF and statistics is None:
        if open_statistics is None:
            raise InputError("idf query weights come from an index's statistics: give --index")
        statistics = opened = open_statistics()
    try:
        return InferenceFreeEncoder.for_index(spec, manifest, statistics=statistics, scale=scale,
                                              max_length=max_length, batch_size=batch_size,
                                              owns_statistics=opened is not None)
    except BaseException:
        if opened is not None:
            opened.close()
        raise
