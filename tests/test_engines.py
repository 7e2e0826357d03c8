"""CIFF export and the PISA engine: the CIFF file read back by an independent reader (ciff-toolkit, from PyPI) holds
our collection's documents and postings, and PISA searching the same collection writes the same run as Lucene."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy
import pytest
from conftest import DEMO

from splade_anserini.errors import InputError
from splade_anserini.formats.ciff import doc_record_message, encode_postings, export_ciff, header_message
from splade_anserini.formats.postings import invert_collection, requantize, requantize_factor
from splade_anserini.index import build_index
from splade_anserini.search import search_topics
from splade_anserini.settings import IndexSettings, SearchSettings

ciff_read = pytest.importorskip("ciff_toolkit.read", reason="needs ciff-toolkit (pip install -e '.[test]')")
ciff_pb2 = pytest.importorskip("ciff_toolkit.ciff_pb2")


def collection_postings(directory) -> tuple[list, dict]:
    """(document ids in collection order, {term: [(docid, impact), ...]}) straight from the part files."""
    ids, postings = [], {}
    for part in sorted(directory.glob("part-*.jsonl")):
        for line in part.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            for term, weight in record["vector"].items():
                postings.setdefault(term, []).append((len(ids), weight))
            ids.append(record["id"])
    return ids, postings


def read_ciff(path) -> tuple:
    """(header, {term: [(docid, tf), ...]}, [(docid, collection docid, length), ...]) by ciff-toolkit's reader."""
    with ciff_read.CiffReader(path) as reader:
        header = reader.read_header()
        lists = {}
        for postings_list in reader.read_postings_lists():
            docid, pairs = 0, []
            for posting in postings_list.postings:
                docid += posting.docid  # docids are gaps
                pairs.append((docid, posting.tf))
            assert postings_list.df == len(pairs) and postings_list.cf == sum(tf for _, tf in pairs)
            lists[postings_list.term] = pairs
        records = [(r.docid, r.collection_docid, r.doclength) for r in reader.read_documents()]
    return header, lists, records


def test_ciff_read_back_by_ciff_toolkit_is_our_collection(demo_collection, tmp_path):
    output = tmp_path / "demo.ciff"
    facts = export_ciff(output, collection=demo_collection, progress=False)
    ids, expected = collection_postings(demo_collection)
    header, lists, records = read_ciff(output)
    assert lists == expected  # every term, every posting: docids in collection order, impacts as tf
    assert list(lists) == sorted(expected)  # terms in sorted order
    lengths = [0] * len(ids)
    for pairs in expected.values():
        for docid, weight in pairs:
            lengths[docid] += weight
    assert records == list(zip(range(len(ids)), ids, lengths))
    assert (header.version, header.num_docs, header.num_postings_lists) == (1, len(ids), len(expected))
    assert header.total_terms_in_collection == sum(lengths)
    assert header.average_doclength == pytest.approx(sum(lengths) / len(ids))
    assert facts["postings"] == sum(map(len, expected.values())) and facts["kind"] == "ciff"


