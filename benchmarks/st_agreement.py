"""How close sentence-transformers' vectors of a checkpoint trained here are to ours, before and after quantization.

Trains splade-tiny for 2 steps twice (one model; an idf query side, whose checkpoint is a Router), loads each final
checkpoint in ``SparseEncoder`` and compares ``encode_document`` on the first 200 demo passages and ``encode_query``
on the 40 demo queries with this project's weights: the largest absolute difference, and how many weights differ
after ``round(100 * w)``. Needs ``pip install 'splade-anserini[st]'``.

    python benchmarks/st_agreement.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
from sentence_transformers import SparseEncoder

from splade_anserini.model.splade import Splade
from splade_anserini.train.trainer import Trainer, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "splade_anserini" / "data" / "demo"
SCALE = 100


def differing(a: torch.Tensor, b: torch.Tensor) -> int:
    return int((torch.round(a.double() * SCALE) != torch.round(b.double() * SCALE)).sum())


def main() -> None:
    texts = [json.loads(line)["text"] for line in (DEMO / "corpus.jsonl").read_text().splitlines()[:200]]
    queries = [line.split("\t", 1)[1] for line in (DEMO / "queries.tsv").read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        for query_model in (None, "idf"):
            overrides = [f"data.pseudo_queries={DEMO / 'corpus.jsonl'}", "data.negatives=random", "batch_size=4",
                         "doc_max_length=64", "max_steps=2", "lr=0.001", "lr_warmup_steps=1",
                         f"output={Path(tmp) / str(query_model)}"] + ([f"query_model={query_model}"] if query_model
                                                                      else [])
            trainer = Trainer(load_settings(ROOT / "configs" / "train-scifact.yaml", overrides), progress=False)
            final = trainer.run(progress=False)
            theirs, ours = SparseEncoder(str(final), device="cpu"), Splade(final, device="cpu")
            documents = theirs.encode_document(texts, convert_to_tensor=True).to_dense()
            our_documents = ours.weights(texts)
            query_vectors = theirs.encode_query(queries, convert_to_tensor=True).to_dense()
            our_queries = ours.weights(queries) if query_model is None else \
                trainer.query_side.weights(queries, 32).cpu()
            print(f"query side {query_model or 'the model'}: documents max |diff| "
                  f"{float((documents - our_documents).abs().max()):.2e}, {differing(documents, our_documents)} of "
                  f"{documents.numel()} quantized weights differ; queries max |diff| "
                  f"{float((query_vectors - our_queries).abs().max()):.2e}, "
                  f"{differing(query_vectors, our_queries)} of {query_vectors.numel()} differ")


if __name__ == "__main__":
    main()
