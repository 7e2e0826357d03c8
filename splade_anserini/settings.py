"""Every setting of the flow with its default, written once: the command line, experiment configs, the query side and
training take their defaults from here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EncodeSettings:
    """Everything that determines the encoded output; recorded in the manifest."""
    model: str = "splade-tiny"
    # the model queries of this collection are encoded with: None (the document model), another SPLADE model, or
    # inference-free: "idf" (the index's idf) or a JSON {token: weight} file (see model/query_models.py)
    query_model: str | None = None
    scale: float = 100
    max_length: int = 256
    pooling: str = "max"
    fields: list = field(default_factory=list)  # empty: the reader's default (title + text, or contents)
    batch_size: int = 32
    docs_per_file: int = 100_000
    device: str | None = None
    dtype: str = "float32"  # float16/bfloat16 autocast is for GPUs; it changes some quantized weights
    on_error: str = "stop"  # or "skip": bad documents are skipped, counted and listed in the manifest


@dataclass
class SearchSettings:
    """How topics are searched; the query model, scale and pooling come from the index unless given."""
    k: int = 1000
    threads: int | None = None  # all cores
    batch_size: int = 32  # queries encoded per batch
    query_max_length: int | None = None  # the index's max length
    min_idf: float = 0.0
    query_top_k: int | None = None  # every term
    remove_query: bool = False
    format: str = "trec"
    on_error: str = "stop"  # or "skip": bad topic lines (invalid or repeated id, empty text) are skipped and listed


@dataclass
class FuseSettings:
    """How runs are fused (``splade-anserini fuse``, a config's ``fusion:``)."""
    method: str = "rrf"
    k: float = 60  # RRF's constant, Cormack et al.'s: it damps the weight of the very first ranks
    normalize: str = "minmax"  # interpolate and combsum: scores on different scales are mapped to [0, 1] per query


ENCODE = EncodeSettings()
SEARCH = SearchSettings()
FUSE = FuseSettings()
