"""The direct impact indexer builds Anserini's index: the same terms, postings, frequencies and stored ids as
Anserini's IndexCollection, and the same runs, scores to the bit, through our searcher and Pyserini's."""

import json

import pytest
from conftest import DEMO

from splade_anserini import ImpactSearcher, IndexSettings, LuceneImpactSearcher, SpladeQueryEncoder, build_index
from splade_anserini.formats.readers import read_topics
from splade_anserini.lucene.reader import close_reader, docid_table, open_reader


def postings(index) -> dict:
    """{term: sorted [(external id, frequency)]} of the contents field, and every stored id, read back from Lucene
    segment by segment."""
    from jnius import autoclass
    no_more_docs = autoclass("org.apache.lucene.search.DocIdSetIterator").NO_MORE_DOCS
    freqs = autoclass("org.apache.lucene.index.PostingsEnum").FREQS
    reader = open_reader(index)
    try:
        ids = docid_table(index, reader)
        terms: dict = {}
        for leaf in reader.leaves().toArray():
            base, leaf_terms = leaf.docBase, leaf.reader().terms("contents")
            iterator = leaf_terms.iterator()
            while iterator.next() is not None:
                found = terms.setdefault(iterator.term().utf8ToString(), [])
                posting = iterator.postings(None, freqs)
                while (doc := posting.nextDoc()) != no_more_docs:
                    found.append((ids[base + doc], posting.freq()))
        lookup = autoclass("io.anserini.index.IndexReaderUtils").convertLuceneDocidToDocid
        stored = sorted(lookup(reader, doc) for doc in range(reader.maxDoc()))
        return {"terms": {t: sorted(p) for t, p in terms.items()}, "stored_ids": stored, "documents": reader.numDocs()}
    finally:
        close_reader(reader)


def test_both_indexers_give_the_demo_the_same_postings(demo_collection, tmp_path):
    ours = build_index(demo_collection, tmp_path / "impact", progress=False)
    theirs = build_index(demo_collection, tmp_path / "anserini", IndexSettings(indexer="anserini"))
    assert (ours["indexer"], theirs["indexer"]) == ("impact", "anserini")
    mine, reference = postings(tmp_path / "impact"), postings(tmp_path / "anserini")
    assert mine == reference and mine["documents"] == 344 and len(mine["terms"]) > 5000


def test_terms_that_cannot_be_one_token_are_refused(tmp_path):
    from splade_anserini.errors import InputError
    from splade_anserini.formats.collection import CollectionWriter
    writer = CollectionWriter(tmp_path / "collection")
    writer.write("d1", "", {"honey": 3, "two words": 2})
    writer.commit({"model": "splade-tiny", "scale": 100, "max_length": 256, "pooling": "max"})
    with pytest.raises(InputError, match="'two words' holds white space"):
        build_index(tmp_path / "collection", tmp_path / "index", progress=False)
    assert not (tmp_path / "index").exists()


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("name, collection", [("scifact-local", "beir-scifact"),
                                              ("dl19-passage-local", "trec-dl-2019-passage-judged")])
def test_impact_index_equals_anserinis_on_the_shared_collections(name, collection, reproduced, tmp_path):
    experiment, _ = reproduced(name, collection)  # its index was built by the impact indexer
    assert json.loads((experiment.index / "manifest.json").read_text())["indexer"] == "impact"
    anserini = tmp_path / "anserini"
    build_index(experiment.collection, anserini, IndexSettings(indexer="anserini"))
    assert postings(experiment.index) == postings(anserini)
    # the same runs, scores to the bit: ours on both indexes, and Pyserini's searcher on ours
    topic_set = experiment.topic_sets[0]
    queries = read_topics(topic_set.topics, topic_set.topic_fields or None)
    encoder = SpladeQueryEncoder(index=experiment.index)
    vectors = encoder.encode_batch([q.text for q in queries])
    with ImpactSearcher(experiment.index) as searcher:
        ours = searcher.batch_search(vectors, 1000, threads=2)
    with ImpactSearcher(anserini) as searcher:
        assert searcher.batch_search(vectors, 1000, threads=2) == ours
    encoder.prime([q.text for q in queries])
    pyserini = LuceneImpactSearcher(str(experiment.index), encoder)
    theirs = pyserini.batch_search([q.text for q in queries], [q.id for q in queries], k=1000, threads=2)
    for query, hits in zip(queries, ours):
        assert hits == [(h.docid, h.score) for h in theirs[query.id]], query.id


def test_pyserini_searches_an_impact_index_with_the_demo_queries(demo_index):
    encoder = SpladeQueryEncoder(index=demo_index)
    queries = read_topics(DEMO / "queries.tsv")
    assert json.loads((demo_index / "manifest.json").read_text())["indexer"] == "impact"
    searcher = LuceneImpactSearcher(str(demo_index), encoder)
    hits = searcher.search(queries[0].text, k=5)
    with ImpactSearcher(demo_index) as ours:
        assert [(h.docid, h.score) for h in hits] == ours.search(encoder.encode(queries[0].text), 5)
