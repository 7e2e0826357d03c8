"""Runs an experiment config through encode -> index -> search -> eval, reusing finished artifacts.

A step is skipped when its artifact is complete and was made with the same settings (the manifest says so); an
artifact made with other settings is never reused silently: the step stops and says how to proceed.
"""

from __future__ import annotations

import os
import sys

from .collection import MANIFEST, read_manifest
from .config import Experiment
from .errors import InputError

STEPS = ("encode", "index", "search", "eval")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def encode_settings(experiment: Experiment):
    from .encode import EncodeSettings
    config = experiment.config
    encode = config["encode"]
    return EncodeSettings(model=config["model"], scale=encode["scale"], max_length=encode["max_length"],
                          pooling=encode["pooling"], fields=list(config["fields"]), batch_size=encode["batch_size"],
                          docs_per_file=encode["docs_per_file"])


def _source_key(source) -> str:
    """The same corpus however its path was written (relative, absolute, through ..)."""
    text = str(source)
    return text if text.startswith("irds:") else os.path.realpath(text)


def _same_settings(manifest: dict, experiment: Experiment) -> list:
    wanted = encode_settings(experiment)
    checks = {"model": wanted.model, "scale": wanted.scale, "max_length": wanted.max_length,
              "pooling": wanted.pooling, "fields": wanted.fields}
    differences = [f"{key}: {manifest['settings'].get(key)!r} there, {value!r} wanted" for key, value in checks.items()
                   if manifest["settings"].get(key) != value]
    if _source_key(manifest.get("corpus")) != _source_key(experiment.config["corpus"]):
        differences.append(f"corpus: {manifest.get('corpus')!r} there, {experiment.config['corpus']!r} wanted")
    return differences


def _reusable(directory, experiment: Experiment, force: bool) -> bool:
    if force or not (directory / MANIFEST).is_file():
        return False
    differences = _same_settings(read_manifest(directory), experiment)
    if differences:
        raise InputError(f"{directory} was made with other settings ({'; '.join(differences)}); "
                         f"delete it, pass --force to rebuild it, or give this experiment another name")
    return True


def run_steps(experiment: Experiment, steps=STEPS, *, force: bool = False, progress: bool = True) -> dict | None:
    """Run the named steps in flow order; returns the metrics when 'eval' ran."""
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise InputError(f"Unknown step(s) {unknown}; steps are {', '.join(STEPS)}")
    config = experiment.config
    metrics = None
    if "encode" in steps:
        if _reusable(experiment.collection, experiment, force):
            _say(f"encode: reusing {experiment.collection}")
        else:
            from .encode import encode_corpus
            _say(f"encode: {config['corpus']} -> {experiment.collection}")
            encode_corpus(config["corpus"], experiment.collection, encode_settings(experiment), overwrite=True,
                          progress=progress)
    if "index" in steps:
        if _reusable(experiment.index, experiment, force):
            _say(f"index: reusing {experiment.index}")
        else:
            from .index import build_index
            _say(f"index: {experiment.collection} -> {experiment.index}")
            build_index(experiment.collection, experiment.index, threads=config["index"]["threads"], overwrite=True)
    if "search" in steps:
        from .search import search_topics
        _say(f"search: {config['search']['encoded_topics'] or config['topics']} on {experiment.index} -> {experiment.run}")
        search = config["search"]
        encoded = search["encoded_topics"]
        search_topics(experiment.index, None if encoded else config["topics"], experiment.run, encoded_topics=encoded,
                      k=search["k"], threads=search["threads"], batch_size=search["batch_size"],
                      query_max_length=search["query_max_length"], min_idf=search["min_idf"],
                      remove_query=search["remove_query"], run_format=search["format"],
                      fields=config["topic_fields"] or None, tag=experiment.tag)
    if "eval" in steps:
        from .evaluate import evaluate_run
        measures = list(dict.fromkeys(list(config["measures"]) + list(config["expected"])))
        result = evaluate_run(experiment.run, config["qrels"], measures, experiment.metrics, extra={"config": config})
        metrics = result["metrics"]
    return metrics


def compare(experiment: Experiment, metrics: dict) -> tuple[list, bool]:
    """Rows (measure, expected, measured, difference, ok) for every expected score; True when all are within tolerance."""
    tolerance = experiment.config["tolerance"]
    rows = []
    for measure, expected in experiment.config["expected"].items():
        measured = metrics[measure]
        rows.append((measure, expected, measured, measured - expected, abs(measured - expected) <= tolerance))
    return rows, all(row[-1] for row in rows)
