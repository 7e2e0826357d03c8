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

from ..errors import InputError
from ..settings import ENCODE
from .artifacts import (
    COLLECTION,
    MANIFEST,
    prepare_output,
    read_manifest,
    replace_directory,
    write_atomically,
    write_manifest,
)

PART_PATTERN = "part-{:05d}.jsonl"


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
        return read_manifest(directory, (COLLECTION,), "this command"), part_files(directory)
    shards = sorted(p for p in directory.iterdir() if p.is_dir() and p.name.startswith("shard-"))
    if not shards:
        read_manifest(directory)  # raises the usual "no manifest" error
    manifests = [read_manifest(shard, (COLLECTION,), "this command") for shard in shards]
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


PROGRESS = "progress.json"


def save_progress(staging: Path, identity: dict, parts: list) -> None:
    """Record the finished part files (sorted by name) of an encoding in progress."""
    parts = sorted(parts, key=lambda part: part["name"])
    write_atomically(staging / PROGRESS, json.dumps({"identity": identity, "parts": parts}, indent=1,
                                                    ensure_ascii=False), durable=True)


def _read_progress(staging: Path) -> dict | None:
    try:
        progress = json.loads((staging / PROGRESS).read_text(encoding="utf-8"))
        if all((staging / part["name"]).is_file() for part in progress["parts"]):
            return progress
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None  # nothing usable: start over


def _flatten(identity: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in identity.items():
        if isinstance(value, dict) and value and key != "shard":
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def identity_changes(before: dict, now: dict) -> list[str]:
    """Each difference between two encoding identities as '<setting> <before> before, <now> now' (settings by their
    command-line names; changed input files by path)."""
    old, new = _flatten(before), _flatten(now)
    changes = []
    for key in sorted(set(old) | set(new), key=lambda k: (k != "corpus", k != "inputs", k)):
        if old.get(key) == new.get(key):
            continue
        name = key.removeprefix("settings.")
        if key == "inputs":
            then = {str(entry[0]) if isinstance(entry, list) else str(entry): entry for entry in old.get(key) or []}
            current = {str(entry[0]) if isinstance(entry, list) else str(entry): entry for entry in new.get(key) or []}
            changed = sorted(path for path in set(then) | set(current) if then.get(path) != current.get(path))
            changes.append(f"input file {changed[0] if changed else '?'} changed (size or modification time)"
                           + (f", and {len(changed) - 1} more" if len(changed) > 1 else ""))
            continue
        shown = "--" + name.replace("_", "-") if name in ENCODE.__dataclass_fields__ else name
        change = f"{shown} {old.get(key)!r} before, {new.get(key)!r} now"
        if change not in changes:  # docs_per_file is recorded twice
            changes.append(change)
    return changes or ["the recorded settings differ"]


def open_staging(output: str | Path, identity: dict, overwrite: bool = False,
                 inputs=()) -> tuple[Path, Path, list]:
    """(output, staging directory, finished parts) for an encoding into ``output``: the staging directory of an
    interrupted run with the same ``identity`` is kept with its finished parts; one with another identity is
    refused (or, with ``overwrite``, removed). ``output`` must be new, empty, or (with ``overwrite``) a collection,
    and none of the ``inputs``."""
    output = prepare_output(output, overwrite, COLLECTION, inputs)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.partial"
    parts: list = []
    if staging.exists():
        previous = _read_progress(staging)
        if previous is None and any(p.name != PROGRESS and not p.name.startswith("part-") for p in staging.iterdir()):
            raise InputError(f"{staging} holds files that are not an interrupted encoding's; not touching it "
                             f"(remove it yourself, or choose another output)")
        if overwrite or previous is None:
            shutil.rmtree(staging)
        elif previous["identity"] != identity:
            raise InputError(f"{staging} holds an interrupted encoding that cannot be resumed with these inputs and "
                             f"settings ({'; '.join(identity_changes(previous['identity'], identity))}); rerun with "
                             f"the earlier value(s), delete it, or pass --overwrite to start over")
        else:
            parts = previous["parts"]
    staging.mkdir(exist_ok=True)
    for leftover in staging.glob("*.tmp"):
        leftover.unlink()  # a part that was being written when the run stopped
    return output, staging, parts


def collection_line(doc_id: str, contents: str, vector: dict) -> bytes:
    """One JsonVectorCollection line."""
    return (json.dumps({"id": doc_id, "contents": contents, "vector": vector}, ensure_ascii=False) + "\n").encode()


class LineFormatter:
    """JsonVectorCollection lines straight from term ids and weights, byte for byte what :func:`collection_line`
    writes, without a dict per document: at thousands of documents per second (a GPU) the host's share counts."""

    def __init__(self, vocab: list[str]):
        import numpy
        self._keys = numpy.array([json.dumps(token, ensure_ascii=False) + ": " for token in vocab], dtype=object)

    def line(self, doc_id: str, contents: str, cols, values) -> bytes:
        vector = ", ".join([key + str(value) for key, value in zip(self._keys[cols].tolist(), values.tolist())])
        return (f'{{"id": {json.dumps(doc_id, ensure_ascii=False)}, "contents": '
                f'{json.dumps(contents, ensure_ascii=False)}, "vector": {{{vector}}}}}\n').encode("utf-8")


class PartFile:
    """One part file being written: under a temporary name, hashed as it is written, and by :meth:`finish`
    flushed to disk and renamed to its final name."""

    def __init__(self, directory: Path, number: int, first_document: int):
        name = PART_PATTERN.format(number)
        self.meta = {"name": name, "first_document": first_document, "documents": 0, "postings": 0, "truncated": 0}
        self.path = directory / name
        self._tmp = directory / (name + ".tmp")
        self._handle = open(self._tmp, "wb")
        self._hash = hashlib.sha256()

    def write(self, doc_id: str, contents: str, vector: dict, truncated: bool = False) -> None:
        self.write_line(collection_line(doc_id, contents, vector), len(vector), truncated)

    def write_line(self, line: bytes, terms: int, truncated: bool = False) -> None:
        """Add one document's line (see :func:`collection_line` and :class:`LineFormatter`) with ``terms`` terms."""
        self._handle.write(line)
        self._hash.update(line)
        self.meta["documents"] += 1
        self.meta["postings"] += terms
        self.meta["truncated"] += bool(truncated)

    def finish(self) -> dict:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self._tmp, self.path)
        return dict(self.meta, sha256=self._hash.hexdigest())

    def discard(self) -> None:
        self._handle.close()
        self._tmp.unlink(missing_ok=True)


