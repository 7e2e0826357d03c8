"""The indexing job: a JsonVectorCollection -> a Lucene impact index.

Two indexers build the same index (terms, postings, frequencies, stored ids): ``impact`` (the default) writes each
term once with its weight as the frequency, on all cores whatever the number of part files
(:mod:`.lucene.impact_writer`); ``anserini`` runs Anserini's IndexCollection (``-impact -pretokenized``: each term
repeated ``weight`` times, one thread per part file). See :mod:`.lucene.indexer` for how an index is staged,
checked and moved into place.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy

from .errors import InputError
from .formats.collection import load_collection
from .lucene.indexer import anserini_writer, staged_index
from .progress import bar_disabled
from .settings import FORWARD_ENGINES, INDEX, IndexSettings


def build_index(collection: str | Path, index: str | Path, settings: IndexSettings = INDEX, *,
                overwrite: bool = False, verbose: bool = False, progress: bool | None = None) -> dict:
    """Index ``collection`` (or a directory of its shards) into ``index`` with ``settings.threads`` threads
    (default: all cores); returns the index manifest (the collection's, plus index facts). ``settings.engine="pisa"``
    builds a PISA index instead (:mod:`.pisa`), optionally with impacts re-quantized into ``settings.bits`` bits;
    ``"seismic"`` and ``"bmp"`` build those engines' indexes (:mod:`.forward_engines`) with their build settings
    ``settings.engine_options``, optionally with the documents reordered (``settings.reorder="bp"``).
    ``verbose`` shows the engine's log on the terminal instead of keeping it in the index."""
    settings.validate()
    threads, indexer, bits = settings.threads, settings.indexer, settings.bits
    if settings.engine in FORWARD_ENGINES:
        if bits is not None:
            raise InputError("re-quantizing impacts (bits) is for the PISA engine and CIFF export; BMP re-quantizes "
                             "into 8 bits itself, Seismic keeps the collection's impacts")
        from .forward_engines import build_forward_engine_index
        return build_forward_engine_index(collection, index, settings.engine, options=settings.engine_options(),
                                          reorder=settings.reorder, overwrite=overwrite, progress=progress,
                                          verbose=verbose)
    if settings.engine_options():
        raise InputError("engine build settings are for the Seismic and BMP engines")
    if settings.engine == "pisa":
        from .pisa.indexer import build_pisa_index
        return build_pisa_index(collection, index, bits=bits, reorder=settings.reorder, overwrite=overwrite,
                                progress=progress, verbose=verbose)
    if settings.reorder is not None and indexer == "anserini":
        raise InputError("--reorder needs --indexer impact (Anserini's IndexCollection sets its own docid order)")
    if bits is not None:
        raise InputError("re-quantizing impacts (bits) is for the PISA engine and CIFF export; a Lucene index keeps "
                         "the collection's impacts")
    collection = Path(collection)
    manifest, files = load_collection(collection)
    if not files:
        raise InputError(f"{collection}: no part-*.jsonl files beside the manifest")
    threads = threads or os.cpu_count() or 1
    # filled in while the index is written, so one dict: what staged_index writes as the manifest
    facts = dict(manifest, collection=str(collection.resolve()), indexer=indexer, index_threads=threads)

    if indexer == "anserini":
        def link_parts(inputs: Path) -> int:
            for number, path in enumerate(files):
                os.symlink(path.resolve(), inputs / f"{number:06d}-{path.name}")
            return manifest["documents"]

        write = anserini_writer(link_parts, collection_class="JsonVectorCollection", threads=threads,
                                extra_args=("-impact", "-pretokenized"), verbose=verbose)
    else:
        def write(staging: Path, log: Path) -> int:
            from tqdm import tqdm

            from .lucene.impact_writer import write_impact_index
            positions = None
            if settings.reorder is not None:  # the same order as a Seismic or BMP index of the collection
                from .reorder import collection_order
                order, _, facts["reorder"] = collection_order(collection, staging, progress=progress)
                positions = numpy.empty_like(order)
                positions[order] = numpy.arange(len(order))
            with tqdm(total=manifest["documents"], unit="doc", desc="index", disable=bar_disabled(progress),
                      dynamic_ncols=True, file=sys.stderr, mininterval=1.0) as bar:
                indexed, empty = write_impact_index(staging, files, threads, bar.update, positions)
            facts["documents_without_terms"] = empty
            return indexed

    return staged_index(index, write, manifest=facts, what=str(collection), overwrite=overwrite,
                        inputs=[collection])
