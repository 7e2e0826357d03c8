"""Indexing for the engines that are built from the forward index (Seismic, BMP): the collection is streamed into
the forward index once (kept in the index: the docid table, the term statistics and, for BMP, the exact scores),
optionally reordered (``--reorder bp``), and handed to the engine in that order. The index is staged beside its
target and moved into place complete, manifest last, like a PISA index."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy

from .errors import InputError
from .formats.artifacts import BMP_INDEX, SEISMIC_INDEX, prepare_output, replace_directory, write_manifest
from .formats.collection import load_collection
from .formats.forward import ORDER, write_forward_index
from .settings import REORDERS

REORDERINGS = REORDERS


def build_forward_engine_index(collection: str | Path, index: str | Path, engine: str, *, options: dict | None = None,
                               reorder: str | None = None, overwrite: bool = False, progress: bool | None = None,
                               verbose: bool = False) -> dict:
    """Index ``collection`` with ``engine`` ("seismic" or "bmp") into ``index``; ``options`` are the engine's build
    settings (Seismic: :class:`~.seismic.SeismicBuild` fields; BMP: ``block_size``). Returns the index manifest."""
    collection, index = Path(collection), Path(index)
    options = dict(options or {})
    if reorder is not None and reorder not in REORDERINGS:
        raise InputError(f"reorder must be one of {REORDERINGS}, not {reorder!r}")
    manifest, _ = load_collection(collection)
    kind = {"seismic": SEISMIC_INDEX, "bmp": BMP_INDEX}[engine]
    prepare_output(index, overwrite, kind, [collection])
    if engine == "seismic":
        from .seismic import SeismicBuild, load_seismic, seismic_version
        from .seismic.indexer import write_seismic
        build = SeismicBuild(**options)
        if build.n_postings < 1 or not 0 < build.centroid_fraction <= 1 or not 0 < build.summary_energy <= 1 \
                or build.knn < 0:
            raise InputError("Seismic needs n_postings >= 1, 0 < centroid_fraction <= 1, 0 < summary_energy <= 1 "
                             "and knn >= 0")
        load_seismic()  # the missing extra is said before any work
    else:
        from .bmp import DEFAULT_BLOCK_SIZE, bmp_version, load_bmp
        from .bmp.indexer import write_bmp
        block_size = options.pop("block_size", None) or DEFAULT_BLOCK_SIZE
        if options or block_size < 1:
            raise InputError(f"BMP's build settings are block_size >= 1 only, not {sorted(options) or block_size}")
        load_bmp()
    index.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{index.name}.partial-", dir=index.parent))
    started = time.time()
    try:
        forward = write_forward_index(collection, staging, progress)
        forward_seconds = time.time() - started
        reordering = None
        order = numpy.arange(forward.documents, dtype=numpy.int64)
        if reorder == "bp":
            from .reorder import cached_bp_order
            order, reordering = cached_bp_order(forward, progress=progress)
            numpy.save(staging / ORDER, order)
        building = time.time()
        if engine == "seismic":
            facts = write_seismic(forward, order, staging, build, verbose)
            settings = {"build": build.as_dict(), "pyseismic_lsr": seismic_version(), **facts}
        else:
            facts = write_bmp(forward, order, staging, block_size)
            settings = {"block_size": block_size, "bmp": bmp_version(), **facts}
        index_manifest = dict(manifest, kind=kind, engine=engine, collection=str(collection.resolve()),
                              index_documents=forward.documents, index_terms=len(forward.vocabulary),
                              index_postings=forward.postings, reorder=reordering,
                              index_seconds=round(time.time() - started, 2),
                              forward_seconds=round(forward_seconds, 2),
                              engine_seconds=round(time.time() - building, 2), **{engine: settings})
        del forward  # its memory maps, before the directory moves
        write_manifest(staging, index_manifest)
        replace_directory(staging, index, kind)
        return index_manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)
