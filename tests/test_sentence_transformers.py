"""sentence-transformers' SparseEncoder models in and out (issue 28): a SparseEncoder directory (MLM + SpladePooling,
or a Router pair) is a --model like a bare masked LM, with its own pooling; what ``train`` writes loads in
``SparseEncoder`` and encodes what this project encodes. Models are built from splade-tiny by sentence-transformers
itself, on this machine (no hub)."""

import json
from pathlib import Path

import pytest
import torch
from conftest import DEMO, ROOT

from splade_anserini.cli import main
from splade_anserini.errors import InputError
from splade_anserini.formats.readers import read_corpus, read_topics

st = pytest.importorskip("sentence_transformers", reason="needs sentence-transformers (pip install "
                         "'splade-anserini[st]')")
from sentence_transformers import SparseEncoder  # noqa: E402
from sentence_transformers.sparse_encoder.modules import (  # noqa: E402
    MLMTransformer,
    Router,
    SparseStaticEmbedding,
    SpladePooling,
    Transformer,
)

QUERIES = DEMO / "queries.tsv"
DOCS = 60  # the first demo passages: quick to encode, enough for an index and its idf
TEXTS = ["honey bees dance to show where the flowers are", "why do volcanoes erupt", "octopus blood is blue"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("st")
    lines = (DEMO / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:DOCS]
    (root / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def sparse_encoder(directory: Path, tiny: Path, pooling: str = "max", *, fill_mask: bool = False,
                   activation: str = "relu") -> Path:
    """splade-tiny wrapped as a SparseEncoder and saved by sentence-transformers."""
    mlm = Transformer(str(tiny), transformer_task="fill-mask") if fill_mask else MLMTransformer(str(tiny))
    SparseEncoder(modules=[mlm, SpladePooling(pooling, activation_function=activation)]).save(str(directory))
    return directory


def idf_weights(tokenizer, texts) -> torch.Tensor:
    """ln(N / df) of every word piece over ``texts``, as a vocabulary-sized weight vector (special tokens 0)."""
    df = torch.zeros(len(tokenizer.get_vocab()))
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        df[sorted(set(ids))] += 1
    weights = torch.where(df > 0, torch.log(len(texts) / df.clamp(min=1)), torch.zeros_like(df))
    weights[tokenizer.all_special_ids] = 0
    return weights


def collection_lines(directory: Path) -> list[bytes]:
    return [part.read_bytes() for part in sorted(directory.glob("part-*"))]


def test_a_sparse_encoder_encodes_into_the_bare_models_bytes(workspace, splade):
    wrapped = sparse_encoder(workspace / "st-max", splade.path)
    assert (wrapped / "modules.json").is_file() and (wrapped / "1_SpladePooling" / "config.json").is_file()
    out = {}
    for name, model in (("bare", splade.path), ("wrapped", wrapped)):
        out[name] = workspace / f"collection-{name}"
        assert main(["encode", "--corpus", str(workspace / "corpus.jsonl"), "--output", str(out[name]), "--model",
                     str(model), "--quiet"]) == 0
    assert collection_lines(out["bare"]) and collection_lines(out["bare"]) == collection_lines(out["wrapped"])
    bare, ours = (json.loads((out[n] / "manifest.json").read_text()) for n in ("bare", "wrapped"))
    assert ours["pooling"] == "max" and ours["query_model"] is None
    # the identity covers the files that decide the vectors: the MLM's (as sentence-transformers rewrote them) and
    # the SpladePooling config
    from splade_anserini.formats.artifacts import sha256_file
    assert ours["model_identity"]["pooling"] == sha256_file(wrapped / "1_SpladePooling" / "config.json")
    assert set(bare["model_identity"]) == {"weights", "tokenizer"}


def test_the_models_own_pooling_is_read_and_what_cannot_be_reproduced_is_refused(workspace, splade, capsys):
    from splade_anserini.model.splade import Splade
    summed = sparse_encoder(workspace / "st-sum", splade.path, "sum", fill_mask=True)  # 6.x's fill-mask Transformer
    model = Splade(summed)
    assert model.pooling == "sum"
    assert torch.equal(model.weights(TEXTS), Splade(splade.path, pooling="sum").weights(TEXTS))
    with pytest.raises(InputError, match="pooled by sum .* pooling max would not give its vectors"):
        Splade(summed, pooling="max")
    # OpenSearch's activation, log(1 + log(1 + relu(x))): sentence-transformers' own vectors, max and sum pooled
    for pooling in ("max", "sum"):
        double = sparse_encoder(workspace / f"st-log1p-{pooling}", splade.path, pooling, activation="log1p_relu")
        theirs = SparseEncoder(str(double), device="cpu").encode_document(TEXTS, convert_to_tensor=True).to_dense()
        ours = Splade(double).weights(TEXTS)
        assert torch.allclose(ours, theirs, atol=1e-5, rtol=0) and not torch.allclose(ours, model.weights(TEXTS))
    prompted = workspace / "st-prompted"
    SparseEncoder(modules=[MLMTransformer(str(splade.path)), SpladePooling("max")],
                  prompts={"query": "query: ", "document": ""}).save(str(prompted))
    assert main(["encode", "--corpus", str(workspace / "corpus.jsonl"), "--output", str(workspace / "refused"),
                 "--model", str(prompted), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "it prepends prompts (query) to texts" in err
    assert not (workspace / "refused").exists()


@pytest.mark.slow
def test_an_inference_free_router_is_the_recorded_pair(workspace, splade, tmp_path):
    """A Router (idf weights as its SparseStaticEmbedding query route, splade-tiny as its document route) indexes
    and searches here with the pair it holds; its queries are sentence-transformers' encode_query, quantized."""
    from splade_anserini.index import build_index
    from splade_anserini.model.models import model_identity
    from splade_anserini.model.query_models import table_checksum
    document = MLMTransformer(str(splade.path))
    texts = [d.text for d in read_corpus(workspace / "corpus.jsonl")]
    weights = idf_weights(document.tokenizer, texts)
    static = SparseStaticEmbedding(document.tokenizer, weight=weights, frozen=True)
    router = Router.for_query_document(query_modules=[static], document_modules=[document, SpladePooling("max")])
    directory = workspace / "st-router"
    SparseEncoder(modules=[router], similarity_fn_name="dot").save(str(directory))
    theirs = SparseEncoder(str(directory), device="cpu")

    collection, index = tmp_path / "collection", tmp_path / "index"
    assert main(["encode", "--corpus", str(workspace / "corpus.jsonl"), "--output", str(collection), "--model",
                 str(directory), "--quiet"]) == 0
    manifest = json.loads((collection / "manifest.json").read_text())
    route = directory / "query_0_SparseStaticEmbedding"
    assert manifest["query_model"] == str(route.resolve())
    assert manifest["query_model_identity"] == {"inference_free": "table", "table": table_checksum(route),
                                                "tokenizer": model_identity(directory)["tokenizer"]}
    # the documents are splade-tiny's (the document route), as encoded from the bare directory
    bare = workspace / "collection-bare"
    if not bare.is_dir():
        assert main(["encode", "--corpus", str(workspace / "corpus.jsonl"), "--output", str(bare), "--quiet"]) == 0
    assert collection_lines(collection) == collection_lines(bare)

    build_index(collection, index, progress=False)
    run = tmp_path / "run.trec"
    assert main(["search", "--index", str(index), "--topics", str(QUERIES), "--output", str(run), "--k", "10"]) == 0
    assert len(run.read_text().splitlines()) >= 10
    encoded = tmp_path / "queries.jsonl"
    assert main(["encode-queries", "--index", str(index), "--topics", str(QUERIES), "--output", str(encoded)]) == 0
    ours = {r["id"]: r["vector"] for r in map(json.loads, encoded.read_text().splitlines())}
    queries = read_topics(QUERIES)
    dense = theirs.encode_query([q.text for q in queries], convert_to_tensor=True).to_dense()
    vocab = {i: t for t, i in document.tokenizer.get_vocab().items()}
    for query, row in zip(queries, dense):
        expected = {vocab[int(i)]: round(100 * float(row[i])) for i in torch.nonzero(row).flatten()}
        assert ours[query.id] == {t: q for t, q in expected.items() if q > 0}, query.text
    assert sum(map(len, ours.values())) > len(ours)


@pytest.mark.slow
@pytest.mark.parametrize("query_model", [None, "idf", "frozen"], ids=["one-model", "idf-router", "frozen-router"])
def test_a_trained_checkpoint_loads_in_sentence_transformers_and_encodes_what_we_encode(query_model, tmp_path):
    """2 steps of training: every checkpoint loads in SparseEncoder, whose document and query vectors are ours to
    1e-5 before quantization (with a fixed query side, the Router's query route: the idf table trained against, or
    the frozen starting model)."""
    from splade_anserini.model.splade import Splade
    from splade_anserini.train.trainer import Trainer, load_settings
    overrides = [f"data.pseudo_queries={DEMO / 'corpus.jsonl'}", "data.negatives=random", "batch_size=4",
                 "doc_max_length=64", "max_steps=2", "checkpoint_every=1", "lr=0.001", "lr_warmup_steps=1",
                 f"output={tmp_path / 'run'}"] + ([f"query_model={query_model}"] if query_model else [])
    trainer = Trainer(load_settings(ROOT / "configs" / "train-scifact.yaml", overrides), progress=False)
    final = trainer.run(progress=False)
    for checkpoint in (final.parent / "checkpoint-000001", final):
        theirs = SparseEncoder(str(checkpoint), device="cpu")
        ours = Splade(checkpoint, device="cpu")
        documents = theirs.encode_document(TEXTS, convert_to_tensor=True).to_dense()
        assert torch.allclose(documents, ours.weights(TEXTS), atol=1e-5, rtol=0)
        queries = theirs.encode_query(TEXTS, convert_to_tensor=True).to_dense()
        expected = ours.weights(TEXTS) if query_model is None else trainer.query_side.weights(TEXTS, 32).cpu()
        assert bool((queries > 0).any()) and torch.allclose(queries, expected, atol=1e-5, rtol=0)
    if query_model is not None:
        assert (final / "router_config.json").is_file() and (final / "query_model.json").is_file()
