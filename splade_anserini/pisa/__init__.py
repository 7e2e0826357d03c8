"""PISA, the second search engine: the same collection indexed and searched by PISA's C++ query processing
(block-max WAND, MaxScore) through the PyPI package pyterrier-pisa (``pip install 'splade-anserini[pisa]'``).

No JVM here: :mod:`.indexer` writes PISA's binary collection straight from our collection (docids in collection
order, the integer impacts as frequencies) and has PISA compress it; :mod:`.searcher` scores each document as
sum(query weight x impact), exactly what Lucene's impact similarity computes, so both engines rank alike.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.machinery
import importlib.util
from pathlib import Path

from ..errors import SetupError
from ..native_output import redirected

# The index as PISA keeps it: its "quantized" scorer takes the stored frequency as the score (our impacts), with
# fixed blocks of 64 postings for the block-max metadata and SIMD-BP128 compression (pyterrier-pisa's default).
SCORER = "quantized"
ENCODING = "block_simdbp"
BLOCK_SIZE = 64
MODULE = "_pisathon"  # pyterrier-pisa's compiled module: PISA's indexing and query processing


@functools.lru_cache(maxsize=1)
def load_pisa():
    """pyterrier-pisa's compiled PISA module, or a one-sentence :class:`SetupError` saying how to install it.

    Only the compiled module is loaded, not the package around it: importing ``pyterrier_pisa`` imports PyTerrier
    (seconds), whose Java set-up takes over pyjnius's configuration, so a JVM started afterwards lacks Anserini."""
    spec = importlib.util.find_spec("pyterrier_pisa")  # finds the package without importing it
    found = [] if spec is None else [Path(folder, MODULE + suffix) for folder in spec.submodule_search_locations or ()
                                     for suffix in importlib.machinery.EXTENSION_SUFFIXES
                                     if Path(folder, MODULE + suffix).is_file()]
    if not found:
        raise SetupError("the PISA engine needs the optional package pyterrier-pisa; install it with "
                         "pip install 'splade-anserini[pisa]'")
    loader = importlib.machinery.ExtensionFileLoader(f"pyterrier_pisa.{MODULE}", str(found[0]))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def pisa_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("pyterrier-pisa")
    except PackageNotFoundError:
        return None


def native_output(log: Path | None):
    """Send what PISA prints (spdlog's lines, its progress bars) to the file ``log`` while the block runs; ``None``
    leaves it on the terminal. C's stdio buffers are flushed before the terminal is restored."""
    return redirected(log, lambda: ctypes.CDLL(None).fflush(None))
