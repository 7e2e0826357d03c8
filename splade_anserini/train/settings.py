"""Training settings, typed: :class:`TrainSettings` and its sections, each with its defaults and checks.

``configs/train-*.yaml`` and ``key=value`` overrides are read by :func:`~.trainer.load_settings` into these
dataclasses (the YAML's keys are the fields' names, sections are nested dataclasses); :meth:`TrainSettings.validate`
refuses a bad value in one sentence naming the key (``configs/x.yaml: validation.every must be a positive
integer, not 0``). The choice lists are the ones the training modules define: the ranking losses
(:data:`.losses.RANKING_LOSSES`), the regularisers (:data:`.losses.REGULARIZERS`), the teachers
(:data:`.supervised.TEACHERS`). ``as_dict()`` is what a checkpoint's ``training.json`` records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..errors import InputError
from ..evaluate import parse_measure
from ..settings import (
    DTYPES,
    ENCODE,
    POOLINGS,
    SEARCH,
    Settings,
    at_least,
    finite_number,
    flag,
    non_negative_number,
    one_of,
    positive_int,
    positive_number,
)
from .losses import RANKING_LOSSES, REGULARIZERS, MarginMSE
from .supervised import TEACHERS

LOSSES = tuple(RANKING_LOSSES)
MINERS = ("bm25", "model")
LR_DECAYS = ("constant", "linear")
FROZEN = "frozen"  # query_model: a fixed copy of the starting model


def _optional(check):
    return lambda value: None if value is None else check(value)


def _text(value):
    return None if isinstance(value, str) and value.strip() else f"must be a non-empty string, not {value!r}"


def _integer(value):
    return None if isinstance(value, int) and not isinstance(value, bool) else f"must be an integer, not {value!r}"


def _list(value):
    return None if isinstance(value, list) else f"must be a list, not {value!r}"


def _query_model(value):
    if value is None or (isinstance(value, str) and value.strip()):
        return None
    return f"must be null (one trained model), '{FROZEN}', 'idf', a model or a token-weight file, not {value!r}"


def _dropout(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1:
        return None
    return f"must be a number in [0, 1), or null for the model's own, not {value!r}"


@dataclass
class DataSettings(Settings):
    """Where the examples come from: one of ``source`` (a triples / scored-pairs file or ``irds:`` pairs),
    ``pseudo_queries`` (a corpus whose titles are queries), or a train split (``dir``, or ``topics``, ``qrels`` and
    ``corpus``), whose ``exclude_topics`` (default: the directory's test queries) are never trained on."""
    source: str | None = None
    pseudo_queries: str | None = None
    negatives: str = "bm25"  # pseudo-queries: bm25 or random negatives
    limit: int | None = None  # the first N examples; a train split: N of its training queries, drawn with the seed
    dir: str | None = None
    corpus: str | None = None
    topics: str | None = None
    qrels: str | None = None
    exclude_topics: str | None = None
    fields: list = field(default_factory=list)
    candidates: str | None = None  # BM25 candidates mined beforehand (a train split only)

    PATHS = ("source", "pseudo_queries", "dir", "corpus", "topics", "qrels", "exclude_topics", "candidates")

    def _checks(self) -> dict:
        return {**{name: _optional(_text) for name in self.PATHS}, "limit": _optional(positive_int),
                "fields": _list}

    @property
    def split(self) -> bool:
        """A train split (supervised data: positives from qrels, mined negatives, validation)."""
        return any((self.dir, self.corpus, self.topics, self.qrels))


@dataclass
class NegativeSettings(Settings):
    """A train split's negatives: drawn from the candidates of ``sources`` within ``ranks`` [first, end)."""
    sources: list = field(default_factory=lambda: ["bm25"])
    depth: int = 100
    ranks: list = field(default_factory=lambda: [0, 100])
    margin: float | None = None
    remine_every: int = 0

    def _checks(self) -> dict:
        def sources(value):
            if not isinstance(value, list) or not value or any(m not in MINERS for m in value):
                return f"must list some of {', '.join(MINERS)}, not {value!r}"
            return None

        def ranks(value):
            if not (isinstance(value, list) and len(value) == 2 and all(_integer(r) is None for r in value)
                    and 0 <= value[0] < value[1]):
                return f"must be [first, end] ranks, 0 <= first < end, not {value!r}"
            return None
        return {"sources": sources, "depth": positive_int, "ranks": ranks, "margin": _optional(finite_number),
                "remine_every": at_least(0)}


@dataclass
class TeacherSettings(Settings):
    """The teacher of the distillation losses (see :mod:`.supervised`)."""
    kind: str = "none"
    bm25_weight: float = 0.5

    def _checks(self) -> dict:
        def share(value):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
                return None
            return f"must be between 0 and 1, not {value!r}"
        return {"kind": one_of(TEACHERS), "bm25_weight": share}


@dataclass
class RegularizerSettings(Settings):
    """One side's regulariser; None takes the shorthand (``regularizer``, ``lambda_q``/``lambda_d``,
    ``lambda_warmup_steps``); ``threshold``: vectors with at most this many active terms are not regularised."""
    kind: str | None = None
    weight: float | None = None
    warmup_steps: int | None = None
    threshold: int | None = None

    def _checks(self) -> dict:
        return {"kind": _optional(one_of(tuple(REGULARIZERS))), "weight": _optional(non_negative_number),
                "warmup_steps": _optional(at_least(0)), "threshold": _optional(at_least(0))}


@dataclass
class ValidationSettings(Settings):
    """Queries carved out of a train split, evaluated every ``every`` steps with the search job's settings; the
    best checkpoint becomes final/, ``patience`` validations without a gain stop the run."""
    queries: float = 0  # a count, or a fraction below 1
    every: int = 100
    measure: str = "nDCG@10"
    patience: int = 0
    k: int = SEARCH.k
    scale: float = ENCODE.scale
    max_length: int = ENCODE.max_length
    min_idf: float = SEARCH.min_idf
    remove_query: bool = False
    batch_size: int = ENCODE.batch_size

    def _checks(self) -> dict:
        def count(value):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                return None
            return f"must be a count of queries or a fraction below 1, not {value!r}"

        def measure(value):
            parse_measure(str(value))  # raises its own sentence
        return {"queries": count, "every": positive_int, "measure": measure, "patience": at_least(0),
                "k": positive_int, "scale": positive_number, "max_length": positive_int, "min_idf": finite_number,
                "remove_query": flag, "batch_size": positive_int}


@dataclass
class FinalTestSettings(Settings):
    """``train --test``: the experiment config whose topics evaluate the final model, and its overrides."""
    config: str | None = None
    overrides: list = field(default_factory=list)

    def _checks(self) -> dict:
        return {"config": _optional(_text), "overrides": _list}


SECTIONS = {"data": DataSettings, "negatives": NegativeSettings, "teacher": TeacherSettings,
            "query_regularizer": RegularizerSettings, "document_regularizer": RegularizerSettings,
            "validation": ValidationSettings, "test": FinalTestSettings}
SUPERVISED_SECTIONS = ("negatives", "teacher", "validation")  # read (and checked) for a train split only
SIDES = ("query", "document")


@dataclass
class TrainSettings(Settings):
    """Everything a training run is made of (``configs/train-*.yaml``); fields in the order ``training.json``
    records them."""
    name: str | None = None  # load_settings: the config's file name
    model: str = ENCODE.model
    # the query side: null (this model, trained), or fixed while the documents train: frozen (a copy of the
    # starting model), a model, idf or a token-weight file (inference-free); see query_side.py
    query_model: str | None = None
    output: str | None = None  # load_settings: checkpoints/<model>.<name>
    data: DataSettings = field(default_factory=DataSettings)
    negatives_per_query: int = 1
    negatives: NegativeSettings = field(default_factory=NegativeSettings)
    teacher: TeacherSettings = field(default_factory=TeacherSettings)
    loss: str = "contrastive"
    temperature: float = 1.0
    in_batch: bool = True
    # shorthand for both regularisers; query_regularizer / document_regularizer override a side's kind, weight,
    # warm-up, and add a threshold of active terms
    regularizer: str = "flops"
    lambda_q: float = 3e-4
    lambda_d: float = 1e-4
    lambda_warmup_steps: int = 100
    query_regularizer: RegularizerSettings = field(default_factory=RegularizerSettings)
    document_regularizer: RegularizerSettings = field(default_factory=RegularizerSettings)
    lr: float = 2e-5
    lr_warmup_steps: int = 20
    lr_decay: str = "constant"
    weight_decay: float = 0.01
    dropout: float | None = None  # the model's own (0.1 for BERT); a number sets every dropout layer
    batch_size: int = 8
    grad_accum: int = 1
    max_steps: int = 200
    query_max_length: int = 32
    doc_max_length: int = ENCODE.max_length
    pooling: str | None = None  # the starting model's own (its SpladePooling's; max for a bare masked LM)
    checkpoint_every: int = 100
    seed: int = 13
    device: str | None = None
    dtype: str = ENCODE.dtype
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    test: FinalTestSettings = field(default_factory=FinalTestSettings)

    def _checks(self) -> dict:
        return {"name": _optional(_text), "model": _text, "query_model": _query_model, "output": _optional(_text),
                "negatives_per_query": positive_int, "loss": one_of(LOSSES), "temperature": positive_number,
                "in_batch": flag, "regularizer": one_of(tuple(REGULARIZERS)), "lambda_q": non_negative_number,
                "lambda_d": non_negative_number, "lambda_warmup_steps": at_least(0), "lr": non_negative_number,
                "lr_warmup_steps": at_least(0), "lr_decay": one_of(LR_DECAYS), "weight_decay": non_negative_number,
                "dropout": _optional(_dropout), "batch_size": positive_int, "grad_accum": positive_int,
                "max_steps": positive_int, "query_max_length": positive_int, "doc_max_length": positive_int,
                "pooling": _optional(one_of(POOLINGS)), "checkpoint_every": positive_int, "seed": _integer,
                "device": _optional(_text), "dtype": one_of(DTYPES)}

    def validate(self, where: str = "", prefix: str = "") -> TrainSettings:
        """One sentence naming the first bad key (``where: section.key ...``), as :class:`InputError`."""
        head = f"{where}: " if where else ""
        data = self.data
        if sum(map(bool, (data.source, data.pseudo_queries, data.split))) != 1:
            raise InputError(f"{head}give one of data.source (triples/scored pairs), data.pseudo_queries (a corpus), "
                             f"or a train split (data: DIR, or data.topics, data.qrels and data.corpus)")
        super().validate(where, prefix)
        for name in SECTIONS:
            if name not in SUPERVISED_SECTIONS or self.supervised:
                getattr(self, name).validate(where, f"{prefix}{name}.")
        needs_teacher = RANKING_LOSSES[self.loss].needs_teacher
        if self.supervised:
            if needs_teacher and self.teacher.kind == "none":
                raise InputError(f"{head}loss {self.loss} distils a teacher's scores; set teacher.kind "
                                 f"({', '.join(TEACHERS[1:])})")
        elif self.loss == MarginMSE.name and self.negatives_per_query != 1:
            raise InputError(f"{head}margin-MSE takes one negative per query (negatives_per_query: 1)")
        return self

    @property
    def supervised(self) -> bool:
        """Training from a train split (validation, mined negatives, teachers)."""
        return self.data.split

    def regularizer_of(self, side: str) -> RegularizerSettings:
        """A side's (``query`` or ``document``) effective regulariser: its own section where given, the shorthand
        otherwise."""
        own = getattr(self, f"{side}_regularizer")
        shorthand = RegularizerSettings(self.regularizer, self.lambda_q if side == "query" else self.lambda_d,
                                        self.lambda_warmup_steps, None)
        return RegularizerSettings(**{f.name: getattr(shorthand, f.name) if getattr(own, f.name) is None
                                      else getattr(own, f.name) for f in fields(RegularizerSettings)})

    def as_dict(self) -> dict:
        """The settings as nested dicts in field order: the config's shape, what ``training.json`` records."""
        return asdict(self)

    @classmethod
    def defaults(cls) -> dict:
        """Every key with its default, in the config's shape (what a config and its overrides are merged into)."""
        return cls().as_dict()

    @classmethod
    def from_section(cls, section: dict, where: str = "", prefix: str = "", **extra) -> TrainSettings:
        """The settings of a whole training config (merged with :meth:`defaults`, so every key is there), checked;
        errors name ``where: section.key``."""
        head = f"{where}: " if where else ""
        values = {**section, **extra}
        _known(values, cls, head + prefix)
        for name, kind in SECTIONS.items():
            given = values.get(name, {})
            if not isinstance(given, dict):
                raise InputError(f"{head}{prefix}{name} must be a mapping, not {given!r}")
            _known(given, kind, f"{head}{prefix}{name}.")
            values[name] = kind(**given)
        return cls(**values).validate(where, prefix)


def _known(values: dict, kind, where: str) -> None:
    names = {f.name for f in fields(kind)}
    unknown = [key for key in values if key not in names]
    if unknown:
        raise InputError(f"{where}{unknown[0]} is not a setting (known: {', '.join(sorted(names))})")
