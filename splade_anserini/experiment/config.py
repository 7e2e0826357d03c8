"""Experiment configs: one YAML file per experiment naming data, model, settings, measures and expected scores.

A config is read, overridden from the command line with ``key=value`` (dotted keys reach into sections, values
are parsed as YAML: ``encode.scale=50``, ``search.k=100``, ``model=/path/to/model``), validated, and turned into
artifact paths that are the same every time for the same experiment and differ when a setting that changes them
differs::

    collections/<corpus>.<model>[.<settings>]/   indexes/<corpus>.<model>[.<settings>]/   indexes/<corpus>.bm25/
    runs/<topics>.<model>[.<settings>].trec (+ .metrics.json, .config.yaml)       runs/<topics>.bm25.trec

``<model>`` is the model's short name, followed by ``q-<query model>`` when ``query_model`` names another (an index
records the pair, and search checks it, so documents searched with another query model are another index, even
though their vectors are the same). ``<corpus>`` is ``corpus_name`` (default: the experiment's name); ``<settings>``
lists the encoding settings that differ from the defaults (``scale50``, ``len512``, ``sum``, ``fields-text``;
title + text count as default), so an index built with another scale, length, pooling or text fields is never
picked up by mistake. ``<topics>`` is the topic set's name: a config has
either one (``topics``, ``qrels``, ``measures``, ``expected`` at the top, named ``topics_name``, by default the corpus
name) or a list
``topic_sets`` of them, each with its own name, topics, qrels, measures and expected scores.

Local data: ``data: DIR`` (in the file, relative to it, or ``--data DIR`` on the command line, relative to the
working directory) stands for ``DIR/corpus.jsonl``, ``DIR/queries.tsv`` and ``DIR/qrels.txt``.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import InputError
from ..evaluate import parse_measure
from ..formats.runs import config_path, metrics_path
from ..settings import (
    DEFAULT_POOLING,
    ENCODE,
    MEASURES,
    Bm25Settings,
    EncodeSettings,
    IndexSettings,
    SearchSettings,
)

DEFAULTS = {
    "name": None,
    "description": "",
    "data": None,
    "corpus": None,
    "corpus_name": None,
    "topics": None,
    "topics_name": None,
    "qrels": None,
    "fields": [],
    "topic_fields": [],
    "model": ENCODE.model,
    "query_model": ENCODE.query_model,  # None: the model; another SPLADE model, "idf" or a {token: weight} file
    # each stage's section: its settings dataclass's defaults (settings.py)
    "encode": EncodeSettings.section_defaults(),
    "index": IndexSettings.section_defaults(),
    "search": {**SearchSettings.section_defaults(), "encoded_topics": None},
    "bm25": Bm25Settings.section_defaults(),
    "measures": list(MEASURES),
    "expected": {},
    "expected_bm25": {},
    "tolerance": 0.002,
    "topic_sets": [],
    # fused rows: {with: bm25, method: rrf|interpolate|combsum, k, weights, normalize} (or a list of them); each
    # fuses every topic set's SPLADE run with its BM25 run (weights in that order), see fuse.py
    "fusion": None,
}
TOPIC_SET_KEYS = ("name", "topics", "qrels", "topic_fields", "measures", "expected", "expected_bm25", "encoded_topics")
# Encoding settings that change an index, with the short form they take in artifact names when not the default.
NAMED_SETTINGS = {"scale": ("scale{}", ENCODE.scale), "max_length": ("len{}", ENCODE.max_length),
                  "pooling": ("{}", DEFAULT_POOLING)}
DATA_FILES = {"corpus": "corpus.jsonl", "topics": "queries.tsv", "qrels": "qrels.txt"}
FUSION_KEYS = ("with", "method", "k", "weights", "normalize")
FUSION_PARTNERS = ("bm25",)  # the runs a config makes that a SPLADE run can be fused with


def merge_settings(base: dict, extra: dict, where: str) -> dict:
    """``extra`` over ``base`` (recursively for sections); unknown keys are an error naming ``where``."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if key not in base:
            raise InputError(f"{where}: unknown setting {key!r} (known: {', '.join(sorted(base))})")
        if isinstance(base[key], dict) and key not in ("expected", "expected_bm25"):
            if not isinstance(value, dict):
                raise InputError(f"{where}: {key!r} must be a mapping")
            out[key] = merge_settings(base[key], value, f"{where}: {key}")
        else:
            out[key] = value
    return out


