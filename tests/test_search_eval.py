import subprocess

import pytest
from conftest import DEMO

from splade_anserini import (
    LuceneImpactSearcher,
    SearchSettings,
    SpladeQueryEncoder,
    search_topics,
)
from splade_anserini.errors import InputError
from splade_anserini.evaluate import evaluate, parse_measure, ranking
from splade_anserini.formats.readers import read_qrels, read_topics
from splade_anserini.formats.runs import read_run

# our measure -> (trec_eval arguments, trec_eval measure name)
TREC_EVAL = {
    "nDCG@10": (["-m", "ndcg_cut.10"], "ndcg_cut_10"),
    "RR@10": (["-M", "10", "-m", "recip_rank"], "recip_rank"),
    "RR(rel=2)@10": (["-l", "2", "-M", "10", "-m", "recip_rank"], "recip_rank"),
    "R@5": (["-m", "recall.5"], "recall_5"),
    "R(rel=2)@100": (["-l", "2", "-m", "recall.100"], "recall_100"),
    "P@5": (["-m", "P.5"], "P_5"),
    "AP": (["-m", "map"], "map"),
    "AP(rel=2)": (["-l", "2", "-m", "map"], "map"),
}


def trec_eval(cmd, qrels, run, measure):
    args, name = TREC_EVAL[measure]
    out = subprocess.run(cmd + ["-c"] + args + [str(qrels), str(run)], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts[0] == name and parts[1] == "all":
            return float(parts[2])
    raise AssertionError(out.stdout + out.stderr)


@pytest.fixture(scope="module")
def demo_run(demo_index, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "demo.trec"
    search_topics(demo_index, run, SearchSettings(k=50), topics=DEMO / "queries.tsv")
    return run


def test_run_file_is_trec_format_and_deterministic(demo_index, demo_run, tmp_path):
    lines = demo_run.read_text().splitlines()
    queries = read_topics(DEMO / "queries.tsv")
    assert len(lines) == 50 * len(queries)
    qid, q0, docid, rank, score, tag = lines[0].split()
    assert (qid, q0, rank, tag) == (queries[0].id, "Q0", "1", "splade-anserini.splade-tiny")
    again = tmp_path / "again.trec"
    search_topics(demo_index, again, SearchSettings(k=50, threads=1), topics=DEMO / "queries.tsv")
    assert again.read_bytes() == demo_run.read_bytes()


def test_query_encoder_equals_document_encoder(demo_index, splade):
    encoder = SpladeQueryEncoder(index=demo_index)
    assert (encoder.model_name, encoder.scale, encoder.max_length) == ("splade-tiny", 100, 256)
    text = "How do honey bees communicate where flowers are?"
    assert encoder.encode(text) == splade.encode([text], 100)[0]
    encoder.prime([text, "tides and the moon"])
    assert encoder.encode("tides and the moon") == splade.encode(["tides and the moon"], 100)[0]


def test_drop_in_pyserini_searcher_gives_the_cli_ranking(demo_index, demo_run):
    """Our encoder inside Pyserini's own LuceneImpactSearcher: the same hits, scores and order as our run file."""
    searcher = LuceneImpactSearcher(str(demo_index), SpladeQueryEncoder(index=demo_index))
    queries = read_topics(DEMO / "queries.tsv")
    run = read_run(demo_run)
    batch = searcher.batch_search([q.text for q in queries], [q.id for q in queries], k=50, threads=2)
    for query in queries:
        theirs = [(h.docid, float(f"{h.score:.6f}")) for h in batch[query.id]]
        assert list(run[query.id].items()) == theirs, query.id
    single = searcher.search(queries[0].text, k=50)  # one query, encoded on the spot
    assert [h.docid for h in single] == list(run[queries[0].id])


def test_measures_equal_trec_eval_on_a_real_run(demo_run, trec_eval_cmd):
    qrels = DEMO / "qrels.txt"
    means, _ = evaluate(read_run(demo_run), read_qrels(qrels), list(TREC_EVAL))
    for measure in TREC_EVAL:
        assert means[measure] == pytest.approx(trec_eval(trec_eval_cmd, qrels, demo_run, measure), abs=1e-4), measure


def test_measures_equal_trec_eval_on_ties_and_missing_queries(tmp_path, trec_eval_cmd):
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 a 2\nq1 0 b 1\nq1 0 c 0\nq2 0 x 1\nq3 0 y 3\nq3 0 z 1\nq4 0 n 0\n")
    run = tmp_path / "run.trec"
    # equal scores: trec_eval ranks them by docid, decreasing; q3 has no hits; q9 is not judged
    run.write_text("q1 Q0 c 1 5.0 t\nq1 Q0 a 2 5.0 t\nq1 Q0 b 3 5.0 t\nq1 Q0 d 4 1.0 t\n"
                   "q2 Q0 w 1 2.0 t\nq2 Q0 x 2 1.0 t\nq4 Q0 n 1 1.0 t\nq9 Q0 a 1 1.0 t\n")
    means, per_query = evaluate(read_run(run), read_qrels(qrels), list(TREC_EVAL))
    for measure in TREC_EVAL:
        assert means[measure] == pytest.approx(trec_eval(trec_eval_cmd, qrels, run, measure), abs=1e-4), measure
    assert ranking(read_run(run)["q1"]) == ["c", "b", "a", "d"]  # the 5.0 tie, by docid decreasing
    assert per_query["RR@10"]["q1"] == 0.5 and per_query["RR(rel=2)@10"]["q1"] == pytest.approx(1 / 3)
    # MRR (MS MARCO script) keeps the file's rank order inside the tie: c, a, b
    assert evaluate(read_run(run), read_qrels(qrels), ["MRR(rel=2)@10"])[1]["MRR(rel=2)@10"]["q1"] == 0.5


def test_bad_measure_and_run_errors(tmp_path):
    with pytest.raises(InputError, match="Unknown measure"):
        parse_measure("MRR10")
    with pytest.raises(InputError, match="needs a cutoff"):
        parse_measure("nDCG")
    run = tmp_path / "r.trec"
    run.write_text("q1 Q0 a 1 1.0 t\nq1 Q0 a 2 0.5 t\n")
    with pytest.raises(InputError, match=r"r.trec:2: document a appears twice"):
        read_run(run)
    run.write_text("q1 a 1 1.0\n")
    with pytest.raises(InputError, match=r"r.trec:1: expected 'qid Q0 docid rank score tag'"):
        read_run(run)


def test_search_refuses_a_query_model_that_does_not_match_the_index(demo_index, tmp_path, splade):
    encoder = SpladeQueryEncoder(str(splade.path), index=demo_index, scale=50)
    with pytest.raises(InputError, match="do not match the index"):
        search_topics(demo_index, tmp_path / "r.trec", topics=DEMO / "queries.tsv", encoder=encoder)
    assert not (tmp_path / "r.trec").exists()
