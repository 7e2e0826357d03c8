"""Anserini JsonVectorCollection output: numbered JSONL part files plus ``manifest.json``.

Each line is ``{"id": ..., "contents": ..., "vector": {"token": int, ...}}``: the integer "pseudo term
frequencies" that Anserini indexes with ``--impact --pretokenized``. The collection is written into a hidden
staging directory and moved into place only when complete, with the manifest written last, so a directory that has
a ``manifest.json`` is always a whole collection.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from .errors import InputError

MANIFEST = "manifest.json"
PART_PATTERN = "part-{:05d}.jsonl"


def read_manifest(directory: str | Path) -> dict:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise InputError(f"{directory}: no {MANIFEST}; not a complete splade-anserini collection or index "
                         f"(was encoding interrupted?)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: malformed manifest ({err.msg})") from None


def write_manifest(directory: str | Path, manifest: dict) -> None:
    path = Path(directory) / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def part_files(directory: str | Path) -> list[Path]:
    return sorted(Path(directory).glob("part-*.jsonl"))


# Settings that must agree between the shards of one collection.
SHARD_INVARIANTS = ("corpus", "model", "scale", "max_length", "pooling", "fields", "vocab_size")


def load_collection(directory: str | Path) -> tuple[dict, list[Path]]:
    """(manifest, part files in document order) of a collection, or of a directory of its shards.

    For shards (``shard-<id>-of-<n>/``, written by ``encode --num-shards``) every shard must be complete and all
    must agree on the settings; the manifest returned describes the whole collection."""
    directory = Path(directory)
    if (directory / MANIFEST).is_file() or not directory.is_dir():
        return read_manifest(directory), part_files(directory)
    shards = sorted(p for p in directory.iterdir() if p.is_dir() and p.name.startswith("shard-"))
    if not shards:
        read_manifest(directory)  # raises the usual "no manifest" error
    manifests = [read_manifest(shard) for shard in shards]
    expected = manifests[0]["shard"]["num_shards"]
    present = sorted(m["shard"]["shard_id"] for m in manifests)
    if present != list(range(expected)):
        missing = sorted(set(range(expected)) - set(present))
        raise InputError(f"{directory}: shards {missing} of {expected} are missing or incomplete; encode them "
                         f"(--shard-id N --num-shards {expected}) before indexing")
    for shard, manifest in zip(shards, manifests):
        for key in SHARD_INVARIANTS:
            if manifest.get(key) != manifests[0].get(key):
                raise InputError(f"{shard}: {key} {manifest.get(key)!r} differs from {shards[0].name}'s "
                                 f"{manifests[0].get(key)!r}; shards of one collection need the same settings")
    merged = dict(manifests[0], shard=None, shards=[s.name for s in shards],
                  documents=sum(m["documents"] for m in manifests), postings=sum(m["postings"] for m in manifests),
                  files=[dict(f, name=f"{s.name}/{f['name']}") for s, m in zip(shards, manifests) for f in m["files"]])
    return merged, [part for shard in shards for part in part_files(shard)]


def prepare_output(output: str | Path, overwrite: bool) -> Path:
    """Check that ``output`` may be written; an existing non-empty directory needs ``overwrite``."""
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        if not overwrite:
            raise InputError(f"{output} already exists and is not empty; pass --overwrite to replace it "
                             f"or choose another output directory")
    return output


def replace_directory(staging: Path, target: Path) -> None:
    """Move a finished ``staging`` directory to ``target``, replacing what was there."""
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    os.replace(staging, target)


class CollectionWriter:
    """Writes vectors into numbered part files of at most ``docs_per_file`` documents each."""

    def __init__(self, output: str | Path, *, docs_per_file: int = 100_000, overwrite: bool = False):
        if docs_per_file < 1:
            raise ValueError("docs_per_file must be positive")
        self.output = prepare_output(output, overwrite)
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.staging = self.output.parent / f".{self.output.name}.partial-{os.getpid()}-{int(time.time())}"
        self.staging.mkdir()
        self.docs_per_file = docs_per_file
        self.files: list = []
        self.documents = 0
        self.postings = 0
        self._handle = None
        self._in_file = 0

    def _next_file(self):
        if self._handle:
            self._handle.close()
        name = PART_PATTERN.format(len(self.files))
        self.files.append({"name": name, "documents": 0})
        self._handle = open(self.staging / name, "w", encoding="utf-8", newline="\n")
        self._in_file = 0

    def write(self, doc_id: str, contents: str, vector: dict) -> None:
        if self._handle is None or self._in_file >= self.docs_per_file:
            self._next_file()
        self._handle.write(json.dumps({"id": doc_id, "contents": contents, "vector": vector}, ensure_ascii=False))
        self._handle.write("\n")
        self._in_file += 1
        self.files[-1]["documents"] += 1
        self.documents += 1
        self.postings += len(vector)

    def commit(self, manifest: dict) -> dict:
        """Close the last file, write the manifest and move the collection into place; returns the manifest."""
        if self._handle:
            self._handle.close()
            self._handle = None
        manifest = dict(manifest, documents=self.documents, postings=self.postings, files=self.files)
        write_manifest(self.staging, manifest)
        replace_directory(self.staging, self.output)
        return manifest

    def abort(self) -> None:
        """Remove everything written so far; nothing half-written stays behind."""
        if self._handle:
            self._handle.close()
            self._handle = None
        shutil.rmtree(self.staging, ignore_errors=True)