def parse_override(text: str) -> tuple[list, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"Override {text!r} is not key=value (e.g. encode.scale=50)")
    return key.strip().split("."), yaml.safe_load(value) if value.strip() else None


def apply_override(config: dict, text: str) -> None:
    path, value = parse_override(text)
    node = config
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            raise InputError(f"Override {text!r}: {part!r} is not a section")
        node = node[part]
    if path[-1] not in node and node is not config.get("expected") and node is not config.get("expected_bm25"):
        raise InputError(f"Override {text!r}: unknown setting {'.'.join(path)!r}")
    node[path[-1]] = value


def slug(text: str) -> str:
    """A file-name-safe short name: 'naver/splade-cocondenser-ensembledistil' -> 'splade-cocondenser-ensembledistil';
    a training checkpoint keeps its run's name: 'checkpoints/run/final' -> 'run-final'."""
    path = Path(str(text).rstrip("/"))
    name = path.name
    if (name == "final" or name.startswith("checkpoint-")) and path.parent.name:
        name = f"{path.parent.name}-{name}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name) or "model"


def _fields_part(fields) -> list:
    """Text fields in an artifact name, unless they are the usual title + text (the default for BEIR files)."""
    if not fields or list(fields) == ["title", "text"]:
        return []
    return ["fields-" + "-".join(slug(f) for f in fields)]


@dataclass(frozen=True)
class TopicSet:
    """One set of topics with its qrels, measures, expected scores and run paths."""
    name: str
    topics: str | None
    qrels: str
    topic_fields: list
    measures: list
    expected: dict
    expected_bm25: dict
    encoded_topics: str | None
    run: Path
    bm25_run: Path

    @property
    def metrics(self) -> Path:
        return metrics_path(self.run)

    @property
    def bm25_metrics(self) -> Path:
        return metrics_path(self.bm25_run)

    @property
    def saved_config(self) -> Path:
        """Where the effective config is saved beside the run."""
        return config_path(self.run)

    @property
    def all_measures(self) -> list:
        return list(dict.fromkeys(list(self.measures) + list(self.expected) + list(self.expected_bm25)))


