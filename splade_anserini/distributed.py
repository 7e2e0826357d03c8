"""Encoding on Ray: many processes, GPUs or hosts, with the single-process encoder's output and resume behaviour.

The collection is planned as its part files (``docs_per_file`` documents each, found in one pass over the raw
input bytes, nothing parsed); a pool of Ray actors, each holding one model, encodes part files and writes them
straight into the collection's staging directory (a path every worker can reach: local disk on one machine, shared
storage across hosts); the driver only records finished parts in ``progress.json`` and writes the manifest.

Why an actor pool and not Ray Data's batch inference: a part file is the unit of output, of resumption and of
checksums, and encoding a whole part in one actor, with the same length-sorted windows as the single-process
encoder, gives the same bytes; Ray Data would re-batch rows across blocks and write files of its own layout. Actors
load the model once and stay busy on part after part (``map_unordered``), which is what scales with workers.

A restarted job re-encodes only the parts that are missing. Limits: a document id repeated in two different parts
stops the job at the end (even with ``on_error: skip``), and with skipped bad lines the part boundaries count input
lines, so they can differ from the single-process encoder's (which counts good documents).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from .encode import build_manifest, document_windows, encode_windows, encoding_identity
from .errors import InputError
from .formats.artifacts import output_lock
from .formats.collection import (
    PART_PATTERN,
    PartFile,
    commit_staging,
    open_staging,
    save_progress,
)
from .formats.idset import IdSet
from .formats.readers import plan_parts, read_corpus
from .model.batching import WINDOW_BATCHES
from .progress import bar_disabled
from .settings import EncodeSettings

logger = logging.getLogger(__name__)


class PartEncoder:
    """One worker: a model, and the encoding of whole part files into the staging directory."""

    def __init__(self, settings: EncodeSettings, threads: int):
        import torch
        torch.set_num_threads(max(threads, 1))
        from .model.splade import Splade
        self.settings = settings
        self.model = Splade(settings.model, max_length=settings.max_length, pooling=settings.pooling,
                            device=settings.device, dtype=settings.dtype)

    def encode_part(self, corpus: str, staging: str, number: int, start: int, stop: int, position) -> dict:
        settings = self.settings
        problems: list | None = [] if settings.on_error == "skip" else None
        docs = read_corpus(corpus, settings.fields or None, start, stop, problems, position)
        part = PartFile(Path(staging), number, start)
        ids = []
        try:
            windows = document_windows(docs, settings.batch_size * WINDOW_BATCHES, settings.docs_per_file, 0, problems)
            encode_windows(self.model, settings, windows, part,
                           on_window=lambda window: ids.extend((d.id, d.where) for d in window))
            return {"part": dict(part.finish(), skipped=problems or []), "ids": ids,
                    "model_path": str(self.model.path), "vocab_size": self.model.vocab_size}
        except BaseException:
            part.discard()
            raise


def encode_corpus_ray(corpus: str | Path, output: str | Path, settings: EncodeSettings | None = None, *,
                      address: str | None = None, workers: int = 2, gpus_per_worker: float = 0,
                      overwrite: bool = False, progress: bool | None = None) -> dict:
    """Encode ``corpus`` into a JsonVectorCollection at ``output`` on Ray; returns the manifest.

    Without ``address`` a local Ray instance with ``workers`` CPUs is started (one multi-GPU box works as is);
    with one (``ray://host:10001`` or ``auto``), the job joins that cluster."""
    try:
        import ray  # noqa: F401  (here, so a missing Ray is said before anything else)
    except ImportError:
        raise InputError("the Ray backend needs Ray: pip install 'splade-anserini[ray]'") from None
    from .encode import with_model_pooling
    settings = with_model_pooling(settings or EncodeSettings())
    corpus = str(corpus)
    with output_lock(output):  # one writer per output: a second run is refused before it touches anything
        return _encode_ray_locked(corpus, output, settings, address, workers, gpus_per_worker, overwrite, progress)


def _encode_ray_locked(corpus: str, output, settings: EncodeSettings, address, workers: int,
                       gpus_per_worker: float, overwrite: bool, progress: bool) -> dict:
    import ray
    from ray.util import ActorPool
    from tqdm import tqdm

    identity = dict(encoding_identity(corpus, settings), docs_per_file=settings.docs_per_file)
    output, staging, done = open_staging(output, identity, overwrite, [corpus])
    plan = plan_parts(corpus, settings.docs_per_file)
    if not plan:
        raise InputError(f"{corpus}: the corpus is empty (no documents)")
    finished = {part["name"]: part for part in done}
    todo = [(n, a, b, p) for n, (a, b, p) in enumerate(plan) if PART_PATTERN.format(n) not in finished]
    if finished:
        logger.info(f"encode: resuming {staging}: {len(finished)} of {len(plan)} part files are done")
    started = time.time()
    if not ray.is_initialized():
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    threads = 1 if gpus_per_worker else max(1, (os.cpu_count() or workers) // workers)
    actor = ray.remote(num_cpus=0 if gpus_per_worker else 1, num_gpus=gpus_per_worker)(PartEncoder)
    pool = ActorPool([actor.remote(settings, threads) for _ in range(min(workers, max(len(todo), 1)))])
    results = {}
    bar = tqdm(total=plan[-1][1], initial=sum(p["documents"] for p in done), unit="doc", desc="encode (ray)",
               disable=bar_disabled(progress), dynamic_ncols=True, file=sys.stderr)
    try:
        for result in pool.map_unordered(lambda a, spec: a.encode_part.remote(corpus, str(staging), *spec), todo):
            part = result["part"]
            finished[part["name"]] = part
            results[part["name"]] = result
            save_progress(staging, identity, list(finished.values()))
            bar.update(part["documents"])
    finally:
        bar.close()
    parts = [finished[PART_PATTERN.format(n)] for n in range(len(plan))]
    _check_unique_ids(staging, parts, results)
    problems = [entry for part in parts for entry in part.get("skipped", [])]
    facts = next(iter(results.values()), None) or _model_facts(settings)
    manifest = build_manifest(corpus, settings, facts["model_path"], facts["vocab_size"],
                              sum(p.get("truncated", 0) for p in parts), problems, None, time.time() - started,
                              backend={"name": "ray", "workers": workers, "gpus_per_worker": gpus_per_worker})
    return commit_staging(staging, output, manifest, parts)


def _model_facts(settings: EncodeSettings) -> dict:
    from transformers import AutoConfig

    from .model.layouts import model_files
    from .model.models import resolve_model
    path = resolve_model(settings.model)
    return {"model_path": str(path), "vocab_size": AutoConfig.from_pretrained(model_files(path)).vocab_size}


def _check_unique_ids(staging: Path, parts: list, results: dict) -> None:
    """A document id may occur once in the whole collection; parts done by an earlier run are read back."""
    seen = IdSet()
    for part in parts:
        result = results.get(part["name"])
        if result is not None:
            pairs = result["ids"]
        else:
            with open(staging / part["name"], encoding="utf-8") as lines:
                pairs = [(json.loads(line)["id"], f"{part['name']}:{n}") for n, line in enumerate(lines, start=1)]
        for doc_id, where in pairs:
            if not seen.add(doc_id):
                raise InputError(f"{where}: duplicate document id {doc_id!r} (it occurs earlier in the corpus)")
