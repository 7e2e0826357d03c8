"""Query encoding, pre-encoded topics (Anserini's TSV and JSONL), and the searcher's agreement with Anserini."""

import json
import math

import pytest
from conftest import DEMO

from splade_anserini import ImpactSearcher, LuceneImpactSearcher, SearchSettings, build_index, search_topics
from splade_anserini.cli import main
from splade_anserini.errors import InputError
from splade_anserini.formats.collection import CollectionWriter
from splade_anserini.formats.readers import read_topics
from splade_anserini.formats.topics import (
    EncodedTopics,
    parse_tsv_line,
    read_encoded_topics,
    tsv_line,
    write_encoded_topics,
)
from splade_anserini.lucene.queries import SpladeQueryEncoder
from splade_anserini.lucene.reader import DOCIDS


def anserini_search(index, vector: dict, k: int) -> list:
    """Anserini's own SimpleImpactSearcher (what Pyserini calls), for a vector of integer weights."""
    from jnius import autoclass
    weights = autoclass("java.util.HashMap")()
    for term, weight in vector.items():
        weights.put(term, autoclass("java.lang.Integer")(weight))
    searcher = autoclass("io.anserini.search.SimpleImpactSearcher")(str(index))
    try:
        return [(hit.docid, hit.score) for hit in searcher.search(weights, k)]
    finally:
        searcher.close()


def test_anserini_tsv_line_gives_the_weights_it_encodes():
    # the shape of a line of Anserini's topics.msmarco-passage.dev-subset.splade-pp-ed.tsv.gz
    line = "1048585\twhat what what is paul paul paul paul ##s ##s ##s ##s ##s 1 . . \n"
    assert parse_tsv_line(line) == ("1048585", {"what": 3, "is": 1, "paul": 4, "##s": 5, "1": 1, ".": 2})
    vector = {"honey": 87, "bee": 120, "##s": 3, "communicate": 54}
    assert parse_tsv_line(tsv_line("q7", vector)) == ("q7", vector)
    with pytest.raises(InputError, match="x.tsv:3: expected 'qid<TAB>tokens'"):
        parse_tsv_line("q1 honey bee", "x.tsv:3")
    with pytest.raises(InputError, match="not a non-negative integer"):
        tsv_line("q1", {"honey": 1.5})


def test_pre_encoded_topics_give_the_same_run_as_on_the_fly_encoding(demo_index, tmp_path):
    on_the_fly = tmp_path / "fly.trec"
    assert main(["search", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"),
                 "--output", str(on_the_fly), "--k", "100"]) == 0
    for name in ("q.tsv", "q.jsonl", "q.tsv.gz"):
        encoded = tmp_path / name
        assert main(["encode-queries", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"),
                     "--output", str(encoded)]) == 0
        settings = json.loads((tmp_path / f"{name}.manifest.json").read_text())
        assert (settings["model"], settings["scale"], settings["max_length"]) == ("splade-tiny", 100, 256)
        run = tmp_path / f"{name}.trec"
        assert main(["search", "--index", str(demo_index), "--encoded-topics", str(encoded), "--output", str(run),
                     "--k", "100"]) == 0
        assert run.read_bytes() == on_the_fly.read_bytes(), name


def test_encoded_topics_hold_the_encoder_output(demo_index, splade, tmp_path):
    queries = read_topics(DEMO / "queries.tsv")
    encoder = SpladeQueryEncoder(index=demo_index)
    path = write_encoded_topics(tmp_path / "q.jsonl", EncodedTopics([q.id for q in queries],
                                                                  encoder.encode_batch([q.text for q in queries])))
    topics = read_encoded_topics(path)
    assert topics.ids == [q.id for q in queries]
    assert topics.vectors == splade.encode([q.text for q in queries], 100)


def test_query_max_length_truncates_queries(demo_index, splade):
    text = " ".join(["honey bees communicate where flowers are"] * 20)
    short = SpladeQueryEncoder(index=demo_index, max_length=8)
    assert short.max_length == 8
    from splade_anserini.model.splade import Splade
    assert short.encode(text) == Splade(splade.path, max_length=8).encode([text], 100)[0]
    assert short.encode(text) != SpladeQueryEncoder(index=demo_index).encode(text)


