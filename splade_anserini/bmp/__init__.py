"""BMP, Block-Max Pruning (Mallia, Suel and Tonellotto, SIGIR 2024): the same collection indexed and searched by the
PyPI package bmp (``pip install 'splade-anserini[bmp]'``).

BMP splits the docids into blocks of ``block_size`` documents, keeps each term's maximum impact per block, and
evaluates blocks in order of their upper bound, stopping when the bound falls below ``alpha`` x the k-th score
(``alpha = 1``: safe); ``beta < 1`` drops the query's lightest terms (the share ``1 - beta`` of its weight).

What BMP computes is not Lucene's score, in two ways (measured on bmp 0.2.8, see the tests):

- impacts are stored in 8 bits, and an impact above 255 wraps around (300 is stored as 44), so the indexer
  re-quantizes impacts into 1..255 first (``--bits 8``'s rule) when the collection's largest is above 255;
- each query weight w becomes ``ceil(w x (32 / max w))`` in float32 (the largest becomes 32, the smallest at least
  1): a light term counts up to 32 x its share of the largest, so documents tie more often and some swap places;
- a document's score is summed in 16 bits: a score above 65,535 wraps around (74,046 is reported as 8,510; measured
  on SciFact, where the best document of some queries was lost that way).

The searcher keeps every score below 2^16: it adds to each query a term no document holds (``SCALE_TERM``) whose
weight sets BMP's scale s (the real terms get ``ceil(w x s)``), with s as large as keeps sum(ceil(w x s) x the
term's largest 8-bit impact) <= 65,535 (:func:`query_scale`); a query too long for any scale is scored exhaustively
from the forward index. The rounding itself cannot be turned off from Python, so by default the searcher
**rescores**: it asks BMP for more than k
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


SCORE_LIMIT = (1 << 16) - 1  # BMP sums a document's score in 16 bits


def bmp_query_weights(query: dict, top_weight: float | None = None) -> dict:
    """The integer weights BMP gives a query's terms: ``ceil(w x (32 / top))`` in float32 as BMP computes it, where
    top is the largest weight it is sent (the query's own, or ``top_weight``: the scale term's); bmp 0.2.8, measured
    (tests/test_seismic_bmp.py)."""
    import math

    import numpy
    scale = numpy.float32(QUERY_TOP) / numpy.float32(top_weight or max(query.values()))
    return {term: math.ceil(numpy.float32(weight) * scale) for term, weight in query.items()}


def query_scale(query: dict, largest_impact: dict) -> float | None:
    """The weight to give the scale term so that no document's BMP score can pass 65,535: the query's own largest
    weight when that is safe, else a larger one (a smaller scale s = 32 / weight); None when even s -> 0 (every
    term's BMP weight 1) is not safe. ``largest_impact``: each query term's largest 8-bit impact."""
    top = max(query.values())
    worst = sum(w * largest_impact[t] for t, w in bmp_query_weights(query).items())
    if worst <= SCORE_LIMIT:
        return top
    room = SCORE_LIMIT - sum(largest_impact[t] for t in query)  # ceil(x) <= x + 1: the +1s take this much
    if room <= 0:
        return None
    scale = room / sum(w * largest_impact[t] for t, w in query.items()) * (1 - 1e-6)  # float32 margin
    weight = QUERY_TOP / scale
    assert sum(w * largest_impact[t] for t, w in bmp_query_weights(query, weight).items()) <= SCORE_LIMIT
    return weight
