"""Seismic (Bruch et al., SIGIR 2024), an approximate engine: the same collection indexed and searched by the
PyPI package pyseismic-lsr (``pip install 'splade-anserini[seismic]'``).

Seismic keeps, per term, only its heaviest postings (``n_postings`` on average), groups each list into blocks by
clustering the documents (``centroid_fraction``), and gives every block a summary vector (its largest weights, up to
``summary_energy`` of their mass); a query reads the lists of its ``query_cut`` heaviest terms and scores a block's
documents only when the block's summary score passes ``heap_factor`` x the current k-th score. A document it scores is
scored exactly (its full vector from a forward index, times the query), so with integer query weights its scores are
Lucene's sums; what it gives up is which documents it scores. :mod:`.indexer` builds it, :mod:`.searcher` searches.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import SetupError
from ..native_output import redirected

LOG = "seismic.log"


@dataclass
class SeismicBuild:
    """Seismic's build settings, with the defaults of pyseismic-lsr 0.5.4 (``SeismicIndex.build``), which its
    authors use for MS MARCO-sized SPLADE collections."""
    n_postings: int = 3500  # postings kept per term list, on average (a global budget of n_postings x terms)
    centroid_fraction: float = 0.1  # blocks per list: this fraction of its postings
    summary_energy: float = 0.4  # share of a block's weight mass its summary keeps
    max_fraction: float = 1.5  # no list keeps more than n_postings x max_fraction postings
    min_cluster_size: int = 2
    doc_cut: int = 15  # terms of a document used to cluster it (scoring always uses all)
    knn: int = 0  # neighbours per document in the kNN graph (0: none; search with n_knn to use it)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SeismicSearch:
    """Seismic's search settings; the defaults are a middle operating point (see README, Engines)."""
    query_cut: int = 10  # the query's heaviest terms whose lists are read
    heap_factor: float = 0.7  # a block is scored when its summary score > k-th score x heap_factor
    n_knn: int = 0  # neighbours of the hits scored too (needs an index built with knn > 0)

    def as_dict(self) -> dict:
        return asdict(self)


def exhaustive(documents: int) -> tuple[SeismicBuild, SeismicSearch]:
    """Settings under which Seismic scores every document of every query term's list: every posting kept, full
    summaries, every query term, every block. Its top k is then exact (slow; for checking)."""
    return (SeismicBuild(n_postings=documents, max_fraction=1.0, summary_energy=1.0),
            SeismicSearch(query_cut=1 << 20, heap_factor=1e-9))


@functools.lru_cache(maxsize=1)
def load_seismic():
    """pyseismic-lsr's module, or a one-sentence :class:`SetupError` saying how to install it."""
    try:
        import seismic
    except ImportError:
        raise SetupError("the Seismic engine needs the optional package pyseismic-lsr; install it with "
                         "pip install 'splade-anserini[seismic]'") from None
    return seismic


def seismic_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("pyseismic-lsr")
    except PackageNotFoundError:
        return None


def native_output(log: Path | None):
    """What Seismic prints (its build progress, from Rust) goes to ``log`` while the block runs."""
    return redirected(log, lambda: ctypes.CDLL(None).fflush(None))
