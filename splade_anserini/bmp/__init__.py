"""BMP, Block-Max Pruning (Mallia, Suel and Tonellotto, SIGIR 2024): the same collection indexed and searched by the
PyPI package bmp (``pip install 'splade-anserini[bmp]'``).

BMP splits the docids into blocks of ``block_size`` documents, keeps each term's maximum impact per block, and
evaluates blocks in order of their upper bound, stopping when the bound falls below ``alpha`` x the k-th score
(``alpha = 1``: safe); ``beta < 1`` drops the query's lightest terms (the share ``1 - beta`` of its weight).

What BMP computes is not Lucene's score, in two ways (measured on bmp 0.2.8, see the tests):

- impacts are stored in 8 bits, and an impact above 255 wraps around (300 is stored as 44), so the indexer
  re-quantizes impacts into 1..255 first (``--bits 8``'s rule) when the collection's largest is above 255;
- each query weight w becomes ``ceil(w x (32 / max w))`` in float32 (the largest becomes 32, the smallest at least
  1): a light term counts up to 32 x its share of the largest, so documents tie more often and some swap places.

Neither can be turned off from Python, so by default the searcher **rescores**: it asks BMP for more than k
candidates, scores them exactly (query weight x original impact, from the forward index kept in the index) and
keeps fetching deeper until the rounding cannot hide a better document (:mod:`.searcher`). ``rescore=False``
gives BMP's own rounded scores and ranking.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

from ..errors import SetupError

LOG = "bmp.log"
IMPACT_BITS = 8  # BMP stores impacts in one byte
QUERY_TOP = 32  # BMP rescales the largest query weight to this


@dataclass
class BmpSearch:
    """BMP's search settings: ``alpha = beta = 1`` is its safe setting (the authors' default)."""
    alpha: float = 1.0  # stop when a block's bound < alpha x the k-th score (below 1: approximate)
    beta: float = 1.0  # keep the query terms holding this share of its weight (below 1: approximate)
    rescore: bool = True  # exact scores from the forward index (Lucene's), fetching deeper until proven

    @property
    def safe(self) -> bool:
        return self.alpha >= 1.0 and self.beta >= 1.0

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT_BLOCK_SIZE = 32  # the authors' default (and their MS MARCO setting)


@functools.lru_cache(maxsize=1)
def load_bmp():
    """bmp's compiled module, or a one-sentence :class:`SetupError` saying how to install it."""
    try:
        from bmp import _bmp  # only the compiled module: the package's pyterrier module would import PyTerrier
    except ImportError:
        raise SetupError("the BMP engine needs the optional package bmp; install it with "
                         "pip install 'splade-anserini[bmp]'") from None
    return _bmp


def bmp_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("bmp")
    except PackageNotFoundError:
        return None


def bmp_query_weights(query: dict) -> dict:
    """The integer weights BMP gives a query's terms: ``ceil(w x (32 / max w))``, in float32 as BMP computes it
    (bmp 0.2.8, measured: tests/test_engines.py)."""
    import math

    import numpy
    top = numpy.float32(QUERY_TOP) / numpy.float32(max(query.values()))
    return {term: math.ceil(numpy.float32(weight) * top) for term, weight in query.items()}
