"""What keeps memory and start-up bounded at MS MARCO size: the compact docid table, the duplicate-id set, and
query-term pruning as an opt-in."""

import json

import pytest
from conftest import DEMO

from splade_anserini import ImpactSearcher, SearchSettings, search_topics
from splade_anserini.formats.idset import IdSet
from splade_anserini.formats.topics import read_encoded_topics
from splade_anserini.lucene.reader import DOCIDS, DocidTable, close_reader, open_reader, read_docids
from splade_anserini.search import heaviest_terms


def test_docid_table_round_trips_and_refuses_damage(tmp_path):
    ids = ["d1", "MED-10", "ünïcode-id", "x" * 300, ""]
    table = DocidTable.from_ids(ids)
    assert [table[n] for n in range(len(ids))] == ids == table.lookup(range(len(ids)))
    path = tmp_path / DOCIDS
    table.save(path, "segments_3")
    loaded = DocidTable.load(path, "segments_3", len(ids))
    assert loaded.lookup([4, 2, 0]) == ["", "ünïcode-id", "d1"]
    assert DocidTable.load(path, "segments_4", len(ids)) is None  # another commit
    assert DocidTable.load(path, "segments_3", len(ids) + 1) is None  # another size
    path.write_bytes(path.read_bytes()[:-2])
    assert DocidTable.load(path, "segments_3", len(ids)) is None  # cut short


def test_bulk_docid_read_equals_one_stored_field_read_per_document(demo_index, monkeypatch):
    from jnius import autoclass

    from splade_anserini.lucene import reader as lucene_reader
    reader = open_reader(demo_index)
    try:
        lookup = autoclass("io.anserini.index.IndexReaderUtils").convertLuceneDocidToDocid
        expected = [lookup(reader, doc) for doc in range(reader.maxDoc())]
        assert read_docids(reader) == expected
        monkeypatch.setattr(lucene_reader, "PAGE", 7)  # many pages, the last one partly filled
        assert read_docids(reader) == expected
    finally:
        close_reader(reader)


def test_id_set_finds_every_repeat_across_merges(monkeypatch):
    from splade_anserini.formats import idset
    monkeypatch.setattr(idset, "MERGE_EVERY", 50)  # many merges into the sorted array
    ids = IdSet()
    assert all(ids.add(f"doc-{n}") for n in range(1000))
    assert len(ids) == 1000
    assert not any(ids.add(f"doc-{n}") for n in range(0, 1000, 7))
    assert "doc-999" in ids and "doc-1000" not in ids
    assert ids.add("doc-1000") and not ids.add("doc-1000")


def test_query_top_k_keeps_the_heaviest_terms(demo_index, tmp_path):
    from splade_anserini.cli import main
    encoded = tmp_path / "q.jsonl"
    assert main(["encode-queries", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"),
                 "--output", str(encoded)]) == 0
    vectors = read_encoded_topics(encoded)
    assert heaviest_terms({"a": 3, "b": 9, "c": 3, "d": 1}, 2) == {"b": 9, "a": 3}  # ties by term
    run = tmp_path / "top5.trec"
    facts = search_topics(demo_index, run, SearchSettings(k=20, query_top_k=5, threads=1), encoded_topics=encoded)
    assert facts["query_top_k"] == 5 and json.loads(run.with_name("top5.trec.search.json").read_text())[
        "query_top_k"] == 5
    with ImpactSearcher(demo_index) as searcher:
        expected = searcher.batch_search([heaviest_terms(v, 5) for v in vectors.vectors], 20)
    lines = run.read_text().splitlines()
    first = [line.split()[2] for line in lines if line.split()[0] == vectors.ids[0]]
    assert first == [docid for docid, _ in expected[0]]
    full = tmp_path / "all.trec"
    search_topics(demo_index, full, SearchSettings(k=20, threads=1), encoded_topics=encoded)
    assert full.read_text() != run.read_text()
    with pytest.raises(Exception, match="query_top_k must be at least 1"):
        search_topics(demo_index, tmp_path / "x.trec", SearchSettings(query_top_k=0), encoded_topics=encoded)
