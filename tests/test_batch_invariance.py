"""Same document, same vector: a document's quantized vector depends on its text, the model and the settings, never
on the batch, shard, part file, input order or thread count it is encoded with (CPU, float32)."""

import json
import random

import pytest
import torch
from conftest import DEMO, SHARED, shared_collection

from splade_anserini import EncodeSettings, encode_corpus
from splade_anserini.model.batching import LENGTH_BUCKET, bucket_length, plan_batches


def _documents() -> list[dict]:
    """The demo corpus plus, where ../shared is present, long SciFact abstracts (many truncated at 256 tokens) and
    short MS MARCO passages: lengths from a few tokens to the cap."""
    docs = [json.loads(line) for line in (DEMO / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    for name, count in (("beir-scifact", 60), ("trec-dl-2019-passage-judged", 60)):
        path = SHARED / name / "corpus.jsonl"
        if path.is_file():
            with open(path, encoding="utf-8") as lines:
                for line, _ in zip(lines, range(count)):
                    record = json.loads(line)
                    docs.append({"_id": f"{name}-{record['_id']}", "title": record["title"], "text": record["text"]})
    docs += [{"_id": "one-word", "text": "volcano"}, {"_id": "two-words", "text": "honey bees"}]
    return docs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    directory = tmp_path_factory.mktemp("invariance")
    docs = _documents()
    ordered = directory / "corpus.jsonl"
    ordered.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    shuffled = directory / "shuffled.jsonl"
    random.Random(7).shuffle(docs)
    shuffled.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return ordered, shuffled


def vectors(directory) -> dict:
    """{id: vector} of every document of a collection (or of a directory of its shards)."""
    from splade_anserini.formats.collection import load_collection
    _, parts = load_collection(directory)
    out = {}
    for part in parts:
        for line in part.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            out[record["id"]] = record["vector"]
    return out


def encode(corpus, output, splade, num_shards=1, **settings) -> dict:
    for shard_id in range(num_shards):
        encode_corpus(corpus, output, EncodeSettings(**settings), progress=False, model=splade, shard_id=shard_id,
                      num_shards=num_shards)
    return vectors(output)


@pytest.fixture(scope="module")
def reference(corpus, splade, tmp_path_factory):
    return encode(corpus[0], tmp_path_factory.mktemp("reference") / "c", splade, batch_size=32)


def assert_same_vectors(found: dict, expected: dict) -> None:
    assert list(found) == list(expected) or set(found) == set(expected)
    differing = [doc_id for doc_id in expected if found[doc_id] != expected[doc_id]]
    assert not differing, f"{len(differing)} of {len(expected)} documents differ, first {differing[:5]}"


def test_the_documents_span_many_length_buckets(corpus, reference, splade):
    for name in ("beir-scifact", "trec-dl-2019-passage-judged"):  # the long and the short documents come from there
        shared_collection(name)
    docs = [json.loads(line) for line in corpus[0].read_text(encoding="utf-8").splitlines()]
    lengths = [len(ids) for ids in splade.token_ids([d.get("title", "") + " " + d["text"] for d in docs]).ids]
    assert len(reference) == len(docs) >= 340 and all(reference.values())
    assert len({bucket_length(n) for n in lengths}) >= 5 and min(lengths) <= 4


@pytest.mark.parametrize("way", ["shuffled", "batch-1", "batch-7", "shards-2", "shards-3", "shards-5",
                                 "docs-per-file-37"])
def test_every_way_of_splitting_the_work_gives_the_same_vectors(way, corpus, reference, splade, tmp_path):
    ordered, shuffled = corpus
    settings = {"shuffled": dict(corpus=shuffled), "batch-1": dict(batch_size=1), "batch-7": dict(batch_size=7),
                "shards-2": dict(num_shards=2), "shards-3": dict(num_shards=3, docs_per_file=50),
                "shards-5": dict(num_shards=5, batch_size=7), "docs-per-file-37": dict(docs_per_file=37)}[way]
    source = settings.pop("corpus", ordered)
    assert_same_vectors(encode(source, tmp_path / "c", splade, **settings), reference)


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_count_does_not_change_a_vector(threads, corpus, reference, splade, tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        found = encode(corpus[0], tmp_path / "c", splade, num_shards=3, batch_size=7)
    finally:
        torch.set_num_threads(before)
    assert_same_vectors(found, reference)


def test_a_document_encoded_alone_has_its_collection_vector(corpus, reference, splade):
    docs = [json.loads(line) for line in corpus[0].read_text(encoding="utf-8").splitlines()]
    for doc in docs[::25]:
        text = " ".join(doc[f] for f in ("title", "text") if doc.get(f)).strip()
        assert splade.encode([text], 100)[0] == reference[doc["_id"]], doc["_id"]


def test_batches_hold_one_length_bucket_and_keep_every_text():
    lengths = [3, 17, 16, 40, 2, 33, 18, 256, 255, 1, 16]
    batches = plan_batches(lengths, batch_size=2)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 2
        assert len({bucket_length(lengths[i]) for i in batch}) == 1
    assert bucket_length(1) == bucket_length(LENGTH_BUCKET) == LENGTH_BUCKET
    assert bucket_length(LENGTH_BUCKET + 1) == 2 * LENGTH_BUCKET
