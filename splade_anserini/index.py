"""The indexing job: a JsonVectorCollection -> a Lucene impact index, through Anserini's IndexCollection.

Anserini indexes the vector's integers as term frequencies (``-impact -pretokenized``); see
:mod:`.lucene.indexer` for how the index is staged, checked and moved into place.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError
from .formats.collection import load_collection
from .lucene.indexer import anserini_index


def build_index(collection: str | Path, index: str | Path, *, threads: int | None = None,
                overwrite: bool = False, verbose: bool = False) -> dict:
    """Index ``collection`` (or a directory of its shards) into ``index`` with ``threads`` threads (default: all
    cores; Anserini gives each part file one thread); returns the index manifest (the collection's, plus index
    facts)."""
    collection = Path(collection)
    manifest, files = load_collection(collection)
    if not files:
        raise InputError(f"{collection}: no part-*.jsonl files beside the manifest")

    def link_parts(inputs: Path) -> int:
        for number, path in enumerate(files):
            os.symlink(path.resolve(), inputs / f"{number:06d}-{path.name}")
        return manifest["documents"]

    return anserini_index(index, link_parts, collection_class="JsonVectorCollection",
                          extra_args=("-impact", "-pretokenized"), threads=threads or os.cpu_count() or 1,
                          manifest=dict(manifest, collection=str(collection.resolve())), what=str(collection),
                          overwrite=overwrite, inputs=[collection], verbose=verbose)
