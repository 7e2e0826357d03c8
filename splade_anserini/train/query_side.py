"""The query side of training: train the document encoder against a fixed query encoder, as the SPLADE-doc papers
do, and write the pair.

``query_model:`` in the training settings:

- null (the default): one model for both sides, trained (SPLADE as usual);
- ``frozen``: the queries are encoded by a fixed copy of the starting model while the document side trains (the
  document half of a pair whose query half is already there);
- a SPLADE model (directory, alias, hub id): that model, fixed; it must have the trained model's word pieces;
- ``idf``: inference-free queries (SPLADE-doc, OpenSearch's doc-only models): the query's word pieces weighted by
  ``ln(N / df)``, N and df counted over the training data's documents as the document model's tokenizer cuts them
  (at search time the index's own statistics weigh them: the rule of :mod:`..model.query_models`);
- a JSON token-weight file ``{token: weight}``: inference-free, that table.

The fixed side gets no gradient and no dropout; validation and mining with the model encode queries with it too,
through the :class:`~..model.query_models.QueryEncoder` it hands them (:meth:`FixedModelSide.query_encoder`,
:meth:`InferenceFreeSide.query_encoder`): the same kinds of encoder search uses, so validation quantizes queries as
the search job will.
Every checkpoint (and so ``final/``) records the pair in ``query_model.json``, and carries what the record names:
the fixed model as ``query_0_MLMTransformer/`` (``query-model/`` in checkpoints of earlier versions), a table as
``query-weights.json`` (``idf`` needs nothing). The checkpoint is also a sentence-transformers ``Router``
(:func:`~..model.layouts.write_sparse_encoder`): the fixed model, or the table (for ``idf``: the training
documents' idf) as a ``SparseStaticEmbedding`` in ``query_0_SparseStaticEmbedding/``, is its query route.
``encode --model CHECKPOINT`` without ``--query-model`` reads the record
(:func:`~..model.query_models.recorded_query_model`), so the index records, and ``search`` checks, the pair the
documents were trained for.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import torch

from ..errors import InputError
from ..model.layouts import MODULE_CONFIG, STATIC_WEIGHTS, model_files
from ..model.query_models import (
    IDF,
    MODEL,
    PAIR_FILE,
    TABLE,
    InferenceFreeEncoder,
    QueryEncoder,
    QueryTokenizer,
    SpladeQueries,
    inference_free_weights,
    load_token_weights,
    query_model_kind,
)
from ..model.splade import Splade
from .encoder import training_weights
from .settings import FROZEN, TrainSettings

MODEL_FOLDER = "query_0_MLMTransformer"  # a checkpoint's fixed query model (the Router's query route)
STATIC_FOLDER = "query_0_SparseStaticEmbedding"  # an inference-free query side as the Router's query route
TABLE_FILE = "query-weights.json"  # a checkpoint's token-weight table
TOKENIZE_CHUNK = 1024  # documents tokenized per call while counting document frequencies


def document_texts(examples) -> list:
    """The documents of the training data: a train split's corpus, or the positives and negatives of ready-made
    examples (each text once)."""
    judged = getattr(examples, "judged", None)
    if judged is not None:
        return list(judged.corpus.values())
    return list(dict.fromkeys(text for e in examples.examples for text in (e.positive, *e.negatives)))


class FixedModelSide:
    """Queries encoded by a fixed SPLADE model (eval mode, no gradient)."""

    def __init__(self, spec: str, source: str, splade: Splade, pooling: str):
        self.spec = spec
        self.model = Splade(source, pooling=pooling, device=str(splade.device), max_length=splade.max_length)
        if self.model.vocab != splade.vocab:
            raise InputError(f"query_model {source!r} has other word pieces than the model being trained; a pair "
                             f"must share its vocabulary")
        self.pooling = pooling
        for parameter in self.model.mlm.parameters():
            parameter.requires_grad_(False)

    def weights(self, texts: list, max_length: int) -> torch.Tensor:
        with torch.no_grad():
            return training_weights(self.model, self.model.tokenize(texts, max_length), self.pooling)

    def query_encoder(self, scale: float, batch_size: int) -> QueryEncoder:
        """The fixed model's queries quantized at ``scale``, for validation and mining."""
        return SpladeQueries(self.model, scale=scale, batch_size=batch_size, pooling=self.pooling)

    route, route_kind = MODEL_FOLDER, MODEL

    def save(self, checkpoint: Path) -> str:
        self.model.mlm.save_pretrained(checkpoint / MODEL_FOLDER)
        self.model.tokenizer.save_pretrained(checkpoint / MODEL_FOLDER)
        return MODEL_FOLDER


