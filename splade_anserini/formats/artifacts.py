"""What splade-anserini writes, and the rules that keep a user's files safe.

Every artifact says what it is: a directory (collection, index, BM25 index) holds ``manifest.json`` with a ``kind``;
a run file has ``<run>.search.json`` beside it; pre-encoded topics have ``<file>.manifest.json``. A stage reads only
the kinds it can use and refuses others in one sentence. ``--overwrite`` replaces only an artifact of the expected
kind (or a missing path, or an empty directory): never a directory or file that splade-anserini did not write, and
never an input of the same command (outputs and inputs may not be the same path or inside each other).

Artifacts are built in a staging place and moved into position when complete; files are written under a temporary
name, flushed to disk and renamed, so a reader never sees half a file. One process at a time writes an output: it
holds an exclusive lock on ``.<name>.lock`` beside it (:func:`output_lock`), which the operating system releases
if the process dies. Finished artifacts get the permissions the
user's umask allows, like files made by any other tool.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import InputError

MANIFEST = "manifest.json"
COLLECTION, INDEX, BM25_INDEX, RUN, ENCODED_TOPICS = "collection", "index", "bm25-index", "run", "encoded-topics"
PISA_INDEX, CIFF = "pisa-index", "ciff"
SEISMIC_INDEX, BMP_INDEX = "seismic-index", "bmp-index"
DESCRIPTIONS = {COLLECTION: "a JsonVectorCollection (splade-anserini encode)",
                INDEX: "an impact index (splade-anserini index)",
                BM25_INDEX: "a BM25 index (the baseline's, built by the bm25 step)",
                RUN: "a run file (splade-anserini search)",
                ENCODED_TOPICS: "pre-encoded topics (splade-anserini encode-queries)",
                PISA_INDEX: "a PISA index (splade-anserini index --engine pisa; search it with --engine pisa)",
                SEISMIC_INDEX: "a Seismic index (splade-anserini index --engine seismic; search it with --engine "
                               "seismic)",
                BMP_INDEX: "a BMP index (splade-anserini index --engine bmp; search it with --engine bmp)",
                CIFF: "a CIFF file (splade-anserini export --format ciff)"}
# The search engines (settings.ENGINES) and the kind of index each one builds and searches; Lucene is the default.
ENGINES = {"lucene": INDEX, "pisa": PISA_INDEX, "seismic": SEISMIC_INDEX, "bmp": BMP_INDEX}


def manifest_kind(manifest: dict) -> str | None:
    """The kind an artifact's manifest records; manifests written before kinds were recorded are recognised by
    their fields."""
    kind = manifest.get("kind")
    if kind == "bm25":
        return BM25_INDEX
    if kind:
        return kind
    if manifest.get("format") == "JsonVectorCollection":
        return INDEX if "index_documents" in manifest else COLLECTION
    return None


def read_manifest(directory: str | Path, kinds: Iterable[str] | None = None, use: str = "") -> dict:
    """The manifest of an artifact directory; with ``kinds``, one of those kinds or a one-sentence refusal
    (``use`` says what it was to be used for)."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise InputError(f"{directory}: no {MANIFEST}; not a complete splade-anserini collection or index "
                         f"(was encoding interrupted?)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: malformed manifest ({err.msg})") from None
    if not isinstance(manifest, dict):
        raise InputError(f"{path}: malformed manifest (not a JSON object)")
    if kinds is not None:
        kinds = tuple(kinds)
        kind = manifest_kind(manifest)
        if kind not in kinds:
            found = DESCRIPTIONS.get(kind, f"of kind {kind!r}") if kind else "of unknown kind"
            wanted = " or ".join(DESCRIPTIONS[k] for k in kinds)
            raise InputError(f"{directory} is {found}; {use or 'this command'} needs {wanted}")
    return manifest


