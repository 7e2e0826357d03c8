"""Run fusion against hand computations on a small example: two runs of three queries, with tied scores, a document
in one run only and a query in one run only; the file the command writes, its search facts, and what it refuses."""

from __future__ import annotations

import json

import pytest

from splade_anserini.cli import main
from splade_anserini.errors import InputError
from splade_anserini.experiment.config import load_experiment
from splade_anserini.formats.artifacts import sha256_file
from splade_anserini.formats.runs import read_run
from splade_anserini.fuse import fuse, fuse_runs

# q1: d2 and d3 tie in A (so A ranks d2 second, d3 third, by docid); d2 is in A only, d4 in B only.
# q2 is in A only, q3 in B only.
RUN_A = """q1 Q0 d1 1 10.0 a
q1 Q0 d2 2 8.0 a
q1 Q0 d3 3 8.0 a
q2 Q0 d1 1 5.0 a
"""
RUN_B = """q1 Q0 d3 1 3.0 b
q1 Q0 d4 2 2.0 b
q1 Q0 d1 3 1.0 b
q3 Q0 d9 1 7.0 b
"""


@pytest.fixture
def runs(tmp_path):
    a, b = tmp_path / "a.trec", tmp_path / "b.trec"
    a.write_text(RUN_A)
    b.write_text(RUN_B)
    return a, b


def ranked(fused, qid):
    return [(d, pytest.approx(s, abs=1e-6)) for d, s in fused[qid]]


def test_rrf_by_hand(runs):
    fused = fuse_runs([read_run(p) for p in runs], "rrf", k=60)
    # d1: ranks 1 and 3; d3: ranks 3 and 1 -> equal, docid order; d2 (A rank 2) and d4 (B rank 2) likewise
    both, second = 1 / 61 + 1 / 63, 1 / 62
    assert ranked(fused, "q1") == [("d1", both), ("d3", both), ("d2", second), ("d4", second)]
    assert ranked(fused, "q2") == [("d1", 1 / 61)]
    assert ranked(fused, "q3") == [("d9", 1 / 61)]
    weighted = fuse_runs([read_run(p) for p in runs], "rrf", k=0, weights=[1, 2])
    # k = 0: d1 1/1 + 2/3, d3 1/3 + 2/1, d4 2/2, d2 1/2
    assert ranked(weighted, "q1") == [("d3", 7 / 3), ("d1", 5 / 3), ("d4", 1.0), ("d2", 0.5)]


def test_interpolation_by_hand(runs):
    a, b = (read_run(p) for p in runs)
    # min-max per query: A q1 d1 1, d2 0, d3 0; B q1 d3 1, d4 0.5, d1 0; a missing document takes the run's lowest (0)
    fused = fuse_runs([a, b], "interpolate", weights=[0.4, 0.6])
    assert ranked(fused, "q1") == [("d3", 0.6), ("d1", 0.4), ("d4", 0.3), ("d2", 0.0)]
    assert ranked(fused, "q2") == [("d1", 0.4)]  # one hit: min-max gives it 1
    assert ranked(fused, "q3") == [("d9", 0.6)]
    # raw scores: the missing document's floor is the run's lowest score for the query (A: 8, B: 1), not 0, which
    # would put d2 (3.2) above d4 (1.2)
    raw = fuse_runs([a, b], "interpolate", weights=[0.4, 0.6], normalize="none")
    assert ranked(raw, "q1") == [("d3", 5.0), ("d1", 4.6), ("d4", 4.4), ("d2", 3.8)]


def test_combsum_by_hand(runs):
    fused = fuse_runs([read_run(p) for p in runs], "combsum", normalize="none")
    # d1 10 + 1, d3 8 + 3 tie -> docid order; a missing document adds nothing
    assert ranked(fused, "q1") == [("d1", 11.0), ("d3", 11.0), ("d2", 8.0), ("d4", 2.0)]
    zscore = fuse_runs([read_run(p) for p in runs], "combsum", normalize="zscore")
    # A q1: mean 26/3, sd sqrt(8/9); B q1: mean 2, sd sqrt(2/3)
    za = {"d1": (10 - 26 / 3) / (8 / 9) ** 0.5, "d2": (8 - 26 / 3) / (8 / 9) ** 0.5}
    zb = {"d3": 1 / (2 / 3) ** 0.5, "d4": 0.0, "d1": -1 / (2 / 3) ** 0.5}
    expected = {"d1": za["d1"] + zb["d1"], "d2": za["d2"], "d3": za["d2"] + zb["d3"], "d4": 0.0}
    assert dict(zscore["q1"]) == pytest.approx(expected, abs=1e-6)


def test_fuse_writes_a_ranked_run_with_its_inputs(runs, tmp_path):
    out = tmp_path / "fused.trec"
    assert main(["fuse", *map(str, runs), "--method", "rrf", "--output", str(out)]) == 0
    lines = [line.split() for line in out.read_text().splitlines()]
    assert [(q, d, r) for q, _, d, r, _, _ in lines] == [
        ("q1", "d1", "1"), ("q1", "d3", "2"), ("q1", "d2", "3"), ("q1", "d4", "4"), ("q2", "d1", "1"),
        ("q3", "d9", "1")]
    assert lines[0][4] == f"{1 / 61 + 1 / 63:.6f}" and lines[0][5] == "splade-anserini.fuse-rrf"
    facts = json.loads((tmp_path / "fused.trec.search.json").read_text())
    assert facts["method"] == "rrf" and facts["rrf_k"] == 60 and facts["weights"] == [1.0, 1.0]
    assert [i["sha256"] for i in facts["inputs"]] == [sha256_file(p) for p in runs]
    assert [i["queries"] for i in facts["inputs"]] == [2, 2] and facts["queries"] == 3
    # a second time needs --overwrite, and then replaces its own run
    assert main(["fuse", *map(str, runs), "--output", str(out)]) == 2
    assert main(["fuse", *map(str, runs), "--method", "interpolate", "--weights", "0.4", "0.6", "--depth", "2",
                 "--output", str(out), "--overwrite"]) == 0
    assert [line.split()[2] for line in out.read_text().splitlines()] == ["d3", "d1", "d1", "d9"]
    assert json.loads((tmp_path / "fused.trec.search.json").read_text())["normalize"] == "minmax"


