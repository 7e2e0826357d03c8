"""Anserini JsonVectorCollection output: numbered JSONL part files plus ``manifest.json``.

Each line is ``{"id": ..., "contents": ..., "vector": {"token": int, ...}}``: the integer "pseudo term
frequencies" that Anserini indexes with ``--impact --pretokenized``. The collection is written into a hidden
staging directory (``.<name>.partial/``) and moved into place only when complete, with the manifest written last, so
a directory that has a ``manifest.json`` is always a whole collection.

Writing is resumable: each part file is written under a temporary name, flushed to disk and renamed when full, and
``progress.json`` in the staging directory records the finished parts (document ranges, checksums) and what the
collection is being made from. A rerun with the same inputs and settings continues after the last finished part;
one with others refuses the old staging directory and says why.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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


PROGRESS = "progress.json"


def _fsync_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably: temporary file, fsync, rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class CollectionWriter:
    """Writes vectors into numbered part files of at most ``docs_per_file`` documents each, resumably.

    ``identity`` describes what is being encoded (inputs and settings); an interrupted run with the same identity is
    resumed: :attr:`resumed_documents` documents are already written, and the caller continues after them."""

    def __init__(self, output: str | Path, *, docs_per_file: int = 100_000, overwrite: bool = False,
                 identity: dict | None = None):
        if docs_per_file < 1:
            raise ValueError("docs_per_file must be positive")
        self.output = prepare_output(output, overwrite)
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.staging = self.output.parent / f".{self.output.name}.partial"
        self.docs_per_file = docs_per_file
        self.identity = dict(identity or {}, docs_per_file=docs_per_file)
        self.files: list = []
        if self.staging.exists():
            previous = self._read_progress()
            if overwrite or previous is None:
                shutil.rmtree(self.staging)
            elif previous["identity"] != self.identity:
                changed = sorted(k for k in set(previous["identity"]) | set(self.identity)
                                 if previous["identity"].get(k) != self.identity.get(k))
                raise InputError(f"{self.staging} holds an interrupted encoding of other inputs or settings "
                                 f"({', '.join(changed)} differ), so it cannot be resumed; delete it, or pass "
                                 f"--overwrite to start over")
            else:
                self.files = previous["parts"]
        self.staging.mkdir(exist_ok=True)
        for leftover in self.staging.glob("*.tmp"):
            leftover.unlink()  # a part that was being written when the run stopped
        self.resumed_documents = sum(f["documents"] for f in self.files)
        self.documents = self.resumed_documents
        self.postings = sum(f["postings"] for f in self.files)
        self.truncated = sum(f.get("truncated", 0) for f in self.files)
        self._handle = None
        self._hash = None
        self._current: dict | None = None

    def _read_progress(self) -> dict | None:
        try:
            progress = json.loads((self.staging / PROGRESS).read_text(encoding="utf-8"))
            parts = progress["parts"]
            if all((self.staging / part["name"]).is_file() for part in parts):
                return progress
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None  # nothing usable: start over

    def _start_part(self) -> None:
        name = PART_PATTERN.format(len(self.files))
        self._current = {"name": name, "first_document": self.documents, "documents": 0, "postings": 0,
                         "truncated": 0}
        self._handle = open(self.staging / (name + ".tmp"), "wb")
        self._hash = hashlib.sha256()

    def _finish_part(self) -> None:
        """Flush the current part to disk under its final name and record it in progress.json."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        name = self._current["name"]
        os.replace(self.staging / (name + ".tmp"), self.staging / name)
        self.files.append(dict(self._current, sha256=self._hash.hexdigest()))
        progress = {"identity": self.identity, "parts": self.files}
        _fsync_write(self.staging / PROGRESS, json.dumps(progress, indent=1, ensure_ascii=False).encode("utf-8"))

    def write(self, doc_id: str, contents: str, vector: dict, truncated: bool = False) -> None:
        """Add one document; ``truncated`` says its text was longer than the model's max length (counted)."""
        if self._handle is None:
            self._start_part()
        line = (json.dumps({"id": doc_id, "contents": contents, "vector": vector}, ensure_ascii=False) + "\n")
        data = line.encode("utf-8")
        self._handle.write(data)
        self._hash.update(data)
        self._current["documents"] += 1
        self._current["postings"] += len(vector)
        self._current["truncated"] += bool(truncated)
        self.truncated += bool(truncated)
        self.documents += 1
        self.postings += len(vector)
        if self._current["documents"] >= self.docs_per_file:
            self._finish_part()

    def commit(self, manifest: dict) -> dict:
        """Finish the last part, write the manifest and move the collection into place; returns the manifest."""
        if self._handle:
            self._finish_part()
        manifest = dict(manifest, documents=self.documents, postings=self.postings, files=self.files)
        (self.staging / PROGRESS).unlink(missing_ok=True)
        write_manifest(self.staging, manifest)
        replace_directory(self.staging, self.output)
        return manifest

    def abort(self) -> None:
        """Stop writing: the part in progress is dropped; finished parts stay for a rerun to resume from (with
        none, nothing stays)."""
        if self._handle:
            self._handle.close()
            self._handle = None
            (self.staging / (self._current["name"] + ".tmp")).unlink(missing_ok=True)
        if not self.files:
            shutil.rmtree(self.staging, ignore_errors=True)

    def discard(self) -> None:
        """Remove everything written so far (the staging directory)."""
        self.abort()
        shutil.rmtree(self.staging, ignore_errors=True)
