"""Term inspection: a text's SPLADE vector as a table of word pieces and weights, telling the text's own word
pieces from expansion terms (those the model added that the text does not contain)."""

from __future__ import annotations

from ..formats.quantization import quantize
from ..settings import ENCODE


def inspect_text(model, text: str, top: int = 30, scale: float | None = ENCODE.scale) -> tuple[list[dict], int]:
    """The ``top`` heaviest terms of ``text`` under ``model`` (a :class:`~splade_anserini.model.splade.Splade`), and how
    many terms the text has in all."""
    weights = model.weights([text])[0]
    own = set(model.tokenizer.tokenize(text)[:model.max_length - 2])
    count = int((weights > 0).sum())
    values, indices = weights.topk(min(top, count)) if count else (weights[:0], weights[:0].long())
    return [{"rank": rank, "term": model.vocab[index], "weight": float(value),
             "quantized": None if scale is None else quantize(float(value), scale),
             "kind": "input" if model.vocab[index] in own else "expansion"}
            for rank, (value, index) in enumerate(zip(values.tolist(), indices.tolist()), start=1)], count


def format_terms(rows: list[dict], text: str, total: int | None = None) -> str:
    width = max([len(r["term"]) for r in rows] + [4])
    lines = [f"{text!r}: {total if total is not None else len(rows)} terms"
             f" ({sum(r['kind'] == 'expansion' for r in rows)} of the top {len(rows)} are expansion terms)",
             f"{'rank':>4}  {'term':<{width}}  {'weight':>7}  {'int':>5}  kind"]
    for r in rows:
        lines.append(f"{r['rank']:>4}  {r['term']:<{width}}  {r['weight']:>7.3f}  "
                     f"{'' if r['quantized'] is None else r['quantized']:>5}  {r['kind']}")
    return "\n".join(lines)
