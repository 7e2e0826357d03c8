"""Reference runs on the shared test collections: the pipeline must reproduce ../shared/data/README.md, SPLADE
and BM25 rows alike."""

import pytest

from splade_anserini.experiment.pipeline import compare

pytestmark = [pytest.mark.shared, pytest.mark.slow]


@pytest.mark.parametrize("name, collection", [("scifact-local", "beir-scifact"),
                                              ("dl19-passage-local", "trec-dl-2019-passage-judged")])
def test_reference_scores(name, collection, reproduced):
    experiment, results = reproduced(name, collection)
    rows, ok = compare(experiment, results)
    assert {system for _, system, *_ in rows} == {"splade", "bm25"}, "the config names expected SPLADE and BM25 scores"
    assert ok, "\n".join(f"{s} {m}: expected {e:.4f}, measured {v:.4f}" for _, s, m, e, v, _, _ in rows)
