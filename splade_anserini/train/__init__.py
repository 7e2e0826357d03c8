"""Training SPLADE models, apart from inference but on the same model and pooling code (:mod:`..model.splade`).

data (triples, scored pairs, pseudo-queries from a corpus) -> losses (a ranking loss plus sparsity regularisers
with a warm-up schedule) -> trainer (checkpoints as Hugging Face directories that ``encode`` and ``search`` load
directly).
"""
