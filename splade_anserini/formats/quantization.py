"""The one quantization rule of the flow: a weight ``w`` becomes the integer ``round(scale * w)`` (Python's round,
half to even, in float64), and zeros are dropped. Documents (:func:`splade_anserini.model.splade.quantize`, the same
rule on tensors), SPLADE and inference-free queries, training's query side and ``inspect`` all quantize here."""

from __future__ import annotations


def quantize(weight: float, scale: float) -> int:
    """``round(scale * weight)``."""
    return round(scale * weight)


def quantize_vector(weights: dict, scale: float) -> dict:
    """``{term: round(scale * w)}`` for a vector of float weights, terms that round to zero left out (order kept)."""
    return {term: q for term, q in ((term, round(scale * w)) for term, w in weights.items()) if q > 0}
