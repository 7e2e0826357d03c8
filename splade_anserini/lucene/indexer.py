"""Anserini's IndexCollection, run in this process: input files in, a checked Lucene index out.

The index is built in a staging directory, its document count checked, its docid table and manifest written, and only
then moved into place. Anserini's log goes to ``index.log`` inside the index.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from ..errors import SpladeAnseriniError
from ..formats.artifacts import INDEX, prepare_output, replace_directory, write_manifest
from .jvm import java_output, start_jvm
from .reader import close_reader, docid_table, open_reader

LOG = "index.log"


def anserini_index(index: str | Path, fill_inputs, *, collection_class: str, extra_args=(), threads: int,
                   manifest: dict, what: str, overwrite: bool = False, kind: str = INDEX, inputs=(),
                   verbose: bool = False) -> dict:
    """Run Anserini's IndexCollection over the files that ``fill_inputs(directory)`` puts into a scratch directory
    (it returns how many documents it put there), into a staging directory that becomes ``index`` only when
    complete: document count checked, docid table and ``manifest`` (plus index facts) written. Returns the manifest.

    Anserini's log goes to ``index.log`` inside the index (``verbose`` shows it instead); when indexing fails it is
    kept beside the index as ``<index>.failed.log`` and the error says so."""
    index = Path(index)
    prepare_output(index, overwrite, kind, inputs)
    start_jvm()
    from jnius import JavaException, autoclass

    index.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{index.name}.partial-", dir=index.parent))
    # Anserini reads every file in its input directory: give it only the documents.
    scratch = Path(tempfile.mkdtemp(prefix=f".{index.name}.inputs-", dir=index.parent))
    log = staging / LOG
    started = time.time()
    try:
        expected = fill_inputs(scratch)
        args = ["-collection", collection_class, "-input", str(scratch), "-index", str(staging),
                "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads), *extra_args]
        try:
            with java_output(None if verbose else log):
                autoclass("io.anserini.index.IndexCollection").main(args)
        except JavaException as err:
            raise SpladeAnseriniError(f"Anserini failed to index {what}: {err}{_kept_log(log, index)}") from None
        reader = open_reader(staging)
        try:
            count = reader.numDocs()
            docid_table(staging, reader)
        finally:
            close_reader(reader)
        if count != expected:
            raise SpladeAnseriniError(f"Index of {what} holds {count} documents but {expected} were given; some "
                                      f"documents were not indexed{_kept_log(log, index)}")
        index_manifest = dict(manifest, kind=kind, index_threads=threads,
                              index_seconds=round(time.time() - started, 2), index_documents=count)
        write_manifest(staging, index_manifest)
        replace_directory(staging, index, kind)
        return index_manifest
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)


def _kept_log(log: Path, index: Path) -> str:
    """Keep a failed indexing's log beside the index; the sentence that says where (empty if there is none)."""
    if not log.is_file():
        return " (see Anserini's log above)"
    kept = index.with_name(index.name + ".failed.log")
    shutil.copyfile(log, kept)
    return f" (Anserini's log: {kept})"
