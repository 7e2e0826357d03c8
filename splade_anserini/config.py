"""Experiment configs: one YAML file per experiment naming data, model, settings, measures and expected scores.

A config is read, overridden from the command line with ``key=value`` (dotted keys reach into sections, values
are parsed as YAML: ``encode.scale=50``, ``search.k=100``, ``model=/path/to/model``), validated, and turned into
artifact paths that are the same every time for the same experiment::

    collections/<name>.<model>/    indexes/<name>.<model>/    runs/<name>.<model>.trec (+ .metrics.json)

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

from .errors import InputError
from .evaluate import metrics_path, parse_measure

DEFAULTS = {
    "name": None,
    "description": "",
    "data": None,
    "corpus": None,
    "topics": None,
    "qrels": None,
    "fields": [],
    "topic_fields": [],
    "model": "splade-tiny",
    "encode": {"scale": 100, "max_length": 256, "pooling": "max", "batch_size": 32, "docs_per_file": 100_000},
    "index": {"threads": None},
    "search": {"k": 1000, "threads": None, "batch_size": 32, "remove_query": False, "query_max_length": None,
               "min_idf": 0.0, "format": "trec", "encoded_topics": None},
    "measures": ["nDCG@10", "RR@10", "R@100", "R@1000", "AP"],
    "expected": {},
    "tolerance": 0.002,
}
DATA_FILES = {"corpus": "corpus.jsonl", "topics": "queries.tsv", "qrels": "qrels.txt"}


def _merge(base: dict, extra: dict, where: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if key not in base:
            raise InputError(f"{where}: unknown setting {key!r} (known: {', '.join(sorted(base))})")
        if isinstance(base[key], dict) and key != "expected":
            if not isinstance(value, dict):
                raise InputError(f"{where}: {key!r} must be a mapping")
            out[key] = _merge(base[key], value, f"{where}: {key}")
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
    if path[-1] not in node and node is not config.get("expected"):
        raise InputError(f"Override {text!r}: unknown setting {'.'.join(path)!r}")
    node[path[-1]] = value


def slug(text: str) -> str:
    """A file-name-safe short name: 'naver/splade-cocondenser-ensembledistil' -> 'splade-cocondenser-ensembledistil'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(str(text).rstrip("/")).name) or "model"


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
    def tag(self) -> str:
        return f"{self.name}.{slug(self.config['model'])}"

    @property
    def collection(self) -> Path:
        return self.workdir / "collections" / self.tag

    @property
    def index(self) -> Path:
        return self.workdir / "indexes" / self.tag

    @property
    def run(self) -> Path:
        suffix = ".trec" if self.config["search"]["format"] == "trec" else ".msmarco.tsv"
        return self.workdir / "runs" / f"{self.tag}{suffix}"

    @property
    def metrics(self) -> Path:
        return metrics_path(self.run)


def load_experiment(path: str | Path | None = None, overrides=(), data: str | Path | None = None,
                    workdir: str | Path = ".") -> Experiment:
    """Read a config file (or only defaults and overrides), apply overrides and local data, validate."""
    raw: dict = {}
    base_dir = Path.cwd()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such config file")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            raise InputError(f"{path}{line}: malformed YAML ({getattr(err, 'problem', err)})") from None
        if not isinstance(raw, dict):
            raise InputError(f"{path}: a config must be a YAML mapping")
        base_dir = path.parent
    config = _merge(DEFAULTS, raw, str(path or "config"))
    for override in overrides:
        apply_override(config, override)
    if config["name"] is None and path is not None:
        config["name"] = path.stem
    local = Path(data) if data else (Path(os.path.normpath(base_dir / config["data"])) if config["data"] else None)
    if local is not None:
        if not local.is_dir():
            raise InputError(f"{local}: data directory not found (expected corpus.jsonl, queries.tsv, qrels.txt)")
        config["data"] = str(local)
        for key, filename in DATA_FILES.items():
            config[key] = str(local / filename)
    else:
        for key in DATA_FILES:
            value = config[key]
            if value and not str(value).startswith("irds:") and not Path(value).is_absolute():
                config[key] = os.path.normpath(base_dir / value)
    encoded = config["search"]["encoded_topics"]
    if encoded and not Path(encoded).is_absolute():
        config["search"]["encoded_topics"] = os.path.normpath(base_dir / encoded)
    validate(config, str(path or "config"))
    return Experiment(config, path, Path(workdir))


def validate(config: dict, where: str) -> None:
    if not config.get("name") or not re.fullmatch(r"[A-Za-z0-9._-]+", str(config["name"])):
        raise InputError(f"{where}: 'name' must be a non-empty file-name-safe string")
    for key in ("corpus", "topics", "qrels"):
        if not config.get(key):
            raise InputError(f"{where}: no {key!r} given (set it, or 'data: DIR' / --data DIR)")
    encode = config["encode"]
    if not isinstance(encode["scale"], (int, float)) or encode["scale"] <= 0:
        raise InputError(f"{where}: encode.scale must be a positive number")
    if not isinstance(encode["max_length"], int) or encode["max_length"] < 3:
        raise InputError(f"{where}: encode.max_length must be an integer >= 3")
    if encode["pooling"] not in ("max", "sum"):
        raise InputError(f"{where}: encode.pooling must be 'max' or 'sum'")
    search = config["search"]
    if not isinstance(search["k"], int) or search["k"] < 1:
        raise InputError(f"{where}: search.k must be a positive integer")
    if search["format"] not in ("trec", "msmarco"):
        raise InputError(f"{where}: search.format must be 'trec' or 'msmarco'")
    if not isinstance(search["min_idf"], (int, float)):
        raise InputError(f"{where}: search.min_idf must be a number")
    if search["query_max_length"] is not None and (not isinstance(search["query_max_length"], int)
                                                   or search["query_max_length"] < 3):
        raise InputError(f"{where}: search.query_max_length must be an integer >= 3")
    for measure in list(config["measures"]) + list(config["expected"]):
        parse_measure(str(measure))
    for measure, value in config["expected"].items():
        if not isinstance(value, (int, float)):
            raise InputError(f"{where}: expected score for {measure} must be a number")