def test_ciff_messages_are_protobufs_canonical_bytes():
    """Our hand-written wire format equals protobuf's own serialization of the same messages, byte for byte."""
    rng = numpy.random.default_rng(7)
    docids = numpy.unique(rng.integers(0, 2 ** 31 - 1, 3000, dtype=numpy.int64)).astype(numpy.uint32)
    docids[0] = 0  # a first gap of 0: proto3 leaves the field out
    tfs = rng.integers(1, 2 ** 31 - 1, len(docids), dtype=numpy.int64).astype(numpy.uint32)
    tfs[:200] = rng.integers(1, 300, 200)
    gaps = numpy.diff(docids, prepend=numpy.uint32(0))
    data, ends = encode_postings(gaps, tfs)
    theirs = ciff_pb2.PostingsList(postings=[ciff_pb2.Posting(docid=int(g), tf=int(t)) for g, t in zip(gaps, tfs)])
    assert data == theirs.SerializeToString() and ends[-1] == len(data)
    header = ciff_pb2.Header(version=1, num_postings_lists=3, num_docs=10, total_postings_lists=3, total_docs=10,
                             total_terms_in_collection=2 ** 40, average_doclength=0.1, description="só")
    assert header_message(3, 10, 2 ** 40, 0.1, "só") == header.SerializeToString()
    for docid in (0, 5, 2 ** 31 - 1):
        record = ciff_pb2.DocRecord(docid=docid, collection_docid="doc-ü", doclength=docid // 3)
        assert doc_record_message(docid, "doc-ü", docid // 3) == record.SerializeToString()


def test_inversion_is_the_same_whatever_the_chunk_size(demo_collection):
    """Spilled chunks are merged back into the same lists: one chunk, or hundreds of 173 postings."""
    with invert_collection(demo_collection, progress=False) as whole, \
            invert_collection(demo_collection, progress=False, chunk_postings=173) as chunked:
        assert len(whole.chunks) == 1 and len(chunked.chunks) > 100
        for (t1, d1, i1), (t2, d2, i2) in zip(whole.postings(), chunked.postings(), strict=True):
            assert t1 == t2 and numpy.array_equal(d1, d2) and numpy.array_equal(i1, i2)
        assert list(whole.documents()) == list(chunked.documents())


def test_requantized_export_keeps_every_posting_in_8_bits(demo_collection, tmp_path):
    ids, expected = collection_postings(demo_collection)
    top = max(w for pairs in expected.values() for _, w in pairs)
    assert top > 255  # splade-tiny at scale 100: the demo's impacts do not fit 8 bits
    facts = export_ciff(tmp_path / "q8.ciff", collection=demo_collection, bits=8, progress=False)
    header, lists, records = read_ciff(tmp_path / "q8.ciff")
    assert facts["requantize_factor"] == pytest.approx(255 / top) and facts["max_impact_written"] == 255
    for term, pairs in expected.items():
        assert [d for d, _ in lists[term]] == [d for d, _ in pairs]  # the same documents
        assert [tf for _, tf in lists[term]] == [max(1, int(w * 255 / top + 0.5)) for _, w in pairs]
    assert header.total_terms_in_collection == sum(length for _, _, length in records)
    assert requantize_factor(200, 8) is None  # already fits: kept as is
    with pytest.raises(InputError, match="between 1 and 31"):  # refused before any work
        export_ciff(tmp_path / "q32.ciff", collection=demo_collection, bits=32, progress=False)
    assert not (tmp_path / "q32.ciff").exists()
    assert requantize(numpy.array([1, 2, 300], dtype=numpy.uint32), 0.5).tolist() == [1, 1, 150]


def test_export_cli_from_an_index_and_its_refusals(demo_collection, demo_index, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "splade_anserini", *args], capture_output=True, text=True)

    output = tmp_path / "from-index.ciff"
    done = cli("export", "--index", str(demo_index), "--format", "ciff", "--output", str(output), "--quiet")
    assert done.returncode == 0, done.stderr
    assert read_ciff(output)[1] == collection_postings(demo_collection)[1]
    again = cli("export", "--collection", str(demo_collection), "--output", str(output))
    assert again.returncode == 2 and "already exists" in again.stderr
    info = cli("info", str(output))
    assert info.returncode == 0 and "a CIFF file" in info.stdout
    foreign = tmp_path / "notes.txt"
    foreign.write_text("mine\n")
    refused = cli("export", "--collection", str(demo_collection), "--output", str(foreign), "--overwrite")
    assert refused.returncode == 2 and "will not replace" in refused.stderr and foreign.read_text() == "mine\n"
    inside = cli("export", "--collection", str(demo_collection), "--output", str(demo_collection / "x.ciff"))
    assert inside.returncode == 2 and "inside each other" in inside.stderr


@pytest.fixture(scope="module")
def demo_pisa(demo_collection, tmp_path_factory):
    pytest.importorskip("pyterrier_pisa", reason="needs pyterrier-pisa (pip install 'splade-anserini[pisa]')")
    index = tmp_path_factory.mktemp("pisa") / "index"
    build_index(demo_collection, index, IndexSettings(engine="pisa"), progress=False)
    return index


def test_pisa_run_is_lucenes_run(demo_index, demo_pisa, tmp_path, splade):
    """Same collection, same queries encoded on the fly by the real model: byte-identical runs at k = 10 and 100,
    on one thread and on two (ties at the cut resolved by docid, as Anserini does)."""
    from splade_anserini.lucene.queries import SpladeQueryEncoder
    encoder = SpladeQueryEncoder(index=demo_index)
    for k, threads in ((10, 1), (100, 2)):
        runs = {}
        for engine, index in (("lucene", demo_index), ("pisa", demo_pisa)):
            runs[engine] = tmp_path / f"{engine}-{k}.trec"
            facts = search_topics(index, runs[engine], SearchSettings(k=k, threads=threads, engine=engine),
                                  topics=DEMO / "queries.tsv", encoder=encoder)
            assert facts["engine"] == engine and facts["lines"] == 40 * k
        assert runs["pisa"].read_bytes() == runs["lucene"].read_bytes()


def test_pisa_first_then_lucene_in_one_process(demo_index, demo_pisa):
    """Loading PISA must leave Java alone: a JVM started after it still has Anserini (importing pyterrier-pisa's
    package would take over pyjnius's set-up, so only its compiled module is loaded)."""
    script = (f"from splade_anserini.pisa.searcher import PisaSearcher\n"
              f"pisa = PisaSearcher({str(demo_pisa)!r}).search({{'honey': 120, 'bees': 80}}, 5)\n"
              f"from splade_anserini.lucene.jvm import start_jvm\nstart_jvm()\n"
              f"from splade_anserini.lucene.searcher import ImpactSearcher\n"
              f"assert ImpactSearcher({str(demo_index)!r}).search({{'honey': 120, 'bees': 80}}, 5) == pisa, pisa\n"
              f"import sys\nassert 'pyterrier' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_pisa_index_is_an_artifact_with_its_own_kind(demo_collection, demo_index, demo_pisa, tmp_path):
    from splade_anserini.formats.artifacts import read_manifest
    from splade_anserini.info import describe
    manifest = read_manifest(demo_pisa)
    assert manifest["kind"] == "pisa-index" and describe(demo_pisa)["kind"] == "pisa-index"
    assert manifest["index_documents"] == read_manifest(demo_collection)["documents"]
    assert not any(demo_pisa.glob("inv.*"))  # the uncompressed binary collection is not kept
    with pytest.raises(InputError, match="PISA index.*--engine pisa"):  # Lucene's search refuses it, and says why
        search_topics(demo_pisa, tmp_path / "run.trec", SearchSettings(k=10), topics=DEMO / "queries.tsv")
    with pytest.raises(InputError, match="impact index"):
        search_topics(demo_index, tmp_path / "run.trec", SearchSettings(k=10, engine="pisa"),
                      topics=DEMO / "queries.tsv")
    with pytest.raises(InputError, match="not a PISA index"):  # --overwrite replaces only a PISA index
        build_index(demo_collection, demo_index, IndexSettings(engine="pisa"), overwrite=True, progress=False)
    with pytest.raises(InputError, match="PISA engine and CIFF"):
        build_index(demo_collection, tmp_path / "lucene", IndexSettings(bits=8))


@pytest.mark.shared
@pytest.mark.slow
def test_scifact_pisa_gives_lucenes_run_and_scores(reproduced, tmp_path):
    """SciFact, splade-tiny, k = 1000: PISA, searching the reproduction's collection with the reproduction's search
    settings, writes its Lucene run byte for byte, so nDCG@10 and R@1000 agree. (The collection, Lucene index and
    run are the session's, shared with test_reproduction: only the PISA index and search are this test's cost.)"""
    pytest.importorskip("pyterrier_pisa")
    from splade_anserini import evaluate_run
    experiment, results = reproduced("scifact-local", "beir-scifact")
    topic_set = experiment.topic_sets[0]
    build_index(experiment.collection, tmp_path / "pisa", IndexSettings(engine="pisa"), progress=False)
    run = tmp_path / "pisa.trec"
    facts = search_topics(tmp_path / "pisa", run, experiment.search_settings.replace(engine="pisa"),
                          topics=topic_set.topics, topic_fields=topic_set.topic_fields or None)
    assert facts["engine"] == "pisa" and facts["k"] == 1000
    assert run.read_bytes() == topic_set.run.read_bytes()
    measures = ("nDCG@10", "R@1000")
    pisa = evaluate_run(run, topic_set.qrels, list(measures))["metrics"]
    lucene = results[topic_set.name]["splade"]
    assert {m: pisa[m] for m in measures} == {m: lucene[m] for m in measures}
    assert pisa["nDCG@10"] == pytest.approx(0.6436, abs=5e-5)  # the reproduced reference