def test_bad_pre_encoded_topics_are_named_by_file_and_line(tmp_path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"id": "q1", "vector": {"a": 3}}\n{"id": "q2", "vector": {"a": -1}}\n')
    with pytest.raises(InputError, match=r"q.jsonl:2: weight of 'a' must be a non-negative number"):
        read_encoded_topics(bad)
    bad.write_text('{"id": "q1", "vector": {"a": 3}}\n{"id": "q1", "vector": {"b": 1}}\n')
    with pytest.raises(InputError, match=r"q.jsonl:2: query id 'q1' occurs more than once"):
        read_encoded_topics(bad)
    bad.write_text('{"id": "q1"}\n')
    with pytest.raises(InputError, match=r"q.jsonl:1: missing 'vector'"):
        read_encoded_topics(bad)
    (tmp_path / "q.parquet").write_bytes(b"PAR1")
    with pytest.raises(InputError, match="unknown pre-encoded topics format"):
        read_encoded_topics(tmp_path / "q.parquet")
    truncated = tmp_path / "q.tsv.gz"
    truncated.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(InputError, match="q.tsv.gz: the compressed file ends early or is damaged"):
        read_encoded_topics(truncated)


def test_query_settings_are_checked_against_the_index(demo_index, tmp_path, capsys):
    topics = tmp_path / "q50.tsv"
    assert main(["encode-queries", "--index", str(demo_index), "--scale", "50", "--topics", str(DEMO / "queries.tsv"),
                 "--output", str(topics)]) == 0
    run = tmp_path / "r.trec"
    assert main(["search", "--index", str(demo_index), "--encoded-topics", str(topics), "--output", str(run)]) == 2
    assert "scale 50 vs index 100" in capsys.readouterr().err and not run.exists()
    assert main(["search", "--index", str(demo_index), "--encoded-topics", str(topics), "--output", str(run),
                 "--allow-mismatch"]) == 0
    assert "WARNING" in capsys.readouterr().err and run.is_file()
    # settings of encoding cannot be changed for topics that are already encoded
    assert main(["search", "--index", str(demo_index), "--encoded-topics", str(topics), "--output", str(run),
                 "--scale", "100"]) == 2
    # Anserini's files carry no settings: searched as they are, with a note
    anserini = tmp_path / "anserini.tsv"
    anserini.write_text(topics.read_text())
    assert main(["search", "--index", str(demo_index), "--encoded-topics", str(anserini), "--output", str(run),
                 "--overwrite"]) == 0
    assert "cannot be checked" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tie_index(tmp_path_factory):
    """60 documents, ids in scrambled order: 40 score exactly alike for 'honey' (found in 50), and 'common' is
    in every document."""
    root = tmp_path_factory.mktemp("ties")
    writer = CollectionWriter(root / "collection")
    for n in range(60):
        doc_id = f"d{(n * 37) % 60:03d}"
        vector = {"common": 1 + n % 3}
        if n < 50:
            vector["honey"] = 5 if n < 40 else 1 + n % 4
        if n % 7 == 0:
            vector["bee"] = 2
        writer.write(doc_id, "", vector)
    writer.commit({"model": "splade-tiny", "scale": 100, "max_length": 256, "pooling": "max"})
    build_index(root / "collection", root / "index")
    return root / "index"


@pytest.mark.parametrize("k", [1, 10, 39, 40, 41, 60, 100])
def test_ties_at_the_cut_are_broken_as_anserini_breaks_them(tie_index, k):
    with ImpactSearcher(tie_index, min_idf=-1) as searcher:
        for vector in ({"honey": 3}, {"honey": 2, "bee": 1}, {"common": 1}):
            assert searcher.search(vector, k) == anserini_search(tie_index, vector, k), (vector, k)


def test_min_idf_keeps_the_terms_pyserini_keeps(tie_index, demo_index):
    with ImpactSearcher(tie_index) as searcher:
        assert searcher.kept_terms({"common": 4, "honey": 2, "unseen": 9}) == {"honey": 2}  # idf(common) = 0
    with ImpactSearcher(tie_index, min_idf=-1) as searcher:
        assert searcher.kept_terms({"common": 4, "honey": 2, "unseen": 9}) == {"common": 4, "honey": 2}
    queries = read_topics(DEMO / "queries.tsv")
    encoder = SpladeQueryEncoder(index=demo_index)
    encoder.prime([q.text for q in queries])
    vectors = [encoder.encode(q.text) for q in queries]
    for min_idf in (0, 1.5, 3.0):
        pyserini = LuceneImpactSearcher(str(demo_index), encoder, min_idf=min_idf)
        theirs = pyserini.batch_search([q.text for q in queries], [q.id for q in queries], k=20, threads=1)
        with ImpactSearcher(demo_index, min_idf=min_idf) as searcher:
            ours = searcher.batch_search(vectors, 20, threads=2)
            for query, hits in zip(queries, ours):
                assert hits == [(h.docid, h.score) for h in theirs[query.id]], (min_idf, query.id)
            kept = searcher.kept_terms(vectors[0])
            assert all(math.log(searcher.num_docs / searcher.df(t)) > min_idf for t in kept)


def test_queries_longer_than_lucenes_clause_limit_are_searched(demo_index, splade):
    vector = {token: 1 for token in splade.vocab[1000:4000]}  # 3,000 terms; Lucene's default limit is 1,024
    with ImpactSearcher(demo_index, min_idf=-1) as searcher:
        hits = searcher.search(vector, 10)
    assert len(hits) == 10


