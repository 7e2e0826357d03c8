"""``splade-anserini info PATH``: what an artifact is, read from its manifest or sidecar (no model is loaded).

Collections, indexes and BM25 indexes carry ``manifest.json``; runs carry ``<run>.search.json`` (and, once
evaluated, ``<run>.metrics.json``); pre-encoded topics carry ``<file>.manifest.json``; an interrupted encoding is a
``.<name>.partial/`` directory with ``progress.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import InputError
from .formats.artifacts import (
    CIFF,
    DESCRIPTIONS,
    MANIFEST,
    manifest_kind,
    read_manifest,
)

# manifest fields shown, in this order, under these names
SHOWN = (("corpus", "corpus"), ("collection", "collection"), ("documents", "documents"),
         ("index_documents", "indexed documents"), ("postings", "postings"), ("model", "model"),
         ("model_path", "model path"), ("model_identity", "model sha256"), ("scale", "scale"),
         ("max_length", "max length"), ("pooling", "pooling"), ("fields", "fields"),
         ("truncated_documents", "truncated documents"), ("analyzer", "analyzer"), ("seconds", "encoding seconds"),
         ("index_seconds", "indexing seconds"), ("index_threads", "indexing threads"), ("engine", "engine"),
         ("reorder", "reorder"), ("seismic", "seismic"), ("bmp", "bmp"), ("software", "software"))
# What a search of an index of each engine gives up (none for Lucene and PISA).
EXACTNESS = {"seismic-index": "no: Seismic is approximate (search settings --seismic-query-cut/--seismic-heap-factor)",
             "bmp-index": "safe with --bmp-alpha 1 --bmp-beta 1 (the default; rescored to Lucene's scores), "
                          "approximate below 1"}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _lines(path: Path) -> int:
    import gzip
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def describe(path: str | Path) -> dict:
    """The facts of the artifact at ``path``: its kind, settings, counts and software versions."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        return _describe_directory(path)
    from .formats.runs import search_facts_path
    sidecar = Path(str(path) + ".manifest.json")
    if sidecar.is_file():
        settings = _json(sidecar) or {}
        if settings.get("kind") == CIFF:  # a CIFF export: its sidecar holds all its facts
            return {"path": str(path), **settings, "bytes": _size(path)}
        return {"path": str(path), "kind": "encoded-topics", "queries": _lines(path), **settings,
                "bytes": _size(path)}
    if search_facts_path(path).is_file():
        from .formats.runs import metrics_path
        facts = {"path": str(path), "kind": "run", "lines": _lines(path), "bytes": _size(path),
                 **(_json(search_facts_path(path)) or {})}
        metrics = _json(metrics_path(path))
        if metrics is not None:
            facts["metrics"] = metrics.get("metrics")
            facts["qrels"] = metrics.get("qrels")
        return facts
    if path.name.endswith(".metrics.json"):
        metrics = _json(path)
        if metrics is not None and "metrics" in metrics:
            return {"path": str(path), "kind": "metrics", "run": metrics.get("run"), "qrels": metrics.get("qrels"),
                    "queries_in_qrels": metrics.get("queries_in_qrels"),
                    "queries_evaluated": metrics.get("queries_evaluated"), "metrics": metrics["metrics"]}
    raise InputError(f"{path}: not an artifact of splade-anserini (no manifest, search facts or metrics beside it)")


def _describe_directory(path: Path) -> dict:
    if (path / MANIFEST).is_file():
        manifest = read_manifest(path)
        kind = manifest_kind(manifest)
        facts = {"path": str(path), "kind": kind or "unknown"}
        facts.update({key: manifest[key] for key, _ in SHOWN if manifest.get(key) is not None})
        if kind in EXACTNESS:
            facts["exact"] = EXACTNESS[kind]
        if facts.get("fields") == []:
            facts["fields"] = "the reader's default (title + text, or contents)"
        if manifest.get("files"):
            facts["part files"] = len(manifest["files"])
        skipped = (manifest.get("skipped") or {}).get("count")
        if skipped:
            facts["skipped documents"] = skipped
        if manifest.get("shard"):
            facts["shard"] = manifest["shard"]
        facts["bytes"] = _size(path)
        return facts
    shards = sorted(p for p in path.iterdir() if p.is_dir() and p.name.startswith("shard-"))
    if shards:
        from .formats.collection import load_collection
        manifest, parts = load_collection(path)
        facts = {"path": str(path), "kind": "collection", "shards": len(shards)}
        facts.update({key: manifest[key] for key, _ in SHOWN if manifest.get(key) is not None})
        facts.update({"part files": len(parts), "bytes": _size(path)})
        return facts
    progress = _json(path / "progress.json")
    if progress is not None and "parts" in progress:
        parts = progress["parts"]
        return {"path": str(path), "kind": "interrupted encoding", "part files": len(parts),
                "documents": sum(p.get("documents", 0) for p in parts),
                "corpus": (progress.get("identity") or {}).get("corpus"),
                "note": "rerun the same encode command to resume it"}
    if any(path.glob("segments_*")):
        from .lucene.reader import index_document_count
        return {"path": str(path), "kind": "lucene index", "documents": index_document_count(path),
                "note": "not built by splade-anserini (no manifest): searched with --encoded-topics, or with "
                        "--model and --scale", "bytes": _size(path)}
    raise InputError(f"{path}: not an artifact of splade-anserini (no {MANIFEST})")


def versions() -> dict:
    """Versions of splade-anserini and what it runs on, read from package metadata and Anserini's jar (nothing is
    imported or started: no torch, no JVM); None where something is missing."""
    from importlib.metadata import PackageNotFoundError, version
    found: dict = {}
    for package in ("splade-anserini", "pyserini"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    found.update(_anserini_versions())
    for package in ("torch", "transformers"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def _anserini_versions() -> dict:
    """Anserini's version and the Lucene version it is built on, from the Maven metadata inside its jar."""
    import re
    import zipfile

    from .errors import SetupError
    from .lucene.jvm import anserini_jar
    try:
        jar = anserini_jar()
    except SetupError:
        return {"anserini": None, "lucene": None}
    anserini = re.match(r"anserini-(.+)-fatjar\.jar$", jar.name)
    found = {"anserini": anserini.group(1) if anserini else jar.name, "lucene": None}
    try:
        with zipfile.ZipFile(jar) as archive:
            pom = archive.read("META-INF/maven/io.anserini/anserini/pom.xml").decode("utf-8", errors="replace")
    except (OSError, zipfile.BadZipFile, KeyError):
        return found
    lucene = re.search(r"<lucene\.version>([^<]+)</lucene\.version>", pom)
    found["lucene"] = lucene.group(1).strip() if lucene else None
    return found


def _value(value) -> str:
    if value is None:  # not recorded, or nothing (e.g. no query term cut-off): never Python's "None"
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_info(facts: dict) -> str:
    kind = facts.get("kind")
    lines = [f"{facts['path']}: {DESCRIPTIONS.get(kind, kind)}"]
    names = dict(SHOWN)
    for key, value in facts.items():
        if key in ("path", "kind"):
            continue
        if key == "bytes":
            value = f"{value / 2 ** 20:.2f} MiB"
        if key == "metrics" and isinstance(value, dict):
            lines.append("  metrics:")
            lines += [f"    {measure:<16} {score:.4f}" for measure, score in value.items()]
            continue
        lines.append(f"  {names.get(key, key.replace('_', ' '))}: {_value(value)}")
    return "\n".join(lines)