def write_manifest(directory: str | Path, manifest: dict) -> None:
    write_atomically(Path(directory) / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def write_atomically(path: Path, data: str | bytes, durable: bool = False) -> None:
    """Write ``data`` to ``path`` under a temporary name, then rename: a reader sees the old file or the new one,
    never half of one. ``durable`` also flushes it to disk first (what a resumable job relies on)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    _follow_umask(path, 0o666)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _follow_umask(path: Path, mode: int) -> None:
    try:
        os.chmod(path, mode & ~_umask())
    except OSError:
        pass  # not ours to change (another owner): leave it


def follow_umask(root: str | Path) -> None:
    """Give a finished artifact (a file, or a directory and everything in it) the permissions that the user's umask
    allows: temporary directories and some libraries create them private (0700/0600), which hides results from
    colleagues on a shared machine."""
    root = Path(root)
    if root.is_file():
        _follow_umask(root, 0o666)
        return
    _follow_umask(root, 0o777)
    for base, dirs, files in os.walk(root):
        for name in dirs:
            _follow_umask(Path(base) / name, 0o777)
        for name in files:
            _follow_umask(Path(base) / name, 0o666)


def check_separate(inputs: Iterable[str | Path | None], output: str | Path) -> None:
    """Refuse an output that is one of the inputs, or inside one, or holds one: writing it would destroy them."""
    target = Path(output).expanduser().resolve()
    for source in inputs:
        if source is None or str(source).startswith("irds:"):
            continue
        given = Path(source).expanduser().resolve()
        if given == target or given in target.parents or target in given.parents:
            raise InputError(f"the output {output} and the input {source} are the same path or inside each "
                             f"other; choose an output outside the inputs")


def _is_artifact(path: Path, kinds: tuple) -> bool:
    """Whether ``path`` is an artifact of one of ``kinds`` that splade-anserini wrote."""
    if path.is_dir():
        manifest_path = path / MANIFEST
        if manifest_path.is_file():
            try:
                return manifest_kind(json.loads(manifest_path.read_text(encoding="utf-8"))) in kinds
            except (OSError, ValueError):
                return False
        # a collection encoded in shards: only our shard directories, each one a collection
        children = list(path.iterdir())
        return COLLECTION in kinds and bool(children) and all(
            child.is_dir() and child.name.startswith("shard-") and _is_artifact(child, (COLLECTION,))
            for child in children)
    return False


def prepare_output(output: str | Path, overwrite: bool, kind: str, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Check that ``output`` may be written: it is missing, an empty directory, or (with ``overwrite``) an artifact
    of ``kind`` that splade-anserini wrote; and it is none of the ``inputs``."""
    output = Path(output)
    check_separate(inputs, output)
    if not output.exists() or (output.is_dir() and not any(output.iterdir())):
        return output
    if not overwrite:
        raise InputError(f"{output} already exists; pass --overwrite to replace it, or choose another output")
    if not _is_artifact(output, (kind,)):
        raise InputError(f"{output} is not {DESCRIPTIONS[kind]} written by splade-anserini (no matching manifest), "
                         f"so --overwrite will not replace it; choose another output or remove it yourself")
    return output


def remove_artifact(path: str | Path, kind: str) -> None:
    """Delete an artifact of ``kind`` that splade-anserini wrote (checked again here, so nothing else is ever
    deleted)."""
    path = Path(path)
    if not path.exists():
        return
    if not _is_artifact(path, (kind,)):
        raise InputError(f"{path} is not {DESCRIPTIONS[kind]} written by splade-anserini; not removing it")
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def replace_directory(staging: Path, target: Path, kind: str) -> None:
    """Move a finished ``staging`` directory to ``target``, replacing an artifact of ``kind`` that was there."""
    follow_umask(staging)
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        remove_artifact(target, kind)
    elif target.exists():
        target.rmdir()
    os.replace(staging, target)


def lock_path(output: str | Path) -> Path:
    """The lock file of an output: ``.<name>.lock`` beside it (beside a collection's ``.<name>.partial/`` too)."""
    output = Path(os.path.abspath(Path(output).expanduser()))  # "." and "dir/.." have a name only once resolved
    return output.parent / f".{output.name}.lock"


@contextlib.contextmanager
def output_lock(output: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``output`` while it is written; a second writer gets an InputError naming the
    first one's process id, before it has changed anything. The lock is ``flock`` on :func:`lock_path`: the
    operating system releases it when the holder exits or dies, so a killed run never leaves a stale lock behind."""
    path = lock_path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115  (held open while the lock is held)
        except OSError as err:  # a read-only or foreign directory: say it of the output the user named
            raise InputError(f"{output}: cannot write there ({err.strerror or err})") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise InputError(f"{output} is being written by another process (pid {holder}, holding {path}); wait "
                             f"for it to finish, or choose another output") from None
        except BaseException:
            handle.close()
            raise
        # The holder before us may have removed the file between our open and our lock: then we hold a lock on
        # a file nobody else can see, and must take the one that is there now.
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield path
    finally:
        path.unlink(missing_ok=True)  # while still locked, so nobody takes a lock on a file about to vanish
        handle.close()