@dataclass(frozen=True)
class Experiment:
    """A validated config with its artifact paths."""
    config: dict
    source: Path | None
    workdir: Path

    @property
    def name(self) -> str:
        return self.config["name"]

    @property
    def corpus_name(self) -> str:
        return self.config["corpus_name"] or self.name

    @property
    def model_tag(self) -> str:
        """The model's short name, its query model's ('q-idf') where it has another, plus every encoding setting that
        differs from the default."""
        encode = self.config["encode"]
        parts = [slug(self.config["model"])]
        if self.config["query_model"] not in (None, self.config["model"]):
            parts.append("q-" + slug(self.config["query_model"]))
        parts += [form.format(encode[key]) for key, (form, default) in NAMED_SETTINGS.items() if encode[key] != default]
        parts += _fields_part(self.config["fields"])
        return ".".join(parts)

    @property
    def encode_settings(self) -> EncodeSettings:
        """The encode section, with the experiment's model, query model and fields."""
        config = self.config
        query_model = config["query_model"]
        if query_model is None and Path(config["model"]).expanduser().is_dir():  # what encode reads (a trained pair)
            from ..model.query_models import recorded_query_model
            query_model = recorded_query_model(Path(config["model"]).expanduser())
        return EncodeSettings.from_section(config["encode"], model=config["model"], query_model=query_model,
                                           fields=list(config["fields"]))

    @property
    def index_settings(self) -> IndexSettings:
        return IndexSettings.from_section(self.config["index"])

    @property
    def search_settings(self) -> SearchSettings:
        """The search section; runs are tagged with the experiment's tag."""
        return SearchSettings.from_section(self.config["search"], tag=self.tag)

    @property
    def bm25_settings(self) -> Bm25Settings:
        """The bm25 section; its threads default to the index section's."""
        bm25 = Bm25Settings.from_section(self.config["bm25"])
        return bm25.replace(threads=bm25.threads or self.config["index"]["threads"])

    @property
    def search_tag(self) -> str:
        """Search settings that change a run beyond its model, as they appear in run names ('.qtop16')."""
        top = self.config["search"]["query_top_k"]
        return f".qtop{top}" if top else ""

    @property
    def tag(self) -> str:
        return f"{self.corpus_name}.{self.model_tag}"

    @property
    def collection(self) -> Path:
        return self.workdir / "collections" / self.tag

    @property
    def index(self) -> Path:
        return self.workdir / "indexes" / self.tag

    @property
    def bm25_index(self) -> Path:
        return self.workdir / "indexes" / ".".join([self.corpus_name, "bm25"] + _fields_part(self.config["fields"]))

    @property
    def topic_sets(self) -> list[TopicSet]:
        config, runs = self.config, self.workdir / "runs"
        suffix = ".trec" if config["search"]["format"] == "trec" else ".msmarco.tsv"
        raw = config["topic_sets"] or [{"name": config["topics_name"] or self.corpus_name}]
        sets = []
        for entry in raw:
            get = lambda key: entry.get(key, config.get(key))  # noqa: E731  (a set inherits the top level)
            sets.append(TopicSet(
                name=entry["name"], topics=get("topics"), qrels=get("qrels"), topic_fields=list(get("topic_fields")),
                measures=list(get("measures")), expected=dict(entry.get("expected", config["expected"])),
                expected_bm25=dict(entry.get("expected_bm25", config["expected_bm25"])),
                encoded_topics=entry.get("encoded_topics", config["search"]["encoded_topics"]),
                run=runs / f"{entry['name']}.{self.model_tag}{self.search_tag}{suffix}",
                bm25_run=runs / f"{entry['name']}.bm25.trec"))
        return sets

    @property
    def fusions(self) -> list[dict]:
        """The config's fused rows, each with every setting filled in (defaults from settings.FUSE)."""
        from ..settings import FUSE
        raw = self.config["fusion"]
        entries = [] if raw is None else raw if isinstance(raw, list) else [raw]
        return [{"with": "bm25", "method": FUSE.method, "k": FUSE.k, "weights": None, "normalize": None, **entry}
                for entry in entries]

    def fusion_system(self, fusion: dict) -> str:
        """The fused row's system name: '<model tag>+bm25-rrf', with the settings that differ from the defaults
        ('-k20', '-w0.3-0.7', '-zscore'), so two fusions of one run never share a file."""
        from ..settings import FUSE
        parts = [f"{self.model_tag}{self.search_tag}+{fusion['with']}-{fusion['method']}"]
        if fusion["method"] == "rrf" and fusion["k"] != FUSE.k:
            parts.append(f"k{fusion['k']:g}")
        if fusion["weights"] is not None:
            parts.append("w" + "-".join(f"{w:g}" for w in fusion["weights"]))
        if fusion["normalize"] not in (None, FUSE.normalize):
            parts.append(fusion["normalize"])
        return "-".join(parts)

    def fused_run(self, topic_set: TopicSet, fusion: dict) -> Path:
        return self.workdir / "runs" / f"{topic_set.name}.{self.fusion_system(fusion)}.trec"

    @property
    def run(self) -> Path:
        """The first topic set's run."""
        return self.topic_sets[0].run

    @property
    def metrics(self) -> Path:
        return self.topic_sets[0].metrics


