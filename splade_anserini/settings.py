"""Every setting of the flow with its default and its allowed values, written once: the command line (``choices=``,
``default=``), experiment configs (their sections' defaults and validation), the stages and training read them here.

One dataclass per stage boundary. Each has ``validate()`` (one sentence, :class:`~.errors.InputError`),
``from_args`` (an argparse namespace whose option names are the fields') and ``from_section`` (a config section).
Adding a search option: a field of :class:`SearchSettings` with its default and check, a ``--flag`` in
``cli._search_options`` (its dest is the field's name), and, where an engine's searcher takes it,
its name in :data:`SEARCHER_OPTIONS`. Nothing else forwards it.

This module imports nothing heavy: the CLI reads it to build its parser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

from .errors import InputError
from .formats.artifacts import ENGINES as ENGINE_KINDS

POOLINGS = ("max", "sum")  # max: SPLADE v2 and later; sum: SPLADE v1
DTYPES = ("float32", "float16", "bfloat16")  # float16/bfloat16 autocast is for GPUs; it changes some weights
ON_ERROR = ("stop", "skip")
ENGINES = tuple(ENGINE_KINDS)  # named once, beside the kind of index each builds (formats/artifacts.py)
INDEXERS = ("impact", "anserini")
REORDERS = ("bp",)  # every engine: recursive graph bisection (reorder.py)
FORWARD_ENGINES = ("seismic", "bmp")  # built from a forward index (forward_engines.py), with their own knobs
FUSE_METHODS = ("rrf", "interpolate", "combsum")
FUSE_NORMALIZATIONS = ("minmax", "zscore", "none")
RUN_FORMATS = ("trec", "msmarco")
MEASURES = ("nDCG@10", "RR@10", "R@100", "R@1000", "AP")  # evaluated when none are named
DEFAULT_POOLING = "max"  # a bare masked LM's (and a config's) pooling; a sentence-transformers model names its own
MIN_MAX_LENGTH = 3  # [CLS], one word piece, [SEP]: fewer leaves nothing to encode
# Search settings each engine's searcher takes as keyword arguments (the rest are applied around the searcher).
SEARCHER_OPTIONS = {"lucene": ("min_idf",), "pisa": ("min_idf",), "seismic": ("min_idf",), "bmp": ("min_idf",)}
# Seismic's and BMP's build knobs: IndexSettings field -> the engine's build setting (SeismicBuild fields, BMP's
# block_size), passed on as IndexSettings.engine_options(); a knob of another engine is refused.
ENGINE_BUILD_KNOBS = {"seismic": {"seismic_postings": "n_postings", "seismic_centroid_fraction": "centroid_fraction",
                                  "seismic_summary_energy": "summary_energy", "seismic_max_fraction": "max_fraction",
                                  "seismic_min_cluster_size": "min_cluster_size", "seismic_doc_cut": "doc_cut",
                                  "seismic_knn": "knn"},
                      "bmp": {"bmp_block_size": "block_size"}}
# Seismic's and BMP's own search knobs: SearchSettings field -> the engine's SeismicSearch / BmpSearch field, passed
# to its searcher as that object (SearchSettings.engine_settings()); a knob of another engine is refused.
ENGINE_SEARCH_KNOBS = {"seismic": {"seismic_query_cut": "query_cut", "seismic_heap_factor": "heap_factor",
                                   "seismic_n_knn": "n_knn"},
                       "bmp": {"bmp_alpha": "alpha", "bmp_beta": "beta", "bmp_no_rescore": "rescore"}}


def _where(where: str) -> str:
    return f"{where}: " if where else ""


class Settings:
    """What every stage's settings share: validation by field, building from the CLI and from config sections."""

    def validate(self, where: str = "", prefix: str = "") -> Settings:
        """Raise :class:`InputError` for a value out of range, one sentence naming the setting (``where: prefix``
        before its name, e.g. ``configs/x.yaml: search.``); returns ``self``."""
        for name, check in self._checks().items():
            problem = check(getattr(self, name))
            if problem:
                raise InputError(f"{_where(where)}{prefix}{name} {problem}")
        return self

    def _checks(self) -> dict:
        return {}

    @classmethod
    def from_args(cls, args, **extra) -> Settings:
        """The settings of a parsed command line: every field whose name is an option's dest (defaults elsewhere),
        checked; errors name the option (``--max-length``)."""
        values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        settings = cls(**{**values, **extra})
        try:
            return settings.validate()
        except InputError as err:  # the option as the user typed it, not the field
            names = sorted((f.name for f in fields(cls)), key=len, reverse=True)
            message = str(err)
            for name in names:
                if message.startswith(name + " "):
                    raise InputError("--" + name.replace("_", "-") + message[len(name):]) from None
            raise

    @classmethod
    def section_keys(cls) -> tuple:
        """The fields a config section of this stage has."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def section_defaults(cls) -> dict:
        """A config section's defaults: this dataclass's."""
        defaults = cls()
        return {name: getattr(defaults, name) for name in cls.section_keys()}

    @classmethod
    def from_section(cls, section: dict, where: str = "", prefix: str = "", **extra) -> Settings:
        """The settings of a config section (its keys: :meth:`section_keys`), checked; errors name
        ``where: prefix<key>``."""
        values = {key: section[key] for key in cls.section_keys() if key in section}
        return cls(**{**values, **extra}).validate(where, prefix)

    def replace(self, **changes) -> Settings:
        return replace(self, **changes)


# ---- checks: each returns None or the rest of a sentence ----------------------------------------------------------

def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def positive_int(value, optional: bool = False):
    if optional and value is None:
        return None
    if not _integer(value) or value < 1:
        return "must be a positive integer" + (" (or null)" if optional else "") + f", not {value!r}"
    return None


def at_least(minimum: int, optional: bool = False):
    def check(value):
        if optional and value is None:
            return None
        if not _integer(value):
            return f"must be an integer, not {value!r}"
        return f"must be at least {minimum}, not {value!r}" if value < minimum else None
    return check


def positive_number(value, optional: bool = False):
    if optional and value is None:
        return None
    if not _number(value) or not 0 < value < math.inf:
        return f"must be a positive number, not {value!r}"
    return None


def finite_number(value):
    if not _number(value) or not math.isfinite(value):
        return f"must be a number, not {value!r}"
    return None


def non_negative_number(value):
    if not _number(value) or not 0 <= value < math.inf:
        return f"must be a non-negative number, not {value!r}"
    return None


def one_of(choices):
    def check(value):
        return None if value in choices else f"must be one of {', '.join(map(str, choices))}, not {value!r}"
    return check


def flag(value):
    return None if isinstance(value, bool) else f"must be true or false, not {value!r}"


def _optional(check):
    return lambda value: None if value is None else check(value)


def _refuse_other_engines(settings, knobs: dict, where: str, prefix: str) -> None:
    """A Seismic/BMP knob given for another engine is refused, not ignored."""
    for engine, names in knobs.items():
        for name in names:
            if engine != settings.engine and getattr(settings, name) not in (None, False):
                raise InputError(f"{_where(where)}{prefix}{name} is a setting of --engine {engine}, "
                                 f"not {settings.engine}")


def _given_knobs(settings, knobs: dict) -> dict | None:
    """The engine's knobs that were given, under the engine's own names; None when none was."""
    given = {own: getattr(settings, name) for name, own in knobs.get(settings.engine, {}).items()
             if getattr(settings, name) not in (None, False)}
    return given or None


# ---- the stages ---------------------------------------------------------------------------------------------------

@dataclass
class EncodeSettings(Settings):
    """Everything that determines the encoded output; recorded in the manifest."""
    model: str = "splade-tiny"
    # the model queries of this collection are encoded with: None (the document model), another SPLADE model, or
    # inference-free: "idf" (the index's idf) or a JSON {token: weight} file (see model/query_models.py)
    query_model: str | None = None
    scale: float = 100
    max_length: int = 256
    pooling: str | None = None  # None: the model's own (a sentence-transformers model's SpladePooling), else max
    fields: list = field(default_factory=list)  # empty: the reader's default (title + text, or contents)
    batch_size: int = 32
    docs_per_file: int = 100_000
    device: str | None = None
    dtype: str = "float32"
    on_error: str = "stop"  # or "skip": bad documents are skipped, counted and listed in the manifest

    def _checks(self) -> dict:
        return {"scale": positive_number, "max_length": at_least(MIN_MAX_LENGTH),
                "pooling": _optional(one_of(POOLINGS)),
                "batch_size": positive_int, "docs_per_file": positive_int, "dtype": one_of(DTYPES),
                "on_error": one_of(ON_ERROR)}

    @classmethod
    def section_keys(cls) -> tuple:
        # model, query model and fields are the experiment's own (top-level) settings; device is the machine's
        return ("scale", "max_length", "pooling", "batch_size", "docs_per_file", "on_error")

    @classmethod
    def section_defaults(cls) -> dict:
        # a config names its pooling (max unless set), so its artifact names and reuse checks never need the model
        return {**super().section_defaults(), "pooling": DEFAULT_POOLING}


@dataclass
class IndexSettings(Settings):
    """How a collection becomes an index (none of it changes the postings of a Lucene index)."""
    engine: str = "lucene"
    indexer: str = "impact"  # lucene only
    threads: int | None = None  # all cores
    bits: int | None = None  # pisa only: re-quantize impacts into 1..2^bits-1; None keeps them
    reorder: str | None = None  # "bp" reorders the documents, the same order for every engine (runs unchanged)
    # --engine seismic / bmp only (ENGINE_BUILD_KNOBS): None keeps the engine's own default (SeismicBuild, BMP's)
    seismic_postings: int | None = None  # postings kept per term list, on average
    seismic_centroid_fraction: float | None = None  # blocks per list as a fraction of its postings
    seismic_summary_energy: float | None = None  # share of a block's weight its summary keeps
    seismic_max_fraction: float | None = None  # no list keeps more than postings x this
    seismic_min_cluster_size: int | None = None
    seismic_doc_cut: int | None = None  # terms of a document used to cluster it
    seismic_knn: int | None = None  # neighbours per document in a kNN graph (0: none)
    bmp_block_size: int | None = None  # documents per block

    def _checks(self) -> dict:
        return {"engine": one_of(ENGINES), "indexer": one_of(INDEXERS), "threads": _optional(positive_int),
                "bits": _optional(at_least(1)), "reorder": _optional(one_of(REORDERS)),
                "seismic_postings": _optional(at_least(1)), "seismic_centroid_fraction": _optional(positive_number),
                "seismic_summary_energy": _optional(positive_number),
                "seismic_max_fraction": _optional(positive_number), "seismic_min_cluster_size": _optional(at_least(1)),
                "seismic_doc_cut": _optional(at_least(1)), "seismic_knn": _optional(at_least(0)),
                "bmp_block_size": _optional(at_least(1))}

    def validate(self, where: str = "", prefix: str = "") -> IndexSettings:
        super().validate(where, prefix)
        _refuse_other_engines(self, ENGINE_BUILD_KNOBS, where, prefix)
        return self

    def engine_options(self) -> dict | None:
        """The Seismic/BMP build settings given (:class:`~.seismic.SeismicBuild` field names, BMP's
        ``block_size``); None when none is."""
        return _given_knobs(self, ENGINE_BUILD_KNOBS)

    @classmethod
    def section_keys(cls) -> tuple:
        return ("threads", "indexer")


@dataclass
class SearchSettings(Settings):
    """How topics are searched. The query model, scale and query max length come from the index unless given."""
    query_model: str | None = None  # a SPLADE model, "idf" or a {token: weight} file; None: the index's
    scale: float | None = None
    query_max_length: int | None = None
    batch_size: int = 32  # queries encoded per batch
    device: str | None = None
    k: int = 1000
    threads: int | None = None  # all cores
    min_idf: float = 0.0  # drop query terms with ln(N/df) <= this, as Pyserini does
    query_top_k: int | None = None  # every term
    remove_query: bool = False
    format: str = "trec"
    on_error: str = "stop"  # or "skip": bad topic lines (invalid or repeated id, empty text) are skipped and listed
    engine: str = "lucene"
    tag: str | None = None  # the run's last column; None: splade-anserini.<model>
    allow_mismatch: bool = False  # search even when the query side differs from the index's (warned)
    # --engine seismic / bmp only (ENGINE_SEARCH_KNOBS): None keeps the engine's own default (SeismicSearch, BmpSearch)
    seismic_query_cut: int | None = None  # the query's heaviest terms whose lists are read
    seismic_heap_factor: float | None = None  # score a block when its summary score > k-th score x this
    seismic_n_knn: int | None = None  # kNN neighbours of the hits scored too
    bmp_alpha: float | None = None  # block threshold factor (1: safe; below 1 approximate)
    bmp_beta: float | None = None  # share of the query weight kept (1: safe; below 1 approximate)
    bmp_no_rescore: bool = False  # BMP's own (rounded) scores instead of exact rescoring

    def _checks(self) -> dict:
        return {"scale": _optional(positive_number), "query_max_length": _optional(at_least(MIN_MAX_LENGTH)),
                "batch_size": positive_int, "k": at_least(1), "threads": _optional(positive_int),
                "min_idf": finite_number, "query_top_k": _optional(at_least(1)), "remove_query": flag,
                "format": one_of(RUN_FORMATS), "on_error": one_of(ON_ERROR), "engine": one_of(ENGINES),
                "allow_mismatch": flag, "seismic_query_cut": _optional(at_least(1)),
                "seismic_heap_factor": _optional(positive_number), "seismic_n_knn": _optional(at_least(0)),
                "bmp_alpha": _optional(positive_number), "bmp_beta": _optional(positive_number),
                "bmp_no_rescore": flag}

    def validate(self, where: str = "", prefix: str = "") -> SearchSettings:
        super().validate(where, prefix)
        _refuse_other_engines(self, ENGINE_SEARCH_KNOBS, where, prefix)
        return self

    def engine_settings(self) -> dict | None:
        """The Seismic/BMP search settings given (their :class:`~.seismic.SeismicSearch` /
        :class:`~.bmp.BmpSearch` field names); None when none is."""
        given = _given_knobs(self, ENGINE_SEARCH_KNOBS)
        if given and "rescore" in given:
            given["rescore"] = False  # bmp_no_rescore
        return given

    @classmethod
    def section_keys(cls) -> tuple:
        # the query model is the experiment's (top-level); scale, device and the engine follow the index
        return ("k", "threads", "batch_size", "query_max_length", "min_idf", "query_top_k", "remove_query", "format",
                "on_error")

    @property
    def query_settings(self) -> tuple:
        """The settings that apply to encoding queries (pre-encoded topics carry their own)."""
        return (self.query_model, self.scale, self.query_max_length)

    def searcher_options(self) -> dict:
        """The keyword arguments of this engine's searcher."""
        return {name: getattr(self, name) for name in SEARCHER_OPTIONS[self.engine]}


@dataclass
class Bm25Settings(Settings):
    """The BM25 baseline (Anserini's defaults for BEIR's flat indexes)."""
    enabled: bool = False
    k1: float = 0.9
    b: float = 0.4
    threads: int | None = None  # the index section's, else all cores

    def _checks(self) -> dict:
        return {"enabled": flag, "k1": non_negative_number, "b": non_negative_number,
                "threads": _optional(positive_int)}


@dataclass
class FuseSettings(Settings):
    """How runs are fused (``splade-anserini fuse``, a config's ``fusion:``)."""
    method: str = "rrf"
    k: float = 60  # RRF's constant, Cormack et al.'s: it damps the weight of the very first ranks
    normalize: str = "minmax"  # interpolate and combsum: scores on different scales are mapped to [0, 1] per query

    def _checks(self) -> dict:
        return {"method": one_of(FUSE_METHODS), "k": non_negative_number, "normalize": one_of(FUSE_NORMALIZATIONS)}


ENCODE = EncodeSettings()
INDEX = IndexSettings()
SEARCH = SearchSettings()
BM25 = Bm25Settings()
FUSE = FuseSettings()