def test_fuse_refuses_what_it_did_not_write_and_bad_settings(runs, tmp_path, capsys):
    mine = tmp_path / "notes.trec"
    mine.write_text("keep me\n")
    assert main(["fuse", *map(str, runs), "--output", str(mine), "--overwrite"]) == 2
    assert mine.read_text() == "keep me\n" and "not a run that splade-anserini wrote" in capsys.readouterr().err
    assert main(["fuse", str(runs[0]), "--output", str(tmp_path / "x.trec")]) == 2  # one run
    assert main(["fuse", *map(str, runs), "--weights", "1", "--output", str(tmp_path / "x.trec")]) == 2
    assert main(["fuse", *map(str, runs), "--normalize", "zscore", "--output", str(tmp_path / "x.trec")]) == 2
    assert main(["fuse", *map(str, runs), "--output", str(runs[0])]) == 2  # an input
    assert not (tmp_path / "x.trec").exists() and runs[0].read_text() == RUN_A
    with pytest.raises(InputError, match="fusion method"):
        fuse(list(runs), tmp_path / "y.trec", "borda")


def test_config_fusion_rows(tmp_path):
    from conftest import DEMO
    base = [f"corpus={DEMO / 'corpus.jsonl'}", f"topics={DEMO / 'queries.tsv'}", f"qrels={DEMO / 'qrels.txt'}",
            "name=demo"]
    experiment = load_experiment(None, [*base, "bm25.enabled=true",
                                        "fusion=[{with: bm25, method: rrf}, {method: interpolate, weights: [0.3, 0.7]}]"],
                                 workdir=tmp_path)
    topic_set = experiment.topic_sets[0]
    assert [experiment.fusion_system(f) for f in experiment.fusions] == [
        "splade-tiny+bm25-rrf", "splade-tiny+bm25-interpolate-w0.3-0.7"]
    assert experiment.fused_run(topic_set, experiment.fusions[0]) == tmp_path / "runs" / \
        f"{topic_set.name}.splade-tiny+bm25-rrf.trec"
    with pytest.raises(InputError, match="bm25.enabled"):
        load_experiment(None, [*base, "fusion={method: rrf}"])
    with pytest.raises(InputError, match="fusion: unknown"):
        load_experiment(None, [*base, "bm25.enabled=true", "fusion={method: rrf, alpha: 1}"])
    with pytest.raises(InputError, match="weights for 2 runs"):
        load_experiment(None, [*base, "bm25.enabled=true", "fusion={method: interpolate, weights: [1]}"])


def test_pipeline_adds_fused_rows_that_report_shows(runs, tmp_path):
    from splade_anserini.experiment.pipeline import run_steps
    from splade_anserini.experiment.report import collect
    data = tmp_path / "data"
    data.mkdir()
    (data / "corpus.jsonl").write_text("".join(f'{{"_id": "d{i}", "text": "t"}}\n' for i in (1, 2, 3, 4, 9)))
    (data / "queries.tsv").write_text("q1\tone\nq2\ttwo\nq3\tthree\n")
    (data / "qrels.txt").write_text("q1 0 d1 1\nq2 0 d1 1\nq3 0 d9 1\n")
    experiment = load_experiment(None, [f"data={data}", "name=tiny", "bm25.enabled=true", "measures=[RR@10]",
                                        "fusion=[{method: rrf}, {method: interpolate, weights: [0.4, 0.6]}]"],
                                 workdir=tmp_path / "work")
    topic_set = experiment.topic_sets[0]
    topic_set.run.parent.mkdir(parents=True)
    # the searches' runs, as search and bm25 leave them (A plays SPLADE, B BM25)
    for source, target in zip(runs, (topic_set.run, topic_set.bm25_run)):
        target.write_text(source.read_text())
        (target.parent / (target.name + ".search.json")).write_text('{"kind": "run"}\n')
    results = run_steps(experiment, ["fuse"])
    # q1's relevant d1: second by interpolation (below d3), and second by RRF too, where it ties with d3 and
    # trec_eval breaks ties by docid decreasing; q2's d1 and q3's d9 are first (each query in one run only)
    assert results["tiny"]["splade-tiny+bm25-rrf"]["RR@10"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert results["tiny"]["splade-tiny+bm25-interpolate-w0.4-0.6"]["RR@10"] == pytest.approx((0.5 + 1 + 1) / 3)
    table = collect([tmp_path / "work" / "runs"])
    assert set(table["system"]) == {"splade-tiny+bm25-rrf", "splade-tiny+bm25-interpolate-w0.4-0.6"}
    facts = json.loads((tmp_path / "work" / "runs" / "tiny.splade-tiny+bm25-rrf.trec.search.json").read_text())
    assert [i["run"] for i in facts["inputs"]] == [str(topic_set.run), str(topic_set.bm25_run)]