def _local_path(value, base_dir: Path):
    """A file path in a config is relative to the config file; irds: ids and absolute paths stay as they are."""
    if not value or str(value).startswith("irds:") or Path(value).is_absolute():
        return value
    return os.path.normpath(base_dir / value)


def read_yaml(path: Path) -> dict:
    """A YAML mapping from a file; errors name the file and line."""
    if not path.is_file():
        raise InputError(f"{path}: no such config file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise InputError(f"{path}{line}: malformed YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: a config must be a YAML mapping")
    return raw


def _resolve_paths(config: dict, base_dir: Path) -> None:
    for key in ("data", *DATA_FILES):
        config[key] = _local_path(config[key], base_dir)
    config["search"]["encoded_topics"] = _local_path(config["search"]["encoded_topics"], base_dir)
    for entry in config["topic_sets"] if isinstance(config["topic_sets"], list) else []:
        if isinstance(entry, dict):
            for key in ("topics", "qrels", "encoded_topics"):
                entry[key] = _local_path(entry.get(key), base_dir) if entry.get(key) else entry.get(key)


def _use_data(config: dict, directory: str) -> None:
    """``data: DIR`` stands for DIR/corpus.jsonl, DIR/queries.tsv and DIR/qrels.txt."""
    local = Path(directory)
    if not local.is_dir():
        raise InputError(f"{local}: data directory not found (expected corpus.jsonl, queries.tsv, qrels.txt)")
    config["data"] = str(local)
    for key, filename in DATA_FILES.items():
        config[key] = str(local / filename)


def load_experiment(path: str | Path | None = None, overrides=(), data: str | Path | None = None,
                    workdir: str | Path = ".") -> Experiment:
    """Read a config file (or only defaults and overrides), apply overrides and local data, validate."""
    raw: dict = {}
    base_dir = Path.cwd()
    if path is not None:
        path = Path(path)
        raw = read_yaml(path)
        base_dir = path.parent
    config = merge_settings(DEFAULTS, raw, str(path or "config"))
    if config["name"] is None and path is not None:
        config["name"] = path.stem
    # Precedence: the file, then --data, then key=value overrides. Paths are relative to where they were written:
    # the config file's directory for the file's, the working directory for the command line's.
    _resolve_paths(config, base_dir)
    # a data directory given on the command line (or as an override) replaces the file's before the file's is
    # looked at: a config naming a collection this machine lacks still runs on a copy elsewhere
    data_override = data or any(parse_override(o)[0] == ["data"] for o in overrides)
    if config["data"] and not data_override:
        _use_data(config, config["data"])
    if data:
        _use_data(config, os.path.normpath(data))
    cwd = Path.cwd()
    for override in overrides:
        keys, _ = parse_override(override)
        apply_override(config, override)
        if keys == ["data"] and config["data"]:
            _use_data(config, _local_path(config["data"], cwd))
        elif keys in (["corpus"], ["topics"], ["qrels"], ["search", "encoded_topics"]):
            node = config["search"] if keys[0] == "search" else config
            node[keys[-1]] = _local_path(node[keys[-1]], cwd)
    validate(config, str(path or "config"))
    return Experiment(config, path, Path(workdir))


def validate(config: dict, where: str) -> None:
    if not config.get("name") or not re.fullmatch(r"[A-Za-z0-9._-]+", str(config["name"])):
        raise InputError(f"{where}: 'name' must be a non-empty file-name-safe string")
    if not config.get("corpus"):
        raise InputError(f"{where}: no 'corpus' given (set it, or 'data: DIR' / --data DIR)")
    if config["corpus_name"] is not None and not re.fullmatch(r"[A-Za-z0-9._-]+", str(config["corpus_name"])):
        raise InputError(f"{where}: 'corpus_name' must be a file-name-safe string")
    _validate_topic_sets(config, where)
    query_model = config["query_model"]
    if query_model is not None and (not isinstance(query_model, str) or not query_model.strip()):
        raise InputError(f"{where}: query_model must be a model, 'idf' or a token-weight file (or null: the model)")
    for section, settings in (("encode", EncodeSettings), ("index", IndexSettings), ("search", SearchSettings),
                              ("bm25", Bm25Settings)):
        settings.from_section(config[section], where, f"{section}.")
    _validate_fusion(config, where)


def _validate_fusion(config: dict, where: str) -> None:
    from ..fuse import check_settings
    from ..settings import FUSE
    raw = config["fusion"]
    if raw is None:
        return
    entries = raw if isinstance(raw, list) else [raw]
    for number, entry in enumerate(entries, start=1):
        here = f"{where}: fusion" + (f"[{number}]" if isinstance(raw, list) else "")
        if not isinstance(entry, dict):
            raise InputError(f"{here} must be a mapping such as {{with: bm25, method: rrf}}")
        unknown = sorted(set(entry) - set(FUSION_KEYS))
        if unknown:
            raise InputError(f"{here}: unknown setting(s) {unknown} (known: {', '.join(FUSION_KEYS)})")
        if entry.get("with", "bm25") not in FUSION_PARTNERS:
            raise InputError(f"{here}: 'with' must be one of {', '.join(FUSION_PARTNERS)}")
        if not config["bm25"]["enabled"]:
            raise InputError(f"{here}: fusing with bm25 needs its run; set bm25.enabled: true")
        try:
            check_settings(2, entry.get("method", FUSE.method), entry.get("k", FUSE.k), entry.get("weights"),
                           entry.get("normalize"))
        except InputError as err:
            raise InputError(f"{here}: {err}") from None


def _validate_topic_sets(config: dict, where: str) -> None:
    sets = config["topic_sets"]
    if not isinstance(sets, list):
        raise InputError(f"{where}: 'topic_sets' must be a list of mappings")
    if sets and (config["topics"] or config["qrels"]):
        raise InputError(f"{where}: give 'topics'/'qrels' (one topic set) or 'topic_sets', not both")
    if not sets:
        sets = [{"name": config["topics_name"] or config["corpus_name"] or config["name"]}]
    names = set()
    for number, entry in enumerate(sets, start=1):
        here = f"{where}: topic_sets[{number}]" if config["topic_sets"] else where
        if not isinstance(entry, dict):
            raise InputError(f"{here} must be a mapping")
        unknown = sorted(set(entry) - set(TOPIC_SET_KEYS))
        if unknown:
            raise InputError(f"{here}: unknown setting(s) {unknown} (known: {', '.join(TOPIC_SET_KEYS)})")
        name = entry.get("name")
        if not name or not re.fullmatch(r"[A-Za-z0-9._-]+", str(name)):
            raise InputError(f"{here}: 'name' must be a non-empty file-name-safe string")
        if name in names:
            raise InputError(f"{here}: topic set name {name!r} is used twice")
        names.add(name)
        get = lambda key: entry.get(key, config.get(key))  # noqa: E731
        encoded = entry.get("encoded_topics", config["search"]["encoded_topics"])
        if not get("topics") and not encoded:
            raise InputError(f"{here}: no 'topics' given (set it, or 'data: DIR' / --data DIR)")
        if not get("qrels"):
            raise InputError(f"{here}: no 'qrels' given (set it, or 'data: DIR' / --data DIR)")
        for key in ("expected", "expected_bm25"):
            scores = entry.get(key, config[key])
            if not isinstance(scores, dict):
                raise InputError(f"{here}: {key!r} must be a mapping of measure: score")
            for measure, value in scores.items():
                parse_measure(str(measure))
                if not isinstance(value, (int, float)):
                    raise InputError(f"{here}: expected score for {measure} must be a number")
        for measure in get("measures"):
            parse_measure(str(measure))