def test_docid_table_is_rebuilt_when_it_does_not_match_the_index(tie_index):
    from splade_anserini.lucene.reader import DocidTable, close_reader, open_reader
    table = tie_index / DOCIDS
    reader = open_reader(tie_index)
    commit, size = reader.getIndexCommit().getSegmentsFileName(), reader.maxDoc()
    close_reader(reader)
    good = table.read_bytes()
    ids = DocidTable.load(table, commit, size).lookup(range(size))
    assert sorted(ids) == [f"d{n:03d}" for n in range(60)]
    DocidTable.from_ids(ids[::-1]).save(table, "segments_99")  # a table of another commit, in the wrong order
    with ImpactSearcher(tie_index) as searcher:
        assert searcher.search({"bee": 1}, 3) == anserini_search(tie_index, {"bee": 1}, 3)
    assert table.read_bytes() == good
    table.write_bytes(good[:-3])  # damaged: rebuilt too
    with ImpactSearcher(tie_index) as searcher:
        assert searcher.search({"bee": 1}, 3) == anserini_search(tie_index, {"bee": 1}, 3)
    assert table.read_bytes() == good


def test_msmarco_run_format_and_its_evaluation(demo_index, tmp_path):
    run = tmp_path / "run.tsv"
    search_topics(demo_index, run, SearchSettings(k=10, format="msmarco"), topics=DEMO / "queries.tsv")
    first = run.read_text().splitlines()[0].split("\t")
    assert len(first) == 3 and first[2] == "1"
    trec = tmp_path / "run.trec"
    search_topics(demo_index, trec, SearchSettings(k=10), topics=DEMO / "queries.tsv")
    from splade_anserini.evaluate import evaluate_run
    # run.tsv and run.trec would share run.metrics.json: the second evaluation goes elsewhere (never over another's)
    ours = evaluate_run(run, DEMO / "qrels.txt", ["nDCG@10", "MRR@10"], tmp_path / "msmarco.metrics.json")["metrics"]
    assert ours == evaluate_run(trec, DEMO / "qrels.txt", ["nDCG@10", "MRR@10"])["metrics"]


def java_tie_adjuster(scores):
    """Anserini's ScoreTiesAdjusterReranker written out step by step in float32 (the rule, not our fast path)."""
    import numpy
    out, dup = [], 0
    for i, score in enumerate(scores):
        whole = math.floor(score * 10000.0)
        whole += (score * 10000.0 - whole) >= 0.5
        value = numpy.float32(whole / 10000.0)
        if i == 0 or out[-1] - value > numpy.float32(1e-4):
            dup = 0
        else:
            dup += 1
            value = value - numpy.float32(1e-6) * numpy.float32(dup)
        out.append(value)
    return [float(v) for v in out]


def test_tie_adjustment_follows_anserinis_rule():
    import random

    from splade_anserini.formats.runs import adjust_ties
    rng = random.Random(7)
    cases = [[], [3.0], [15.0] * 40 + [12.0, 12.0, 7.5], [120207.0, 120207.0, 99.0],
             [1.0] * 50 + [0.99986, 0.99986, 0.5],  # steps carry a run across a gap above 1e-4: the slow path
             sorted((rng.choice([1.0, 2.0, 2.00004, 3.5]) for _ in range(300)), reverse=True),
             sorted((rng.uniform(0, 30) for _ in range(1000)), reverse=True)]
    for scores in cases:
        assert adjust_ties(scores) == java_tie_adjuster(scores), scores[:5]
    assert adjust_ties([15.0, 15.0]) == [15.0, 14.999999046325684]  # as Anserini reported it for a real tie


def test_an_index_without_our_manifest_is_searched_with_pre_encoded_topics(tie_index, tmp_path):
    import shutil
    foreign = tmp_path / "anserini-index"
    shutil.copytree(tie_index, foreign)
    (foreign / "manifest.json").unlink()
    (foreign / DOCIDS).unlink()
    topics = tmp_path / "t.tsv"
    topics.write_text("q1\thoney honey bee\nq2\tcommon\n")
    run = tmp_path / "r.trec"
    facts = search_topics(foreign, run, SearchSettings(k=5, min_idf=-1), encoded_topics=topics)
    assert facts["lines"] == 10 and (foreign / DOCIDS).is_file()
    first = run.read_text().splitlines()[0].split()
    assert (first[0], first[2]) == ("q1", anserini_search(foreign, {"honey": 2, "bee": 1}, 1)[0][0])
    with pytest.raises(InputError, match="has no manifest.json"):
        search_topics(foreign, run, topics=DEMO / "queries.tsv")
