"""Building a Lucene index safely: in a staging directory, checked, then moved into place.

:func:`staged_index` runs a writer into a staging directory, then checks the document count, writes the docid table
and the manifest (with the index facts: time, threads, docid table cost), and only then moves the index into place.
Two writers: :func:`anserini_writer` runs Anserini's IndexCollection in this process (its log goes to ``index.log``
inside the index), and the impact writer of :mod:`.impact_writer` indexes JsonVectorCollections directly.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from ..errors import SpladeAnseriniError
from ..formats.artifacts import INDEX, prepare_output, replace_directory, write_manifest
from .jvm import java_output, start_jvm
from .reader import close_reader, docid_table, open_reader

LOG = "index.log"


def staged_index(index: str | Path, write: Callable[[Path, Path], int], *, manifest: dict, what: str,
                 overwrite: bool = False, kind: str = INDEX, inputs=()) -> dict:
    """Build ``index`` with ``write(staging, log)``, which fills the staging directory with a Lucene index (Java's
    output to the ``log`` file where it wants) and returns how many documents the index must hold. Returns the
    manifest written: ``manifest`` plus the index facts.

    When indexing fails, its log is kept beside the index as ``<index>.failed.log`` and the error says so."""
    index = Path(index)
    prepare_output(index, overwrite, kind, inputs)
    start_jvm()
    from jnius import JavaException

    index.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{index.name}.partial-", dir=index.parent))
    log = staging / LOG
    started = time.time()
    try:
        try:
            expected = write(staging, log)
        except JavaException as err:
            raise SpladeAnseriniError(f"Lucene failed to index {what}: {err}{_kept_log(log, index)}") from None
        written = time.time()
        reader = open_reader(staging)
        try:
            count = reader.numDocs()
            docid_table(staging, reader)
        finally:
            close_reader(reader)
        if count != expected:
            raise SpladeAnseriniError(f"Index of {what} holds {count} documents but {expected} were given; some "
                                      f"documents were not indexed{_kept_log(log, index)}")
        index_manifest = dict(manifest, kind=kind, index_seconds=round(time.time() - started, 2),
                              index_write_seconds=round(written - started, 2),
                              docid_table_seconds=round(time.time() - written, 2), index_documents=count)
        write_manifest(staging, index_manifest)
        replace_directory(staging, index, kind)
        return index_manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def anserini_writer(fill_inputs: Callable[[Path], int], *, collection_class: str, threads: int, extra_args=(),
                    verbose: bool = False) -> Callable[[Path, Path], int]:
    """A writer for :func:`staged_index` that runs Anserini's IndexCollection over the files that
    ``fill_inputs(directory)`` puts into a scratch directory (it returns how many documents it put there); Anserini's
    log goes to the log file unless ``verbose``."""

    def write(staging: Path, log: Path) -> int:
        from jnius import autoclass
        # Anserini reads every file in its input directory: give it only the documents.
        scratch = Path(tempfile.mkdtemp(prefix=f".{staging.name}.inputs-", dir=staging.parent))
        try:
            expected = fill_inputs(scratch)
            args = ["-collection", collection_class, "-input", str(scratch), "-index", str(staging),
                    "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads), *extra_args]
            with java_output(None if verbose else log):
                autoclass("io.anserini.index.IndexCollection").main(args)
            return expected
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    return write


def _kept_log(log: Path, index: Path) -> str:
    """Keep a failed indexing's log beside the index; the sentence that says where (empty if there is none)."""
    if not log.is_file():
        return " (see the log above)"
    kept = index.with_name(index.name + ".failed.log")
    shutil.copyfile(log, kept)
    return f" (its log: {kept})"
