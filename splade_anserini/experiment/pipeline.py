"""Runs an experiment config through encode -> index -> search -> eval (per topic set), plus the BM25 baseline,
reusing finished artifacts.

A step is skipped when its artifact is complete and was made with the same settings (the manifest says so); an
artifact made with other settings is never reused silently: the step stops and says how to proceed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import yaml

from ..errors import InputError
from ..formats.artifacts import MANIFEST, read_manifest
from .config import Experiment

logger = logging.getLogger(__name__)

STEPS = ("encode", "index", "search", "eval", "bm25", "fuse")


def _say(message: str) -> None:
    logger.info(message)


def encode_settings(experiment: Experiment):
    """The experiment's encoding settings (:attr:`Experiment.encode_settings`)."""
    return experiment.encode_settings


def _source_key(source) -> str:
    """The same corpus however its path was written (relative, absolute, through ..)."""
    text = str(source)
    return text if text.startswith("irds:") else os.path.realpath(text)


def _same_settings(manifest: dict, experiment: Experiment) -> list:
    wanted = experiment.encode_settings
    checks = {"model": wanted.model, "query_model": wanted.query_model, "scale": wanted.scale,
              "max_length": wanted.max_length, "pooling": wanted.pooling, "fields": wanted.fields}
    there = manifest.get("settings") or manifest  # manifests of version 0.1 kept the settings twice, here too
    differences = [f"{key}: {there.get(key)!r} there, {value!r} wanted" for key, value in checks.items()
                   if there.get(key) != value]
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


