"""Sparsity statistics, FLOPS and touched postings, search timings, term inspection and the trade-off plot."""

import json

import pytest
from conftest import DEMO

from splade_anserini import ImpactSearcher, SearchSettings, search_topics
from splade_anserini.cli import main
from splade_anserini.formats.collection import CollectionWriter
from splade_anserini.formats.readers import read_topics
from splade_anserini.formats.runs import search_facts_path
from splade_anserini.index import build_index
from splade_anserini.lucene.queries import SpladeQueryEncoder
from splade_anserini.stats import collection_stats

TINY = [("d1", {"a": 1, "b": 2}), ("d2", {"a": 3}), ("d3", {"c": 1}), ("d4", {"a": 1, "c": 5})]
QUERIES = [{"a": 1}, {"a": 2, "c": 1}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    writer = CollectionWriter(root / "collection")
    for doc_id, vector in TINY:
        writer.write(doc_id, "", vector)
    writer.commit({"model": "splade-tiny", "scale": 100, "max_length": 256, "pooling": "max", "vocab_size": 10})
    build_index(root / "collection", root / "index")
    return root


def test_flops_and_touched_postings_equal_hand_computation(tiny):
    stats = collection_stats(tiny / "collection", QUERIES)
    # document frequencies: a 3, b 1, c 2 of N = 4; query shares: a 2/2, c 1/2
    assert stats["queries"]["flops"] == pytest.approx(1.0 * 3 / 4 + 0.5 * 2 / 4)
    assert stats["queries"]["touched_postings_per_query"] == pytest.approx((3 + (3 + 2)) / 2)
    assert stats["document_terms"]["mean"] == 1.5 and stats["postings"] == 6
    assert (stats["vocabulary_used"], stats["vocabulary_share"]) == (3, 0.3)
    assert [e["term"] for e in stats["largest_posting_lists"]] == ["a", "c", "b"]


def test_stats_command(tiny, tmp_path, capsys):
    topics = tmp_path / "q.tsv"
    topics.write_text("q1\ta\nq2\ta a c\n")  # Anserini's repeated-token format: the QUERIES above
    assert main(["stats", "--collection", str(tiny / "collection"), "--topics", str(topics), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["queries"]["flops"] == pytest.approx(1.0) and stats["documents"] == 4
    assert main(["stats", "--collection", str(tiny / "collection"), "--topics", str(topics)]) == 0
    text = capsys.readouterr().out
    assert "FLOPS (expected multiplications per query-document pair): 1.000" in text
    assert "touched postings per query: 4" in text


def test_touched_postings_equal_lucenes_document_frequencies(demo_collection, demo_index):
    queries = read_topics(DEMO / "queries.tsv")
    vectors = SpladeQueryEncoder(index=demo_index).encode_batch([q.text for q in queries])
    stats = collection_stats(demo_collection, vectors)["queries"]
    with ImpactSearcher(demo_index, min_idf=-1) as searcher:  # df read back from the Lucene index
        touched = [sum(searcher.df(term) for term in vector) for vector in vectors]
    assert stats["touched_postings_per_query"] == pytest.approx(sum(touched) / len(touched))


def test_each_run_records_its_timings_and_costs(demo_index, tmp_path):
    run = tmp_path / "run.trec"
    facts = search_topics(demo_index, run, SearchSettings(k=20, threads=1), topics=DEMO / "queries.tsv")
    saved = json.loads(search_facts_path(run).read_text())
    assert saved["latency_ms"] == facts["latency_ms"] and set(facts["latency_ms"]) == {"p50", "p95", "p99"}
    assert 0 < facts["latency_ms"]["p50"] <= facts["latency_ms"]["p95"] <= facts["latency_ms"]["p99"]
    assert facts["throughput_qps"] > 0 and facts["index_bytes"] > 10_000 and facts["flops"] > 0


def test_inspect_shows_the_inputs_words_and_expansion_terms(capsys):
    assert main(["inspect", "Honey bees communicate the location of flowers by dancing.", "--top", "15"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    kinds = {row[1]: row[-1] for row in rows}
    assert {"honey", "bees", "flowers"} <= {term for term, kind in kinds.items() if kind == "input"}
    assert any(kind == "expansion" for kind in kinds.values())
    weights = [float(row[2]) for row in rows]
    assert weights == sorted(weights, reverse=True)


def test_report_and_plot_show_the_trade_off(tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    for system, ndcg, flops in (("splade-tiny", 0.64, 1.9), ("splade-tiny.scale20", 0.61, 0.8)):
        (runs / f"t.{system}.metrics.json").write_text(json.dumps({
            "run": f"runs/t.{system}.trec", "topics_name": "t", "system": system, "queries_in_qrels": 3,
            "metrics": {"nDCG@10": ndcg}, "search": {"flops": flops, "touched_postings_per_query": 900,
                                                    "throughput_qps": 100.0, "latency_ms": {"p50": 2.0}}}))
    assert main(["report", str(runs)]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith("| topics | system | queries | nDCG@10 | FLOPS | postings/query | q/s | p50 ms")
    png = tmp_path / "tradeoff.png"
    assert main(["plot", str(runs), "--output", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.pyplot as plt
    image = plt.imread(png)
    assert image.shape[0] > 400 and image.shape[1] > 600 and image.std() > 0.05  # a drawn chart, not a blank
    assert main(["plot", str(runs), "--output", str(png), "--x", "nothing"]) == 2