class InferenceFreeSide:
    """Inference-free queries: word pieces weighted by idf over the training documents, or by a table."""

    def __init__(self, spec: str, splade: Splade, documents: list, max_length: int):
        self.spec, self.max_length = spec, max_length  # max_length: of the queries validation encodes
        self.tokenizer = QueryTokenizer(splade.path)
        self.tokenizer_source = splade.path
        # loaded now, not when a checkpoint is saved: the run may have started from a checkpoint that pruning
        # has since deleted
        from transformers import AutoTokenizer
        self.tokenizer_files = AutoTokenizer.from_pretrained(model_files(splade.path))
        self.ids = {token: index for index, token in enumerate(splade.vocab)}
        self.vocab_size = splade.vocab_size
        self.device = splade.device
        self.table_path = None
        if spec == IDF:
            self.table = idf_table(self.tokenizer, documents)
        else:
            self.table_path = Path(spec).expanduser().resolve()
            self.table = load_token_weights(self.table_path, self.tokenizer.vocabulary)

    def _weights(self, texts: list, max_length: int) -> list[dict]:
        return inference_free_weights(self.tokenizer, texts, self.table, max_length)

    def weights(self, texts: list, max_length: int) -> torch.Tensor:
        out = torch.zeros(len(texts), self.vocab_size, device=self.device)
        for row, vector in enumerate(self._weights(texts, max_length)):
            for piece, weight in vector.items():
                out[row, self.ids[piece]] = weight
        return out

    def query_encoder(self, scale: float, batch_size: int) -> QueryEncoder:
        """The table's queries (of at most the validation's max length) quantized at ``scale``, for validation and
        mining: an :class:`~..model.query_models.InferenceFreeEncoder`, as search encodes them."""
        return InferenceFreeEncoder(self.spec, self.tokenizer_source, scale=scale, max_length=self.max_length,
                                    table=self.table, batch_size=batch_size)

    route, route_kind = STATIC_FOLDER, TABLE

    def save(self, checkpoint: Path) -> str:
        self._save_static(checkpoint / STATIC_FOLDER)
        if self.table_path is None:
            return IDF
        if self.table_path.is_dir():  # a SparseStaticEmbedding: its copy is the record
            return STATIC_FOLDER
        shutil.copyfile(self.table_path, checkpoint / TABLE_FILE)
        return TABLE_FILE

    def _save_static(self, folder: Path) -> None:
        """The table as a frozen SparseStaticEmbedding (weights over the vocabulary, its tokenizer)."""
        from safetensors.torch import save_file
        weight = torch.zeros(self.vocab_size, dtype=torch.float32)
        for token, value in self.table.items():
            weight[self.ids[token]] = value
        folder.mkdir(parents=True, exist_ok=True)
        save_file({"weight": weight}, str(folder / STATIC_WEIGHTS))
        self.tokenizer_files.save_pretrained(folder)
        (folder / MODULE_CONFIG).write_text(json.dumps({"frozen": True}, indent=2) + "\n", encoding="utf-8")


def idf_table(tokenizer: QueryTokenizer, documents: list) -> dict:
    """``{piece: ln(N / df)}`` over ``documents`` as the tokenizer cuts them (every piece, no length cut)."""
    df: dict = {}
    tokenizer.tokenizer.no_truncation()
    for start in range(0, len(documents), TOKENIZE_CHUNK):
        for encoding in tokenizer.tokenizer.encode_batch(documents[start:start + TOKENIZE_CHUNK]):
            for piece in set(encoding.tokens) - tokenizer.special:
                df[piece] = df.get(piece, 0) + 1
    total = len(documents)
    return {piece: math.log(total / count) for piece, count in df.items()}


def build_query_side(settings: TrainSettings, splade: Splade, examples):
    """The fixed query side of ``settings.query_model``, or None (the model itself, trained)."""
    spec = settings.query_model
    if spec is None:
        return None
    if spec == FROZEN:
        return FixedModelSide(spec, settings.model, splade, settings.pooling)
    if query_model_kind(spec) == MODEL:
        return FixedModelSide(spec, spec, splade, settings.pooling)
    return InferenceFreeSide(spec, splade, document_texts(examples) if spec == IDF else [],
                             settings.validation.max_length)


def write_pair(checkpoint: Path, side) -> None:
    """Record the pair in ``checkpoint`` (a model directory being written): ``query_model.json`` naming the query
    side, relative to the checkpoint, and the files it names."""
    if side is None:
        return
    record = {"query_model": side.save(checkpoint), "trained_as": side.spec}
    (checkpoint / PAIR_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
