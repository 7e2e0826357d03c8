"""Every setting of the flow with its default, written once: the command line, experiment configs, the query side and
training take their defaults from here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EncodeSettings:
    """Everything that determines the encoded output; recorded in the manifest."""
    model: str = "splade-tiny"
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
    remove_query: bool = False
    format: str = "trec"


ENCODE = EncodeSettings()
SEARCH = SearchSettings()
