import json

import pytest
from conftest import DEMO

from splade_anserini import EncodeSettings, encode_corpus
from splade_anserini.errors import InputError
from splade_anserini.formats.artifacts import MANIFEST, read_manifest
from splade_anserini.index import build_index
from splade_anserini.lucene.reader import index_document_count


def collection_lines(directory):
    lines = []
    for part in sorted(directory.glob("part-*.jsonl")):
        lines += [json.loads(line) for line in part.read_text(encoding="utf-8").splitlines()]
    return lines


def test_collection_is_jsonvectorcollection_with_manifest(demo_collection, splade):
    manifest = read_manifest(demo_collection)
    docs = collection_lines(demo_collection)
    corpus = [json.loads(line) for line in (DEMO / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in docs] == [c["_id"] for c in corpus]  # every document, in corpus order
    assert set(docs[0]) == {"id", "contents", "vector"}
    assert docs[0]["contents"] == f"{corpus[0]['title']} {corpus[0]['text']}".strip()
    assert all(isinstance(w, int) and w > 0 for d in docs for w in d["vector"].values())
    assert manifest["documents"] == len(corpus) and manifest["postings"] == sum(len(d["vector"]) for d in docs)
    assert [f["documents"] for f in manifest["files"]] == [150, 150, len(corpus) - 300]
    for key in ("model", "scale", "max_length", "pooling", "fields", "software"):
        assert key in manifest
    assert manifest["scale"] == 100 and manifest["max_length"] == 256 and manifest["pooling"] == "max"
    # what was written is what the model gives for that text
    assert docs[5]["vector"] == splade.encode([docs[5]["contents"]], 100)[0]


def test_index_postings_equal_written_impacts(demo_collection, demo_index):
    from splade_anserini.lucene.jvm import start_jvm
    start_jvm()
    from pyserini.index.lucene import LuceneIndexReader
    reader = LuceneIndexReader(str(demo_index))
    assert reader.stats()["documents"] == index_document_count(demo_index) == read_manifest(demo_collection)["documents"]
    assert read_manifest(demo_index)["index_documents"] == read_manifest(demo_collection)["documents"]
    docs = collection_lines(demo_collection)
    for doc in (docs[0], docs[123], docs[-1]):
        internal = reader.convert_collection_docid_to_internal_docid(doc["id"])
        for term, weight in list(doc["vector"].items())[:25]:
            postings = {p.docid: p.tf for p in reader.get_postings_list(term, analyzer=None)}
            assert postings[internal] == weight, (doc["id"], term)


def test_bad_line_midway_leaves_nothing_that_looks_complete(tmp_path, splade):
    corpus = tmp_path / "c.jsonl"
    good = (DEMO / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:40]
    corpus.write_text("\n".join(good + ['{"_id": "x", "text": oops}']) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"c.jsonl:41: malformed JSON"):
        encode_corpus(corpus, out, EncodeSettings(batch_size=4), progress=False, model=splade)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [corpus]  # nothing finished, so no staging directory left behind
    # with finished part files before the bad line, those stay (hidden) for a rerun to resume from
    with pytest.raises(InputError, match=r"c.jsonl:41: malformed JSON"):
        encode_corpus(corpus, out, EncodeSettings(batch_size=4, docs_per_file=16), progress=False, model=splade)
    assert not out.exists() and sorted(p.name for p in (tmp_path / ".out.partial").iterdir()) == [
        "part-00000.jsonl", "part-00001.jsonl", "progress.json"]


def test_duplicate_ids_and_existing_output(tmp_path, splade):
    corpus = tmp_path / "c.tsv"
    corpus.write_text("a\tfirst\nb\tsecond\na\tagain\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"c.tsv:3: duplicate document id 'a'"):
        encode_corpus(corpus, tmp_path / "out", progress=False, model=splade)
    corpus.write_text("a\tfirst\n", encoding="utf-8")
    encode_corpus(corpus, tmp_path / "out", progress=False, model=splade)
    with pytest.raises(InputError, match="already exists"):
        encode_corpus(corpus, tmp_path / "out", progress=False, model=splade)
    assert encode_corpus(corpus, tmp_path / "out", progress=False, model=splade, overwrite=True)["documents"] == 1


def test_index_refuses_incomplete_collection(tmp_path):
    half = tmp_path / "half"
    half.mkdir()
    (half / "part-00000.jsonl").write_text('{"id": "a", "contents": "", "vector": {"a": 1}}\n')
    with pytest.raises(InputError, match=f"no {MANIFEST}"):
        build_index(half, tmp_path / "index")
    assert not (tmp_path / "index").exists()


def test_shards_concatenated_equal_the_unsharded_collection(tmp_path, demo_collection, splade):
    from splade_anserini.formats.collection import load_collection
    sharded = tmp_path / "sharded"
    for shard_id in (2, 0, 1):  # any order, as separate processes would finish
        manifest = encode_corpus(DEMO / "corpus.jsonl", sharded, EncodeSettings(docs_per_file=50), progress=False,
                                 model=splade, shard_id=shard_id, num_shards=3)
        assert manifest["shard"]["shard_id"] == shard_id
    whole = b"".join(p.read_bytes() for p in sorted(demo_collection.glob("part-*.jsonl")))
    merged, parts = load_collection(sharded)
    assert b"".join(p.read_bytes() for p in parts) == whole
    assert merged["documents"] == read_manifest(demo_collection)["documents"]
    index = build_index(sharded, tmp_path / "index")
    assert index["index_documents"] == merged["documents"]


def test_missing_shard_is_refused(tmp_path, splade):
    sharded = tmp_path / "sharded"
    encode_corpus(DEMO / "corpus.jsonl", sharded, progress=False, model=splade, shard_id=1, num_shards=2)
    with pytest.raises(InputError, match=r"shards \[0\] of 2 are missing"):
        build_index(sharded, tmp_path / "index")
    with pytest.raises(InputError, match="outside 0..1"):
        encode_corpus(DEMO / "corpus.jsonl", sharded, progress=False, model=splade, shard_id=2, num_shards=2)
