"""Separate query encoders (issue 20): an index records its pair of models (documents, queries), search and
encode-queries use the query model and check the pair; inference-free queries (``idf`` or a token-weight table) are
the query's word pieces, weighted by the index's statistics or the table, with no torch model loaded."""

import ast
import json
import math
import shutil
import subprocess
import sys

import pytest
from conftest import DEMO, ROOT

from splade_anserini import IndexSettings, build_index
from splade_anserini.cli import main
from splade_anserini.errors import InputError
from splade_anserini.formats.readers import read_topics

QUERIES = DEMO / "queries.tsv"
TRAIN_CONFIG = ROOT / "configs" / "train-scifact.yaml"
SMALL_DOCS = 80  # the first demo passages: enough for every kind of index here, quick to encode


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("query-models")
    lines = (DEMO / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:SMALL_DOCS]
    (root / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def encoded_index(root, name: str, *options) -> object:
    """The small corpus encoded (with ``options``) and indexed into ``root/name``; made once per module."""
    index = root / name / "index"
    if not index.is_dir():
        collection = root / name / "collection"
        assert main(["encode", "--corpus", str(root / "corpus.jsonl"), "--output", str(collection), "--quiet",
                     *map(str, options)]) == 0
        build_index(collection, index, progress=False)
    return index


@pytest.fixture(scope="module")
def query_model(workspace, splade):
    """Another model with splade-tiny's vocabulary: a copy with perturbed weights (a stand-in for a query model
    trained apart from the document model, as Efficient SPLADE's are)."""
    from safetensors.torch import load_file, save_file
    copy = workspace / "query-model"
    shutil.copytree(splade.path, copy)
    tensors = load_file(copy / "model.safetensors")
    name = next(n for n in tensors if n.endswith("attention.output.dense.weight"))
    tensors[name] = tensors[name] * 1.05
    save_file(tensors, copy / "model.safetensors", metadata={"format": "pt"})
    return copy


@pytest.fixture(scope="module")
def pair_index(workspace, query_model):
    return encoded_index(workspace, "pair", "--query-model", query_model)


@pytest.fixture(scope="module")
def plain_index(workspace):
    return encoded_index(workspace, "plain")


@pytest.fixture(scope="module")
def idf_index(workspace):
    return encoded_index(workspace, "idf", "--query-model", "idf")


def manifest_of(index) -> dict:
    return json.loads((index / "manifest.json").read_text())


def search(index, output, *options) -> int:
    return main(["search", "--index", str(index), "--topics", str(QUERIES), "--output", str(output), "--k", "10",
                 *map(str, options)])


# ---- a pair of models ---------------------------------------------------------------------------------------------

def test_an_index_records_both_models_and_searches_with_the_query_model(pair_index, query_model, splade, tmp_path):
    from splade_anserini.model.models import model_identity
    from splade_anserini.model.splade import Splade
    manifest = manifest_of(pair_index)
    assert manifest["model"] == "splade-tiny" and manifest["query_model"] == str(query_model)
    assert manifest["model_identity"] == model_identity(splade.path)
    assert manifest["query_model_identity"] == model_identity(query_model)
    assert manifest["query_model_identity"]["weights"] != manifest["model_identity"]["weights"]
    assert manifest["query_model_identity"]["tokenizer"] == manifest["model_identity"]["tokenizer"]
    run = tmp_path / "pair.trec"
    assert search(pair_index, run) == 0
    facts = json.loads((tmp_path / "pair.trec.search.json").read_text())
    assert facts["query_settings"]["model_identity"] == manifest["query_model_identity"]
    assert facts["query_settings"]["document_model_identity"] == manifest["model_identity"]
    # the queries really are the query model's: encoded with it, searched alone, the same run
    texts = [q.text for q in read_topics(QUERIES)]
    theirs = Splade(query_model).encode(texts, 100)
    assert theirs != splade.encode(texts, 100)
    encoded = tmp_path / "q.jsonl"
    assert main(["encode-queries", "--index", str(pair_index), "--topics", str(QUERIES), "--output",
                 str(encoded)]) == 0
    assert [json.loads(line)["vector"] for line in encoded.read_text().splitlines()] == theirs
    again = tmp_path / "again.trec"
    assert main(["search", "--index", str(pair_index), "--encoded-topics", str(encoded), "--output", str(again),
                 "--k", "10"]) == 0
    assert again.read_bytes() == run.read_bytes()


def test_a_mismatched_pair_is_refused(pair_index, plain_index, query_model, workspace, tmp_path, capsys):
    # the document model as the query model of a pair index
    assert search(pair_index, tmp_path / "r1.trec", "--query-model", "splade-tiny") == 2
    error = one_line_error(capsys)
    assert "has other weights than the index's" in error and not (tmp_path / "r1.trec").exists()
    # the query model on an index whose queries are the document model's
    assert search(plain_index, tmp_path / "r2.trec", "--model", query_model) == 2
    assert "has other weights than the index's" in one_line_error(capsys)
    # topics encoded for one index, searched on the other (either way)
    for source, target in ((plain_index, pair_index), (pair_index, plain_index)):
        topics = tmp_path / f"{source.parent.name}.tsv"
        assert main(["encode-queries", "--index", str(source), "--topics", str(QUERIES), "--output",
                     str(topics)]) == 0
        capsys.readouterr()
        assert main(["search", "--index", str(target), "--encoded-topics", str(topics), "--output",
                     str(tmp_path / "r3.trec")]) == 2
        assert "Query settings do not match the index" in one_line_error(capsys)
    # the other half: the same query model, but topics made for another document model's index
    swapped = encoded_index(workspace, "swapped", "--model", query_model, "--query-model", query_model)
    topics = tmp_path / "pair.jsonl"
    assert main(["encode-queries", "--index", str(pair_index), "--topics", str(QUERIES), "--output",
                 str(topics)]) == 0
    capsys.readouterr()
    assert main(["search", "--index", str(swapped), "--encoded-topics", str(topics), "--output",
                 str(tmp_path / "r4.trec")]) == 2
    assert "encoded for the documents of model 'splade-tiny'" in one_line_error(capsys)
    # a deliberate mismatch is searched, loudly
    assert search(pair_index, tmp_path / "r5.trec", "--query-model", "splade-tiny", "--allow-mismatch") == 0
    assert "WARNING" in capsys.readouterr().err


def test_a_query_model_with_another_vocabulary_is_refused_before_encoding(workspace, splade, tmp_path, capsys):
    other = tmp_path / "other-vocabulary"
    shutil.copytree(splade.path, other)
    tokenizer = json.loads((other / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    vocab["zzzz-not-bert"] = vocab.pop("honey")
    (other / "tokenizer.json").write_text(json.dumps(tokenizer))
    output = tmp_path / "collection"
    assert main(["encode", "--corpus", str(workspace / "corpus.jsonl"), "--output", str(output), "--quiet",
                 "--query-model", str(other)]) == 2
    assert "has another vocabulary than the document model" in one_line_error(capsys)
    assert not output.exists()


def test_the_pyserini_drop_in_takes_the_query_model(pair_index, idf_index, query_model, splade):
    from splade_anserini.lucene.queries import LuceneImpactSearcher, SpladeQueryEncoder
    from splade_anserini.model.models import model_identity
    from splade_anserini.model.splade import Splade
    encoder = SpladeQueryEncoder(index=pair_index)
    assert encoder.settings["model_identity"] == model_identity(query_model)
    text = "how do honeybees tell nestmates where food is"
    assert encoder.encode(text) == Splade(query_model).encode([text], 100)[0]
    free = SpladeQueryEncoder(index=idf_index)
    assert free.splade is None and not free.has_model and free.settings["inference_free"] == "idf"
    searcher = LuceneImpactSearcher(str(idf_index), free)
    hits = searcher.search(text, k=5)
    assert hits and [h.docid for h in hits] == [docid for docid, _ in _our_hits(idf_index, free.encode(text), 5)]
    free.close()


def _our_hits(index, vector, k):
    from splade_anserini import ImpactSearcher
    with ImpactSearcher(index) as searcher:
        return searcher.search(vector, k)


# ---- inference-free queries -----------------------------------------------------------------------------------------

def test_idf_queries_are_the_word_pieces_of_the_query_weighted_by_the_index(idf_index, splade):
    """Checked against transformers' own tokenizer and Lucene's document frequencies."""
    from splade_anserini import ImpactSearcher
    from splade_anserini.lucene.statistics import LuceneTermStatistics
    from splade_anserini.model.query_models import InferenceFreeEncoder
    manifest = manifest_of(idf_index)
    assert manifest["query_model"] == "idf" and manifest["query_model_path"] is None
    assert manifest["query_model_identity"] == {"inference_free": "idf",
                                                "tokenizer": manifest["model_identity"]["tokenizer"]}
    texts = [q.text for q in read_topics(QUERIES)] + ["Bees, BEES and bees!", "[CLS] honey [SEP] [UNK]"]
    with LuceneTermStatistics(idf_index) as statistics:
        encoder = InferenceFreeEncoder.for_index("idf", manifest, statistics=statistics)
        vectors = encoder.encode_batch(texts)
    with ImpactSearcher(idf_index) as searcher:
        for text, vector in zip(texts, vectors):
            pieces = [p for p in splade.tokenizer.tokenize(text) if p not in splade.tokenizer.all_special_tokens]
            expected = {p: round(100 * math.log(searcher.num_docs / searcher.df(p))) for p in pieces
                        if searcher.df(p)}
            assert vector == {p: w for p, w in expected.items() if w > 0}, text
    assert set(vectors[-2]) <= {"bees", ",", "and", "!"} and "bees" in vectors[-2]
    assert "[CLS]" not in vectors[-1] and "[SEP]" not in vectors[-1] and "[UNK]" not in vectors[-1]
    assert encoder.encode("bees bees bees") == encoder.encode("bees")  # a repeated piece counts once


def test_query_max_length_cuts_inference_free_queries(idf_index):
    from splade_anserini.lucene.statistics import LuceneTermStatistics
    from splade_anserini.model.query_models import InferenceFreeEncoder
    with LuceneTermStatistics(idf_index) as statistics:
        short = InferenceFreeEncoder.for_index("idf", manifest_of(idf_index), statistics=statistics, max_length=4)
        assert list(short.encode("honey bees communicate by dancing")) == ["honey", "bees"]


def test_an_inference_free_search_loads_no_torch(idf_index, tmp_path):
    """In a fresh process: search and encode-queries from the index's idf, and neither torch nor a transformers
    model class is imported; the pre-encoded run is the on-the-fly run."""
    script = f"""
import json, sys
from splade_anserini.cli import main
assert main(["search", "--index", {str(idf_index)!r}, "--topics", {str(QUERIES)!r}, "--output",
             {str(tmp_path / "fly.trec")!r}, "--k", "20"]) == 0
assert main(["encode-queries", "--index", {str(idf_index)!r}, "--topics", {str(QUERIES)!r}, "--output",
             {str(tmp_path / "q.tsv")!r}]) == 0
assert main(["search", "--index", {str(idf_index)!r}, "--encoded-topics", {str(tmp_path / "q.tsv")!r}, "--output",
             {str(tmp_path / "pre.trec")!r}, "--k", "20"]) == 0
print(json.dumps(sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.", "transformers.models")))))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert (tmp_path / "fly.trec").read_bytes() == (tmp_path / "pre.trec").read_bytes()
    facts = json.loads((tmp_path / "fly.trec.search.json").read_text())
    assert facts["query_settings"]["inference_free"] == "idf" and facts["query_encoding_ms"] is not None
    sidecar = json.loads((tmp_path / "q.tsv.manifest.json").read_text())
    assert sidecar["model"] == "idf" and sidecar["index_documents"] == SMALL_DOCS


def test_idf_queries_from_a_pisa_index_are_the_lucene_index_s(idf_index, tmp_path):
    """PISA keeps its own term table: the same document frequencies, so the same queries and the same run."""
    pytest.importorskip("pyterrier_pisa", reason="needs pyterrier-pisa (pip install 'splade-anserini[pisa]')")
    pisa = tmp_path / "pisa"
    build_index(idf_index.parent / "collection", pisa, IndexSettings(engine="pisa"), progress=False)
    for index, engine in ((idf_index, "lucene"), (pisa, "pisa")):
        assert main(["encode-queries", "--index", str(index), "--topics", str(QUERIES), "--output",
                     str(tmp_path / f"{engine}.jsonl")]) == 0
        assert search(index, tmp_path / f"{engine}.trec", "--engine", engine) == 0
    assert (tmp_path / "pisa.jsonl").read_bytes() == (tmp_path / "lucene.jsonl").read_bytes()
    assert (tmp_path / "pisa.trec").read_bytes() == (tmp_path / "lucene.trec").read_bytes()


def test_idf_queries_on_a_splade_query_index_are_a_mismatch(plain_index, idf_index, tmp_path, capsys):
    assert search(plain_index, tmp_path / "r.trec", "--query-model", "idf") == 2
    assert "query model 'idf' (inference-free, idf weights) is not the index's query model 'splade-tiny'" in \
        one_line_error(capsys)
    assert search(idf_index, tmp_path / "r.trec", "--query-model", "splade-tiny") == 2
    assert "is not the index's query model 'idf'" in one_line_error(capsys)


def test_a_token_weight_table_is_recorded_by_checksum_and_weights_the_queries(workspace, splade, tmp_path, capsys):
    table = workspace / "idf.json"
    weights = {"honey": 2.5, "bee": 1.25, "bees": 1.0, "##s": 0.004, "dance": 3.0, "tea": 0.75}
    table.write_text(json.dumps(weights))
    index = encoded_index(workspace, "table", "--query-model", table)
    manifest = manifest_of(index)
    assert manifest["query_model_path"] == str(table.resolve())
    identity = manifest["query_model_identity"]
    from splade_anserini.formats.artifacts import sha256_file
    assert identity["inference_free"] == "table" and identity["table"] == sha256_file(table)
    encoded = tmp_path / "q.jsonl"
    topics = tmp_path / "topics.tsv"
    topics.write_text("a\tHoney bees dance\nb\tbees and honeybees\nc\tgreen tea\n")
    assert main(["encode-queries", "--index", str(index), "--topics", str(topics), "--output", str(encoded)]) == 0
    vectors = [json.loads(line)["vector"] for line in encoded.read_text().splitlines()]
    # a piece the table lacks weighs nothing; "##s" rounds to 0 at scale 100
    assert vectors == [{"honey": 250, "bees": 100, "dance": 300}, {"bees": 100, "honey": 250}, {"tea": 75}]
    assert splade.tokenizer.tokenize("honeybees") == ["honey", "##bee", "##s"]
    assert search(index, tmp_path / "r.trec") == 0  # searched with the recorded table by default
    # the table changed after indexing: another query model
    table.write_text(json.dumps({**weights, "honey": 9.0}))
    assert search(index, tmp_path / "r2.trec") == 2
    assert "has other table than the index's" in one_line_error(capsys)
    # a table of another tokenizer, or not a table at all
    for content, message in (('{"honey": 1, "Honigbiene": 2}', "'Honigbiene' is not a word piece"),
                             ('{"honey": -1}', "weight of 'honey' must be a non-negative number"),
                             ("honey 1", "not a token-weight table")):
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        assert search(index, tmp_path / "r3.trec", "--query-model", bad, "--allow-mismatch") == 2
        assert message in one_line_error(capsys)


def test_the_tokenizer_works_from_vocab_txt_alone(splade, tmp_path):
    from splade_anserini.model.query_models import QueryTokenizer
    directory = tmp_path / "bert-vocab"
    directory.mkdir()
    vocab = json.loads((splade.path / "tokenizer.json").read_text())["model"]["vocab"]
    (directory / "vocab.txt").write_text("\n".join(sorted(vocab, key=vocab.get)) + "\n")
    shutil.copy(splade.path / "tokenizer_config.json", directory)
    texts = [q.text for q in read_topics(QUERIES)]
    assert QueryTokenizer(directory).pieces(texts, 256) == QueryTokenizer(splade.path).pieces(texts, 256)
    with pytest.raises(Exception, match="no tokenizer.json or vocab.txt"):
        QueryTokenizer(tmp_path)


def test_inference_free_encoder_needs_statistics_or_a_model_path(idf_index):
    from splade_anserini.model.query_models import InferenceFreeEncoder
    with pytest.raises(InputError, match="idf query weights come from an index"):
        InferenceFreeEncoder.for_index("idf", manifest_of(idf_index))
    with pytest.raises(InputError, match="only an index built by splade-anserini records"):
        InferenceFreeEncoder.for_index("idf", {})


def test_every_query_side_is_a_query_encoder_chosen_in_one_place(pair_index, idf_index, workspace, query_model,
                                                                 splade, tmp_path):
    """One protocol (a batch of texts -> integer vectors at the index's scale; the identity the manifest records),
    three implementations (a SPLADE model, idf, a token-weight table), chosen in one place
    (open_query_encoder): search's encoder and Pyserini's SpladeQueryEncoder are its, and give the vectors that
    define each kind."""
    from splade_anserini.lucene.queries import SpladeQueryEncoder
    from splade_anserini.lucene.statistics import LuceneTermStatistics
    from splade_anserini.model.query_models import InferenceFreeEncoder, QueryEncoder, SpladeQueries
    from splade_anserini.model.splade import Splade
    from splade_anserini.search import query_encoder
    from splade_anserini.settings import SEARCH
    table = workspace / "protocol.json"
    table.write_text(json.dumps({"honey": 2.5, "bees": 1.0, "##s": 0.004, "dance": 3.0}))
    table_index = encoded_index(workspace, "protocol-table", "--query-model", table)
    texts = ["Honey bees dance", "how do honeybees tell nestmates where food is", "green tea"]
    specials = set(splade.tokenizer.all_special_tokens)
    with LuceneTermStatistics(idf_index) as statistics:
        idf = [{p: round(100 * math.log(statistics.num_docs / statistics.df(p)))
                for p in splade.tokenizer.tokenize(text) if p not in specials and statistics.df(p)} for text in texts]
    expected = {pair_index: (SpladeQueries, Splade(query_model).encode(texts, 100)),
                idf_index: (InferenceFreeEncoder, [{p: w for p, w in v.items() if w > 0} for v in idf]),
                table_index: (InferenceFreeEncoder, [{"honey": 250, "bees": 100, "dance": 300}, {"honey": 250}, {}])}
    members = [*QueryEncoder.__annotations__, "encode_batch", "identity", "settings", "close"]
    for index, (kind, vectors) in expected.items():
        manifest = manifest_of(index)
        for encoder in (query_encoder(index, manifest, SEARCH), SpladeQueryEncoder(index=index)):
            try:
                assert type(getattr(encoder, "queries", encoder)) is kind  # the adapter holds the chosen one
                assert all(hasattr(encoder, name) for name in members), index.parent.name
                assert encoder.encode_batch(texts) == vectors, index.parent.name
                assert all(type(w) is int for vector in vectors for w in vector.values())
                assert encoder.identity == manifest["query_model_identity"]  # what search checks the pair by
            finally:
                encoder.close()


def test_no_module_patches_another_objects_methods():
    """Behaviour is passed in (training hands its validator a query encoder), never patched onto an object: no
    module assigns a function to another object's attribute named after a method of this package's classes (as
    ``validator.encode_queries = lambda ...`` once did)."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in (ROOT / "splade_anserini").rglob("*.py")}
    methods = {item.name for tree in trees.values() for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
               for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
               and not item.decorator_list}  # a property's name is a value's
    assert {"encode_queries", "encode_batch", "encode"} <= methods
    functions = {node.name for tree in trees.values() for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    offenders = [f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"
                 for path, tree in trees.items() for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 and (isinstance(node.value, ast.Lambda) or (isinstance(node.value, ast.Name)
                                                             and node.value.id in functions))
                 for target in node.targets
                 if isinstance(target, ast.Attribute) and target.attr in methods
                 and not (isinstance(target.value, ast.Name) and target.value.id in ("self", "cls"))]
    assert offenders == []


# ---- configs ----------------------------------------------------------------------------------------------------

def test_a_config_query_model_names_its_artifacts_and_is_checked_on_reuse(tmp_path, workspace):
    from splade_anserini.experiment.config import load_experiment
    from splade_anserini.experiment.pipeline import _same_settings, encode_settings
    base = ["corpus=" + str(workspace / "corpus.jsonl"), f"topics={QUERIES}", f"qrels={DEMO / 'qrels.txt'}",
            "name=demo"]
    plain = load_experiment(None, base, workdir=tmp_path)
    free = load_experiment(None, base + ["query_model=idf"], workdir=tmp_path)
    assert free.model_tag == "splade-tiny.q-idf" and plain.model_tag == "splade-tiny"
    assert free.index != plain.index and free.run != plain.run and free.run.name == "demo.splade-tiny.q-idf.trec"
    assert encode_settings(free).query_model == "idf"
    assert load_experiment(None, base + ["query_model=splade-tiny"]).model_tag == "splade-tiny"
    manifest = {"corpus": str(workspace / "corpus.jsonl"), "model": "splade-tiny", "query_model": None,
                "scale": 100, "max_length": 256, "pooling": "max", "fields": []}
    assert _same_settings(manifest, plain) == []
    assert _same_settings(manifest, free) == ["query_model: None there, 'idf' wanted"]
    with pytest.raises(InputError, match="query_model must be a model, 'idf' or a token-weight file"):
        load_experiment(None, base + ["query_model=3"])


# ---- training the document side against a fixed query side -----------------------------------------------------

def test_training_against_a_fixed_query_side_moves_only_the_documents_and_writes_the_pair(workspace, splade,
                                                                                          tmp_path):
    """Two steps each with a frozen and an inference-free query side: the query side gets no gradient, the
    document model changes, the checkpoint holds the pair, and encode records the pair from the checkpoint."""
    import torch
    from safetensors.torch import load_file

    from splade_anserini.experiment.config import load_experiment
    from splade_anserini.experiment.pipeline import encode_settings
    from splade_anserini.model.models import model_identity
    from splade_anserini.train.trainer import Trainer, load_settings
    start = load_file(splade.path / "model.safetensors")
    common = [f"data.pseudo_queries={DEMO / 'corpus.jsonl'}", "data.negatives=random", "batch_size=4",
              "doc_max_length=64", "max_steps=2", "lr=0.001", "lr_warmup_steps=1", "checkpoint_every=100"]
    for query_model in ("frozen", "idf"):
        trainer = Trainer(load_settings(TRAIN_CONFIG, [*common, f"output={tmp_path / query_model}",
                                                       f"query_model={query_model}"]), progress=False)
        queries = trainer.query_side.weights(["honey bees dance", "honey"], 32)
        assert not queries.requires_grad
        # validation and mining encode queries with the fixed side's QueryEncoder, as search will
        encoder = trainer.query_side.query_encoder(100, 8)
        if query_model == "idf":  # the word pieces of the query, weighted ln(N/df) over the training documents
            pieces = {splade.vocab[int(i)] for i in torch.nonzero(queries[0]).flatten()}
            assert pieces == {"honey", "bees", "dance"}
            documents = [d.positive for d in trainer.examples.examples]
            df = sum("honey" in set(splade.tokenizer.tokenize(text)) for text in documents)
            assert float(queries[1, splade.vocab.index("honey")]) == pytest.approx(math.log(len(documents) / df))
            assert encoder.encode_batch(["honey"]) == [{"honey": round(100 * math.log(len(documents) / df))}]
        else:
            assert encoder.encode_batch(["honey bees dance"]) == splade.encode(["honey bees dance"], 100)
        final = trainer.run(progress=False)
        document = final / "document_0_MLMTransformer"  # a checkpoint with a fixed query side is a Router pair
        trained = load_file(document / "model.safetensors")
        assert any(not torch.equal(trained[name], start[name]) for name in trained if name in start)
        record = json.loads((final / "query_model.json").read_text())
        index = encoded_index(workspace, f"trained-{query_model}", "--model", final)
        manifest = manifest_of(index)
        if query_model == "frozen":
            assert record["query_model"] == "query_0_MLMTransformer"
            kept = load_file(final / "query_0_MLMTransformer" / "model.safetensors")
            assert kept and all(torch.equal(kept[name], start[name]) for name in kept)
            assert manifest["query_model"] == str((final / "query_0_MLMTransformer").resolve())
            assert manifest["query_model_identity"] == model_identity(final / "query_0_MLMTransformer")
        else:
            assert record["query_model"] == "idf" and manifest["query_model"] == "idf"
        assert manifest["model_identity"] == model_identity(final)
        # the pipeline expects what encode records, so a built index is reused rather than rebuilt
        experiment = load_experiment(None, [f"corpus={workspace / 'corpus.jsonl'}", f"topics={QUERIES}",
                                            f"qrels={DEMO / 'qrels.txt'}", "name=trained", f"model={final}"],
                                     workdir=tmp_path)
        assert encode_settings(experiment).query_model == manifest["query_model"]
        assert search(index, tmp_path / f"{query_model}.trec") == 0
    with pytest.raises(InputError, match="query_model must be null"):
        load_settings(TRAIN_CONFIG, [*common, "query_model=3"])
