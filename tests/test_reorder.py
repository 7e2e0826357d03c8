"""``index --reorder bp`` for Lucene and PISA: the documents get BP's order (the one a Seismic or BMP index of the same
collection holds), the manifest records it, and the runs are byte for byte those of the index in collection order
(ties are cut by external docid, not by position)."""

from __future__ import annotations

import numpy
import pytest
from conftest import DEMO

from splade_anserini.errors import InputError
from splade_anserini.formats.artifacts import read_manifest
from splade_anserini.index import build_index
from splade_anserini.search import search_topics
from splade_anserini.settings import IndexSettings, SearchSettings


@pytest.fixture(scope="module")
def encoder(demo_index):
    from splade_anserini.lucene.queries import SpladeQueryEncoder
    return SpladeQueryEncoder(index=demo_index)


@pytest.fixture(scope="module")
def bp_ids(demo_collection, tmp_path_factory):
    """The demo's document ids in BP order, as the forward engines compute it."""
    from splade_anserini.formats.forward import write_forward_index
    from splade_anserini.reorder import bp_order
    forward = write_forward_index(demo_collection, tmp_path_factory.mktemp("forward"), progress=False)
    order, _ = bp_order(forward, progress=False)
    assert order.tolist() != list(range(forward.documents))
    return [forward.ids[row] for row in order]


def run_bytes(index, path, engine, encoder, k=100) -> bytes:
    search_topics(index, path, SearchSettings(k=k, threads=1, engine=engine), topics=DEMO / "queries.tsv",
                  encoder=encoder)
    return path.read_bytes()


def test_lucene_reordered_holds_bp_order_and_writes_the_same_run(demo_collection, demo_index, bp_ids, encoder,
                                                                   tmp_path):
    from splade_anserini.lucene.reader import close_reader, open_reader, read_docids
    index = tmp_path / "lucene-bp"
    manifest = build_index(demo_collection, index, IndexSettings(reorder="bp", threads=2), progress=False)
    assert manifest["reorder"]["method"] == "bp" and read_manifest(index)["reorder"] == manifest["reorder"]
    reader = open_reader(index)
    try:  # Lucene's docids follow BP's order (sorted by it, one segment), though two threads wrote the documents
        assert reader.leaves().size() == 1
        assert read_docids(reader) == bp_ids
    finally:
        close_reader(reader)
    assert run_bytes(index, tmp_path / "bp.trec", "lucene", encoder) == run_bytes(demo_index, tmp_path / "c.trec",
                                                                                   "lucene", encoder)
    with pytest.raises(InputError, match="--reorder needs --indexer impact"):
        build_index(demo_collection, tmp_path / "x", IndexSettings(reorder="bp", indexer="anserini"))


def test_pisa_reordered_holds_bp_order_and_writes_the_same_run(demo_collection, bp_ids, encoder, tmp_path):
    pytest.importorskip("pyterrier_pisa", reason="needs pyterrier-pisa (pip install 'splade-anserini[pisa]')")
    plain, reordered = tmp_path / "pisa", tmp_path / "pisa-bp"
    build_index(demo_collection, plain, IndexSettings(engine="pisa"), progress=False)
    manifest = build_index(demo_collection, reordered, IndexSettings(engine="pisa", reorder="bp"), progress=False)
    assert manifest["reorder"]["method"] == "bp" and read_manifest(plain)["reorder"] is None
    assert (reordered / "fwd.documents").read_text().split() == bp_ids  # PISA's docid -> external id
    # the postings moved with their documents: every list ascending, and the same lists once mapped back to ids
    assert run_bytes(reordered, tmp_path / "bp.trec", "pisa", encoder) == run_bytes(plain, tmp_path / "c.trec",
                                                                                    "pisa", encoder)
    assert run_bytes(reordered, tmp_path / "bp10.trec", "pisa", encoder, k=10) == run_bytes(
        plain, tmp_path / "c10.trec", "pisa", encoder, k=10)
    assert numpy.array_equal(numpy.load(reordered / "term_df.npy"), numpy.load(plain / "term_df.npy"))


def test_bp_order_is_computed_once_per_collection_and_a_bad_kept_order_is_recomputed(demo_collection, bp_ids,
                                                                                     tmp_path, caplog):
    from splade_anserini.formats.forward import write_forward_index
    from splade_anserini.reorder import cached_bp_order
    forward = write_forward_index(demo_collection, tmp_path, progress=False)
    cache = tmp_path / "cache"
    first, facts = cached_bp_order(forward, cache=cache, progress=False)
    assert "cached" not in facts and [forward.ids[row] for row in first] == bp_ids
    (kept,) = cache.glob("*.npy")
    again, facts_again = cached_bp_order(forward, cache=cache, progress=False)
    assert numpy.array_equal(again, first) and facts_again["cached"] == str(kept)
    assert facts_again["seconds"] == facts["seconds"]  # the cost of computing it, not of reading it
    # other settings are another order, kept beside it
    cached_bp_order(forward, cache=cache, leaf=4, progress=False)
    assert len(list(cache.glob("*.npy"))) == 2
    # a kept order that is not a permutation of the documents is not trusted
    numpy.save(kept, numpy.zeros(forward.documents, dtype=numpy.int64))
    with caplog.at_level("WARNING", logger="splade_anserini"):
        recomputed, facts_recomputed = cached_bp_order(forward, cache=cache, progress=False)
    assert "not a permutation" in caplog.text and "cached" not in facts_recomputed
    assert numpy.array_equal(recomputed, first)
    assert numpy.array_equal(numpy.load(kept), first)  # and the good order is kept again


def test_bp_order_cache_tells_collections_apart(demo_collection, tmp_path, tmp_path_factory):
    """Two collections of as many documents and postings, one term moved, do not share a kept order; the same
    collection read again does."""
    import dataclasses

    from splade_anserini.formats.forward import write_forward_index
    from splade_anserini.reorder import forward_digest
    forward = write_forward_index(demo_collection, tmp_path, progress=False)
    terms = numpy.array(forward.terms)
    terms[0] = (terms[0] + 1) % len(forward.vocabulary)
    other = dataclasses.replace(forward, terms=terms)
    assert forward_digest(other) != forward_digest(forward)
    assert forward_digest(forward, leaf=4) != forward_digest(forward)
    again = write_forward_index(demo_collection, tmp_path_factory.mktemp("again"), progress=False)
    assert forward_digest(again) == forward_digest(forward)
