import json

import torch
from conftest import DEMO

from splade_anserini.model.splade import Splade, quantize


def demo_texts(n):
    texts = []
    with open(DEMO / "corpus.jsonl", encoding="utf-8") as handle:
        for line, _ in zip(handle, range(n)):
            doc = json.loads(line)
            texts.append(f"{doc['title']} {doc['text']}".strip())
    return texts


def test_fast_path_equals_reference_formula_on_mixed_lengths(splade):
    texts = demo_texts(12)
    # one text far past max_length (truncated), a few words, one word: padding differs a lot within the batch
    batch = [" ".join(texts), "honey bees", "volcano"] + texts[:5]
    fast, reference = splade.weights(batch), splade.reference_weights(batch)
    assert fast.shape == reference.shape == (len(batch), splade.vocab_size)
    assert torch.allclose(fast, reference, atol=1e-5)
    assert torch.equal(quantize(fast, 100), quantize(reference, 100))
    assert (quantize(fast, 100) > 0).sum(dim=1).min() > 0


def test_sum_pooling_equals_reference(splade):
    model = Splade(splade.path, pooling="sum", max_length=64)
    batch = demo_texts(3) + ["short"]
    assert torch.allclose(model.weights(batch), model.reference_weights(batch), rtol=1e-5, atol=1e-4)


def test_encode_keeps_input_order(splade):
    texts = demo_texts(10) + ["tea", "a much longer query about the migration of birds across oceans"]
    expected = [splade.encode([t], 100)[0] for t in texts]
    assert splade.encode(texts, 100, batch_size=3) == expected


def test_sparse_vectors_are_word_pieces_with_positive_ints(splade):
    vector = splade.encode(["Photosynthesizing cyanobacteria"], 100)[0]
    assert vector and all(isinstance(v, int) and v > 0 for v in vector.values())
    assert set(vector) <= set(splade.tokenizer.get_vocab())
    assert any(token.startswith("##") for token in vector)  # word pieces, exactly what Lucene indexes
    tokens = splade.tokenizer.tokenize("Photosynthesizing cyanobacteria")
    assert set(tokens) & set(vector)


def test_scale_is_applied_before_rounding(splade):
    weights = splade.weights(["coffee brewing temperature"])
    coarse, fine = quantize(weights, 10), quantize(weights, 1000)
    assert torch.equal(coarse, torch.round(weights.double() * 10).long())
    assert (fine > 0).sum() > (coarse > 0).sum()


def test_packed_projection_equals_the_reference_formula(splade):
    """The device path (all real tokens of a batch in one projection, max, activation, quantization and selection on
    the device), run here on the CPU: 0 quantized weights differ from the textbook formula, whatever the batches."""
    packed = Splade(splade.path, projection="packed")
    assert packed.projection_mode == "packed" and splade.projection_mode == "per-text"
    texts = demo_texts(40) + [" ".join(demo_texts(12)), "volcano", "honey bees"]
    reference = quantize(splade.reference_weights(texts), 100)
    for batch_size in (1, 7, 64):
        vectors = packed.encode(texts, 100, batch_size=batch_size)
        index = {token: i for i, token in enumerate(packed.vocab)}
        dense = torch.zeros_like(reference)
        for row, vector in enumerate(vectors):
            dense[row, [index[t] for t in vector]] = torch.tensor(list(vector.values()))
        assert torch.equal(dense, reference), batch_size
    assert vectors == splade.encode(texts, 100)


def test_packed_projection_bounds_its_logits(splade, monkeypatch):
    """A batch whose logits exceed the bound is projected in chunks; texts spanning two chunks keep their max."""
    from splade_anserini.model import splade as module
    packed = Splade(splade.path, projection="packed")
    texts = demo_texts(9)
    expected = packed.encode(texts, 100, batch_size=9)
    monkeypatch.setattr(module, "PACKED_LOGITS", packed.vocab_size * 13)  # 13 tokens per chunk: texts straddle
    assert packed.encode(texts, 100, batch_size=9) == expected