class CollectionWriter:
    """Writes vectors into numbered part files of at most ``docs_per_file`` documents each, resumably.

    ``identity`` describes what is being encoded (inputs and settings); an interrupted run with the same identity is
    resumed: :attr:`resumed_documents` documents are already written, and the caller continues after them."""

    def __init__(self, output: str | Path, *, docs_per_file: int = ENCODE.docs_per_file, overwrite: bool = False,
                 identity: dict | None = None, inputs=()):
        if docs_per_file < 1:
            raise ValueError("docs_per_file must be positive")
        self.docs_per_file = docs_per_file
        self.identity = dict(identity or {}, docs_per_file=docs_per_file)  # part boundaries belong to the identity
        self.output, self.staging, parts = open_staging(output, self.identity, overwrite, inputs)
        # Resume after the finished parts that form a prefix; any later ones (finished out of order by a
        # distributed run) are written again.
        self.files = []
        for number, part in enumerate(parts):
            if part["name"] != PART_PATTERN.format(number):
                break
            self.files.append(part)
        for part in parts[len(self.files):]:
            (self.staging / part["name"]).unlink(missing_ok=True)
        self.resumed_documents = sum(f["documents"] for f in self.files)
        self.documents = self.resumed_documents
        self.postings = sum(f["postings"] for f in self.files)
        self.truncated = sum(f.get("truncated", 0) for f in self.files)
        self._part: PartFile | None = None

    def write(self, doc_id: str, contents: str, vector: dict, truncated: bool = False) -> None:
        """Add one document; ``truncated`` says its text was longer than the model's max length (counted)."""
        self.write_line(collection_line(doc_id, contents, vector), len(vector), truncated)

    def write_line(self, line: bytes, terms: int, truncated: bool = False) -> None:
        """Add one document's line with ``terms`` terms (see :class:`LineFormatter`)."""
        if self._part is None:
            self._part = PartFile(self.staging, len(self.files), self.documents)
        self._part.write_line(line, terms, truncated)
        self.documents += 1
        self.postings += terms
        self.truncated += bool(truncated)
        if self._part.meta["documents"] >= self.docs_per_file:
            self._finish_part()

    def _finish_part(self) -> None:
        self.files.append(self._part.finish())
        self._part = None
        save_progress(self.staging, self.identity, self.files)

    def commit(self, manifest: dict) -> dict:
        """Finish the last part, write the manifest and move the collection into place; returns the manifest."""
        if self._part is not None:
            self._finish_part()
        return commit_staging(self.staging, self.output, manifest, self.files)

    def discard(self) -> None:
        """Drop everything written so far, finished parts included (nothing worth resuming)."""
        if self._part is not None:
            self._part.discard()
            self._part = None
        self.files = []
        shutil.rmtree(self.staging, ignore_errors=True)

    def abort(self) -> None:
        """Stop writing: the part in progress is dropped; finished parts stay for a rerun to resume from (with
        none, nothing stays)."""
        if self._part is not None:
            self._part.discard()
            self._part = None
        if not self.files:
            shutil.rmtree(self.staging, ignore_errors=True)


def commit_staging(staging: Path, output: Path, manifest: dict, parts: list) -> dict:
    """Write the manifest (with totals and the part list) into ``staging`` and move it to ``output``."""
    parts = sorted(parts, key=lambda part: part["name"])
    manifest = dict(manifest, kind=COLLECTION, format="JsonVectorCollection",
                    documents=sum(p["documents"] for p in parts), postings=sum(p["postings"] for p in parts),
                    files=parts)
    (staging / PROGRESS).unlink(missing_ok=True)
    write_manifest(staging, manifest)
    replace_directory(staging, output, COLLECTION)
    return manifest
