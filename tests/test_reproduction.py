"""Reference runs on the shared test collections: the pipeline must reproduce ../shared/data/README.md, SPLADE
and BM25 rows alike."""

import pytest
from conftest import ROOT, shared_collection

from splade_anserini.experiment.config import load_experiment
from splade_anserini.experiment.pipeline import compare, run_steps

pytestmark = [pytest.mark.shared, pytest.mark.slow]


@pytest.mark.parametrize("name, collection", [("scifact-local", "beir-scifact"),
                                              ("dl19-passage-local", "trec-dl-2019-passage-judged")])
def test_reference_scores(name, collection, tmp_path):
    data = shared_collection(collection)
    experiment = load_experiment(ROOT / "configs" / f"{name}.yaml", data=data, workdir=tmp_path)
    results = run_steps(experiment, progress=False)
    rows, ok = compare(experiment, results)
    assert {system for _, system, *_ in rows} == {"splade", "bm25"}, "the config names expected SPLADE and BM25 scores"
    assert ok, "\n".join(f"{s} {m}: expected {e:.4f}, measured {v:.4f}" for _, s, m, e, v, _, _ in rows)