def _save_config(experiment: Experiment, path: Path) -> None:
    """The effective config (overrides applied, paths resolved), beside an artifact it made."""
    path.write_text(f"# effective config of {experiment.source or 'the command line'}, saved with its output\n"
                    + yaml.safe_dump(experiment.config, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _bm25_reusable(experiment: Experiment, force: bool) -> bool:
    index = experiment.bm25_index
    if force or not (index / MANIFEST).is_file():
        return False
    manifest = read_manifest(index)
    wanted = {"corpus": _source_key(experiment.config["corpus"]), "fields": list(experiment.config["fields"])}
    there = {"corpus": _source_key(manifest.get("corpus")), "fields": manifest.get("fields")}
    if there != wanted:
        raise InputError(f"{index} was made from another corpus or fields ({there} there, {wanted} wanted); delete "
                         f"it, pass --force to rebuild it, or set another corpus_name")
    return True


def run_steps(experiment: Experiment, steps=None, *, force: bool = False, progress: bool | None = None,
              verbose: bool = False) -> dict:
    """Run the named steps in flow order (default: all, BM25 where the config enables it); ``verbose`` shows
    Anserini's indexing log on the terminal instead of keeping it in the index's ``index.log``.

    Returns {topic set name: {"splade": metrics, "bm25": metrics}} for what was evaluated."""
    config = experiment.config
    if steps is None:
        steps = [s for s in STEPS if (s != "bm25" or config["bm25"]["enabled"]) and (s != "fuse" or
                                                                                    experiment.fusions)]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise InputError(f"Unknown step(s) {unknown}; steps are {', '.join(STEPS)}")
    results: dict = {}
    if "encode" in steps:
        if _reusable(experiment.collection, experiment, force):
            _say(f"encode: reusing {experiment.collection}")
        else:
            from ..encode import encode_corpus
            _say(f"encode: {config['corpus']} -> {experiment.collection}")
            encode_corpus(config["corpus"], experiment.collection, experiment.encode_settings, overwrite=True,
                          progress=progress)
            _save_config(experiment, experiment.collection / "config.yaml")
    if "index" in steps:
        if _reusable(experiment.index, experiment, force):
            _say(f"index: reusing {experiment.index}")
        else:
            from ..index import build_index
            _say(f"index: {experiment.collection} -> {experiment.index}")
            build_index(experiment.collection, experiment.index, experiment.index_settings, overwrite=True,
                        verbose=verbose, progress=progress)
            _save_config(experiment, experiment.index / "config.yaml")
    search = experiment.search_settings
    for topic_set in experiment.topic_sets:
        if "search" in steps:
            from ..search import search_topics
            source = topic_set.encoded_topics or topic_set.topics
            _say(f"search: {source} on {experiment.index} -> {topic_set.run}")
            search_topics(experiment.index, topic_set.run, search,
                          topics=None if topic_set.encoded_topics else topic_set.topics,
                          encoded_topics=topic_set.encoded_topics, topic_fields=topic_set.topic_fields or None,
                          overwrite=True)
            _save_config(experiment, topic_set.saved_config)
        if "eval" in steps:
            results.setdefault(topic_set.name, {})["splade"] = _evaluate(experiment, topic_set, topic_set.run,
                                                                         topic_set.metrics, experiment.model_tag)
    if "bm25" in steps:
        from ..lucene.bm25 import build_bm25_index, search_bm25
        bm25 = experiment.bm25_settings
        if _bm25_reusable(experiment, force):
            _say(f"bm25: reusing {experiment.bm25_index}")
        else:
            _say(f"bm25: {config['corpus']} -> {experiment.bm25_index}")
            build_bm25_index(config["corpus"], experiment.bm25_index, fields=config["fields"] or None,
                             threads=bm25.threads, overwrite=True,
                             verbose=verbose)
        for topic_set in experiment.topic_sets:
            if not topic_set.topics:
                continue  # only pre-encoded topics: no text for BM25
            search_bm25(experiment.bm25_index, topic_set.topics, topic_set.bm25_run, k=search.k, k1=bm25.k1,
                        b=bm25.b, threads=config["bm25"]["threads"], remove_query=search.remove_query,
                        fields=topic_set.topic_fields or None, overwrite=True)
            results.setdefault(topic_set.name, {})["bm25"] = _evaluate(experiment, topic_set, topic_set.bm25_run,
                                                                       topic_set.bm25_metrics, "bm25")
    if "fuse" in steps:
        _fuse(experiment, results)
    return results


def _fuse(experiment: Experiment, results: dict) -> None:
    """Each topic set's SPLADE run fused with its BM25 run, as the config's ``fusion`` says, and evaluated."""
    from ..formats.runs import metrics_path
    from ..fuse import fuse
    for topic_set in experiment.topic_sets:
        for fusion in experiment.fusions:
            inputs = [topic_set.run, topic_set.bm25_run]
            missing = [str(p) for p in inputs if not p.is_file()]
            if missing:
                raise InputError(f"fusion needs the runs {', '.join(missing)}; run the search and bm25 steps first")
            output, system = experiment.fused_run(topic_set, fusion), experiment.fusion_system(fusion)
            _say(f"fuse: {' + '.join(str(p) for p in inputs)} ({fusion['method']}) -> {output}")
            fuse(inputs, output, fusion["method"], k=fusion["k"], weights=fusion["weights"],
                 normalize=fusion["normalize"], depth=experiment.config["search"]["k"], overwrite=True)
            results.setdefault(topic_set.name, {})[system] = _evaluate(experiment, topic_set, output,
                                                                       metrics_path(output), system)


def _evaluate(experiment: Experiment, topic_set, run: Path, output: Path, system: str) -> dict:
    from ..evaluate import evaluate_run
    result = evaluate_run(run, topic_set.qrels, topic_set.all_measures, output,
                          extra={"experiment": experiment.name, "topics_name": topic_set.name, "system": system,
                                 "corpus_name": experiment.corpus_name, "config": experiment.config})
    return result["metrics"]


def compare(experiment: Experiment, results: dict) -> tuple[list, bool]:
    """Rows (topic set, system, measure, expected, measured, difference, ok) for every expected score that was
    evaluated; True when all are within tolerance."""
    tolerance = experiment.config["tolerance"]
    rows = []
    for topic_set in experiment.topic_sets:
        for system, expected in (("splade", topic_set.expected), ("bm25", topic_set.expected_bm25)):
            metrics = results.get(topic_set.name, {}).get(system)
            if metrics is None:
                continue
            for measure, value in expected.items():
                measured = metrics[measure]
                rows.append((topic_set.name, system, measure, value, measured, measured - value,
                             abs(measured - value) <= tolerance))
    return rows, all(row[-1] for row in rows)
