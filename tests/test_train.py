"""The training module: losses against hand computation, the schedule, and short real training runs of splade-tiny."""

import json
import math
import re
from pathlib import Path

import pytest
import torch
from conftest import DEMO, ROOT, shared_collection

from splade_anserini.errors import InputError
from splade_anserini.formats.readers import read_corpus
from splade_anserini.formats.readers import read_topics as read_topics_file
from splade_anserini.model.splade import Splade, pool
from splade_anserini.train.data import Example, normalized_text, pseudo_queries, read_examples, read_judged
from splade_anserini.train.encoder import training_weights
from splade_anserini.train.exact import SparseIndex, anserini_scores
from splade_anserini.train.losses import (
    RANKING_LOSSES,
    FlopsRegularizer,
    InBatchContrastive,
    KLDistillation,
    L1Regularizer,
    MarginMSE,
    QuadraticWarmup,
    Regularizer,
    SpladeLoss,
)
from splade_anserini.train.mining import above_margin, bm25_candidates, save_candidates
from splade_anserini.train.supervised import SupervisedExamples
from splade_anserini.train.trainer import Trainer, load_settings, train
from splade_anserini.train.validation import carve_validation, limit_training

CONFIG = ROOT / "configs" / "train-scifact.yaml"


def test_flops_and_l1_equal_their_definitions():
    w = torch.tensor([[1.0, 0.0, 2.0, 0.5], [3.0, 0.0, 0.0, 0.5], [2.0, 1.0, 1.0, 0.0]])
    # FLOPS = sum over terms of (mean activation over the batch)^2
    means = [(1 + 3 + 2) / 3, (0 + 0 + 1) / 3, (2 + 0 + 1) / 3, (0.5 + 0.5 + 0) / 3]
    assert FlopsRegularizer()(w).item() == pytest.approx(sum(m * m for m in means))
    assert L1Regularizer()(w).item() == pytest.approx((3.5 + 3.5 + 4.0) / 3)


def test_margin_mse_equals_hand_computation():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    pos = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    neg = torch.tensor([[0.0, 1.0], [1.0, 0.5]])
    # student margins: (2 - 0) = 2 and (2 - 1) = 1; teacher margins: 5 - 4 = 1 and 3 - 1 = 2
    loss = MarginMSE()(q, pos, neg, torch.tensor([5.0, 3.0]), torch.tensor([4.0, 1.0]))
    assert loss.item() == pytest.approx(((2 - 1) ** 2 + (1 - 2) ** 2) / 2)


def test_in_batch_contrastive_equals_hand_computation():
    q = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    docs = torch.tensor([[1.0, 0.0, 0.0],   # query 0: positive
                         [0.0, 0.0, 2.0],   # query 0: hard negative
                         [0.0, 3.0, 0.0],   # query 1: positive
                         [1.0, 1.0, 0.0]])  # query 1: hard negative
    scores = [[sum(a * b for a, b in zip(qi, d)) for d in docs.tolist()] for qi in q.tolist()]
    expected = sum(-s[t] + math.log(sum(math.exp(x) for x in s)) for s, t in zip(scores, [0, 2])) / 2
    assert InBatchContrastive()(q, docs).item() == pytest.approx(expected)


def test_kl_distillation_equals_hand_computation():
    q = torch.tensor([[1.0, 1.0]])
    docs = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [0.5, 0.5]]])
    teacher = torch.tensor([[2.0, 1.0, 0.0]])
    student = [1.0, 2.0, 1.0]

    def softmax(xs):
        z = sum(math.exp(x) for x in xs)
        return [math.exp(x) / z for x in xs]

    p, s = softmax(teacher[0].tolist()), softmax(student)
    assert KLDistillation()(q, docs, teacher).item() == pytest.approx(sum(a * math.log(a / b) for a, b in zip(p, s)))


def test_regulariser_weight_ramps_quadratically():
    schedule = QuadraticWarmup(0.8, 10)
    assert [schedule(step) for step in (0, 5, 10, 50)] == pytest.approx([0.0, 0.2, 0.8, 0.8])
    assert QuadraticWarmup(0.3, 0)(0) == 0.3
    with pytest.raises(ValueError):
        QuadraticWarmup(-1, 10)


def test_training_pooling_equals_the_textbook_formula_in_values_and_gradients():
    torch.manual_seed(0)
    logits = torch.randn(3, 7, 11, requires_grad=True)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    fast = pool(logits, mask)
    slow = pool(logits, mask, textbook=True)
    assert torch.equal(fast, slow)
    weights = torch.randn(3, 11)
    (grad_fast,) = torch.autograd.grad((fast * weights).sum(), logits)
    (grad_slow,) = torch.autograd.grad((slow * weights).sum(), logits)
    assert torch.allclose(grad_fast, grad_slow)


def test_training_data_files(tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_text("what do bees make\thoney is made by bees\tvolcanoes erupt\n")
    assert read_examples(tsv) == [Example("what do bees make", "honey is made by bees", ["volcanoes erupt"])]
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text(json.dumps({"query": "q", "positive": "p", "negatives": ["n1", "n2"], "scores": [3, 1, 0.5]})
                     + "\n" + json.dumps({"query": "q2", "positive": "p2", "negative": "n"}) + "\n")
    first, second = read_examples(jsonl)
    assert (first.scores, second.negatives) == ([3, 1, 0.5], ["n"])
    jsonl.write_text(json.dumps({"query": "q", "positive": "p", "negatives": ["n"], "scores": [1]}) + "\n")
    with pytest.raises(InputError, match=r"t.jsonl:1: 1 teacher scores for 2 documents"):
        read_examples(jsonl)
    tsv.write_text("only a query\n")
    with pytest.raises(InputError, match=r"t.tsv:1: expected 'query<TAB>positive"):
        read_examples(tsv)


def test_pseudo_queries_pair_titles_with_their_own_text():
    examples = pseudo_queries(DEMO / "corpus.jsonl", negatives="bm25", per_query=2, limit=30)
    corpus = {d.id: d for d in read_corpus(DEMO / "corpus.jsonl", ["title"])}
    texts = {d.id: d.text for d in read_corpus(DEMO / "corpus.jsonl", ["text"])}
    titles = {d.text: i for i, d in corpus.items()}
    assert len(examples) == 30
    for example in examples:
        own = titles[example.query]
        assert example.positive == texts[own] and len(example.negatives) == 2
        assert texts[own] not in example.negatives


def settings(tmp_path, name, *overrides):
    return load_settings(CONFIG, [f"data.pseudo_queries={DEMO / 'corpus.jsonl'}", "data.negatives=random",
                                  "batch_size=8", "doc_max_length=128", "lr=0.0001", "lr_warmup_steps=1",
                                  "lambda_warmup_steps=0", "checkpoint_every=100", f"output={tmp_path / name}",
                                  *overrides])


def held_out_loss(trainer: Trainer, examples) -> float:
    trainer.model.eval()
    with torch.no_grad():
        loss, _ = trainer.batch_loss(examples)
    trainer.model.train()
    return float(loss)


@pytest.mark.slow
def test_training_lowers_the_loss_and_the_checkpoint_encodes(tmp_path):
    trainer = Trainer(settings(tmp_path, "run", "max_steps=10", "lambda_q=0", "lambda_d=0"))
    batch = trainer.examples.examples[:16]
    before = held_out_loss(trainer, batch)
    final = trainer.run(progress=False)
    after = held_out_loss(trainer, batch)
    assert after < before
    assert (final / "config.json").is_file() and not (final / "training_state.pt").exists()
    assert Splade(str(final)).encode(["honey bees"], 100)[0]  # a checkpoint is a model directory encode can load


@pytest.mark.slow
def test_a_higher_document_lambda_gives_sparser_documents(tmp_path):
    docs = [d.text for d in read_corpus(DEMO / "corpus.jsonl")][:60]
    dims = {}
    for lam in (0.0, 0.05):
        final = train(settings(tmp_path, f"lambda{lam}", "max_steps=6", "lambda_q=0", f"lambda_d={lam}"),
                      progress=False)
        vectors = Splade(str(final)).encode(docs, 100)
        dims[lam] = sum(map(len, vectors)) / len(vectors)
    assert dims[0.05] < 0.8 * dims[0.0], dims


def test_training_settings_are_typed_and_checked_where_they_are_used(tmp_path):
    """TrainSettings: the config's keys as fields (sections as nested dataclasses), the same dict back for
    training.json, and the checks of a train split's sections only where the data is a train split."""
    from dataclasses import fields

    from splade_anserini.train.settings import TrainSettings, ValidationSettings
    loaded = settings(tmp_path, "typed", "query_regularizer.threshold=3")
    assert isinstance(loaded, TrainSettings) and isinstance(loaded.validation, ValidationSettings)
    as_dict = loaded.as_dict()
    assert list(as_dict) == [f.name for f in fields(TrainSettings)] == list(TrainSettings.defaults())
    assert as_dict["query_regularizer"] == {"kind": None, "weight": None, "warmup_steps": None, "threshold": 3}
    assert TrainSettings.from_section(as_dict) == loaded  # what training.json records builds the same settings
    effective = loaded.regularizer_of("query")
    assert (effective.kind, effective.weight, effective.warmup_steps, effective.threshold) == (
        "flops", loaded.lambda_q, 0, 3)
    # validation.every is read for a train split only: a pseudo-query config does not trip on it ...
    assert settings(tmp_path, "x", "validation.every=0").validation.every == 0
    # ... a train split does, naming the key
    with pytest.raises(InputError, match=r"validation\.every must be a positive integer, not 0"):
        load_settings(SUPERVISED_CONFIG, ["validation.every=0"])
    with pytest.raises(InputError, match=r"negatives\.ranks must be \[first, end\] ranks"):
        load_settings(SUPERVISED_CONFIG, ["negatives.ranks=[5, 1]"])
    with pytest.raises(InputError, match="loss kl distils a teacher's scores; set teacher.kind"):
        load_settings(SUPERVISED_CONFIG, ["loss=kl"])


def test_bad_training_config_is_one_line_and_exit_2(tmp_path, capsys):
    from splade_anserini.cli import main
    assert main(["train", "--config", str(CONFIG), "--quiet", "max_steps=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "max_steps must be a positive integer, not 0" in err[0], err


def test_resume_continues_and_a_finished_output_is_not_overwritten(tmp_path):
    first = train(settings(tmp_path, "r", "max_steps=2", "checkpoint_every=1"), progress=False)
    history = json.loads((first / "training.json").read_text())["history"]
    assert [h["step"] for h in history] == [1, 2]
    with pytest.raises(InputError, match="already holds checkpoints"):
        Trainer(settings(tmp_path, "r", "max_steps=3"))
    resumed = Trainer(settings(tmp_path, "r", "max_steps=3"), resume=True)
    assert resumed.step == 2
    resumed.run(progress=False)
    assert [h["step"] for h in json.loads((first / "training.json").read_text())["history"]] == [1, 2, 3]


def test_bad_training_settings(tmp_path):
    with pytest.raises(InputError, match="loss must be one of"):
        settings(tmp_path, "x", "loss=hinge")
    # one sentence naming the key, for a top-level key and a section's, through load_settings
    for override, message in (("lr=-1", "lr must be a non-negative number, not -1"),
                              ("batch_size=0", "batch_size must be a positive integer"),
                              ("temperature=0", "temperature must be a positive number"),
                              ("dropout=1.5", "dropout must be a number in [0, 1)"),
                              ("dtype=float64", "dtype must be one of float32, float16, bfloat16"),
                              ("in_batch=maybe", "in_batch must be true or false"),
                              ("lr_decay=cosine", "lr_decay must be one of constant, linear"),
                              ("query_regularizer.kind=l2", "query_regularizer.kind must be one of flops, l1"),
                              ("document_regularizer.threshold=-1",
                               "document_regularizer.threshold must be at least 0"),
                              ("data.limit=0", "data.limit must be a positive integer"),
                              ("teacher=3", "teacher must be a mapping")):
        with pytest.raises(InputError, match=r"^\S*train-scifact.yaml: " + re.escape(message)):
            settings(tmp_path, "x", override)
    with pytest.raises(InputError, match="unknown setting 'lambda'"):
        settings(tmp_path, "x", "lambda=1")
    with pytest.raises(InputError, match="one"):
        settings(tmp_path, "x", "data.source=t.tsv")
    with pytest.raises(InputError, match="margin-MSE takes one negative"):
        settings(tmp_path, "x", "loss=margin-mse", "negatives_per_query=2")


# ---- supervised training from a train split ----------------------------------------------------------------------

SUPERVISED_CONFIG = ROOT / "configs" / "train-scifact-supervised.yaml"
TEST_QUERIES = 10  # the demo's last 10 queries play the test split in the demo train split below


@pytest.fixture(scope="module")
def demo_split(tmp_path_factory):
    """The demo collection laid out as a data directory for supervised training: its first 30 queries are the
    train split (train/queries.tsv, train/qrels.txt), its last 10 the test topics (queries.tsv, qrels.txt). One
    training query repeats a test query's text (other id, other case and spacing): it must never be trained or
    validated on."""
    root = tmp_path_factory.mktemp("demo-split")
    queries = (DEMO / "queries.tsv").read_text(encoding="utf-8").splitlines()
    qrels = (DEMO / "qrels.txt").read_text(encoding="utf-8").splitlines()
    train, test = queries[:-TEST_QUERIES], queries[-TEST_QUERIES:]
    test_ids = {line.split("\t")[0] for line in test}
    copied_id, copied_text = test[0].split("\t")
    (root / "train").mkdir()
    (root / "corpus.jsonl").write_bytes((DEMO / "corpus.jsonl").read_bytes())
    (root / "queries.tsv").write_text("\n".join(test) + "\n", encoding="utf-8")
    (root / "qrels.txt").write_text("\n".join(q for q in qrels if q.split()[0] in test_ids) + "\n", encoding="utf-8")
    (root / "train" / "queries.tsv").write_text("\n".join(train) + f"\nleak\t  {copied_text.upper()} \n",
                                                encoding="utf-8")
    leak_qrels = [q.replace(copied_id, "leak", 1) for q in qrels if q.split()[0] == copied_id]
    (root / "train" / "qrels.txt").write_text(
        "\n".join([q for q in qrels if q.split()[0] not in test_ids] + leak_qrels) + "\n", encoding="utf-8")
    return root


def supervised_settings(tmp_path, name, data, *overrides):
    return load_settings(SUPERVISED_CONFIG, [
        f"data.dir={data}", f"output={tmp_path / name}", "batch_size=4", "query_max_length=16", "doc_max_length=64",
        "negatives_per_query=2", "negatives.depth=20", "negatives.ranks=[0, 20]", "validation.queries=6",
        "validation.every=2", "validation.patience=0", "validation.remove_query=false", "max_steps=4",
        "checkpoint_every=100", "lr_warmup_steps=1", "lambda_warmup_steps=2", *overrides])


def test_sparse_training_weights_equal_pooling_in_values_and_gradients(splade):
    texts = [d.text for d in read_corpus(DEMO / "corpus.jsonl")][:6] + ["octopus blood"]
    batch = splade.tokenize(texts, 64)
    mask = batch["attention_mask"]
    probe = torch.randn(len(texts), splade.vocab_size, generator=torch.Generator().manual_seed(0))
    results = []
    for compute in (lambda: pool(splade.mlm(input_ids=batch["input_ids"], attention_mask=mask).logits, mask),
                    lambda: training_weights(splade, batch)):
        splade.mlm.zero_grad(set_to_none=True)
        weights = compute()
        (weights * probe).sum().backward()
        results.append((weights.detach(), {n: p.grad.clone() for n, p in splade.mlm.named_parameters()
                                           if p.grad is not None}))
    splade.mlm.zero_grad(set_to_none=True)
    (dense, dense_grads), (sparse, sparse_grads) = results
    assert torch.equal(dense > 0, sparse > 0)
    assert torch.allclose(dense, sparse, atol=1e-5)
    assert dense_grads.keys() == sparse_grads.keys()
    for name, grad in dense_grads.items():
        assert torch.allclose(grad, sparse_grads[name], atol=1e-5, rtol=1e-3), name


def test_splade_loss_composes_and_names_its_parts():
    q = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 1.0]])
    d = torch.tensor([[1.0, 1.0, 1.0], [0.0, 3.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    loss = SpladeLoss(InBatchContrastive(), Regularizer("flops", 0.5, 0), Regularizer("l1", 0.2, 4, threshold=1))
    total, parts = loss(q, d, step=2)
    # in-batch: query 0 scores the four documents 3, 0, 2, 2 (its positive: 0); query 1 scores 1, 0, 0, 1 (its: 2)
    contrastive = sum(-s[t] + math.log(sum(math.exp(x) for x in s)) for s, t in (([3, 0, 2, 2], 0),
                                                                                ([1, 0, 0, 1], 2))) / 2
    query_flops = ((1 + 0) / 2) ** 2 + 0 + ((2 + 1) / 2) ** 2
    document_l1 = 3.0 / 4  # only the first document has more than one active term (threshold 1)
    assert parts == pytest.approx({"contrastive": contrastive, "query_flops": query_flops, "query_weight": 0.5,
                                   "document_l1": document_l1, "document_weight": 0.2 * (2 / 4) ** 2})
    assert float(total) == pytest.approx(contrastive + 0.5 * query_flops + 0.05 * document_l1)
    # a temperature divides the scores inside the softmax; without in-batch negatives each query sees its own
    group = InBatchContrastive(temperature=2.0, in_batch=False)(q, d)
    own = [[3.0, 0.0], [0.0, 1.0]]  # query 0 with docs 0, 1; query 1 with docs 2, 3 (halved below)
    expected = sum(-s[0] / 2 + math.log(sum(math.exp(x / 2) for x in s)) for s in own) / 2
    assert float(group) == pytest.approx(expected)


def test_each_ranking_loss_scores_the_trainers_batch_layout_as_its_own_definition():
    """SpladeLoss takes the ranking loss as an object (sentence-transformers' SpladeLoss(model, loss=...)): each
    loss reads the batch as the trainer lays it out (each query's positive, then its negatives; the teacher's
    scores in the same order) and names its part as configs name it."""
    q = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])
    d = torch.tensor([[1.0, 1.0, 1.0], [0.0, 3.0, 0.0], [2.0, 0.0, 1.0],   # query 0: positive, 2 negatives
                      [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 2.0, 2.0]])  # query 1: positive, 2 negatives
    teacher = torch.tensor([[5.0, 1.0, 2.0], [3.0, 0.5, 4.0]])
    student = [[3.0, 0.0, 4.0], [1.0, 0.0, 4.0]]  # each query's scores of its own three documents
    margins = [[(s[0] - s[i]) - (t[0] - t[i]) for i in (1, 2)] for s, t in zip(student, teacher.tolist())]
    expected_mse = sum(m[i] ** 2 for m in margins for i in range(2)) / 4  # the mean over the negatives and queries
    assert float(MarginMSE().batch_loss(q, d, teacher)) == pytest.approx(expected_mse)
    assert float(KLDistillation().batch_loss(q, d, teacher)) == pytest.approx(
        float(KLDistillation()(q, d.view(2, 3, 3), teacher)))
    assert float(InBatchContrastive(in_batch=False).batch_loss(q, d)) == pytest.approx(
        sum(-s[0] + math.log(sum(math.exp(x) for x in s)) for s in student) / 2)
    assert {name: (loss.name, loss.needs_teacher) for name, loss in RANKING_LOSSES.items()} == {
        "contrastive": ("contrastive", False), "margin-mse": ("margin-mse", True), "kl": ("kl", True)}
    none = Regularizer("flops", 0.0, 0)
    for loss in (MarginMSE(), KLDistillation()):
        total, parts = SpladeLoss(loss, none, none)(q, d, step=0, teacher=teacher)
        assert float(total) == pytest.approx(float(loss.batch_loss(q, d, teacher))) and loss.name in parts


def test_the_trainer_does_not_branch_on_the_loss_name():
    """The ranking loss is chosen by name once (RANKING_LOSSES, from the settings) and asked what it needs; the
    trainer never compares the loss's name."""
    import ast
    tree = ast.parse((ROOT / "splade_anserini" / "train" / "trainer.py").read_text(encoding="utf-8"))
    names = set(RANKING_LOSSES)
    compared = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Compare)
                and any(isinstance(part, ast.Constant) and part.value in names
                        for part in [node.left, *node.comparators])]
    literals = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value in names]
    assert compared == [] and literals == []


def collection_vectors(collection) -> tuple[list, list]:
    from splade_anserini.formats.collection import load_collection
    ids, vectors = [], []
    for part in load_collection(collection)[1]:
        for line in part.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            ids.append(record["id"])
            vectors.append(record["vector"])
    return ids, vectors


def test_exact_scoring_agrees_with_the_lucene_run(demo_collection, demo_index, splade, tmp_path):
    """The validation's in-memory search gives the Lucene run itself: same hits, same scores as written, so the
    same nDCG@10; with a coarse scale (many tied scores) and with a query's own id removed, too."""
    from splade_anserini.evaluate import evaluate
    from splade_anserini.formats.readers import read_qrels, read_topics
    from splade_anserini.formats.runs import read_run
    from splade_anserini.search import search_topics
    from splade_anserini.settings import SearchSettings
    topics = read_topics(DEMO / "queries.tsv")
    qrels = read_qrels(DEMO / "qrels.txt")
    index = SparseIndex(*collection_vectors(demo_collection))
    vectors = splade.encode([q.text for q in topics], 100)
    # a query named after its best hit: BEIR's rule drops that document from its hits
    named = index.search(vectors[-1], 1)[0][0]
    ids = [q.id for q in topics[:-1]] + [named]
    renamed = tmp_path / "queries.tsv"
    renamed.write_text("".join(f"{i}\t{q.text}\n" for i, q in zip(ids, topics)), encoding="utf-8")
    for k, remove_query in ((100, False), (20, True)):
        lucene_path = tmp_path / f"lucene-{k}.trec"
        search_topics(demo_index, lucene_path, SearchSettings(k=k, remove_query=remove_query), topics=renamed)
        lucene = read_run(lucene_path)
        exact = index.run(ids, vectors, k, remove_query=remove_query)
        assert exact == lucene
        assert evaluate(exact, qrels, ["nDCG@10"])[0] == evaluate(lucene, qrels, ["nDCG@10"])[0]
    assert named not in exact[named] and named in index.run(ids, vectors, 20)[named]


def test_exact_scores_write_ties_as_anserini_does():
    # equal integer scores stay equal where float32 cannot hold the 1e-6 step (large scores), and step down
    # by 1e-6 per tied hit where it can
    assert anserini_scores([50000, 50000, 49999]) == [50000.0, 50000.0, 49999.0]
    assert anserini_scores([7, 7, 7, 3]) == [7.0, 6.999999, 6.999998, 3.0]


@pytest.fixture(scope="module")
def demo_candidates(demo_split):
    """Real BM25 candidates (Lucene) of the demo split's training queries, as the trainer saves them."""
    judged = read_judged({"dir": str(demo_split)})
    candidates = bm25_candidates(judged.corpus, judged.queries, 20)
    path = demo_split.parent / "candidates.jsonl"
    save_candidates(path, candidates, "bm25")
    return judged, candidates, path


def test_validation_split_never_holds_a_test_query_or_its_text(demo_split):
    judged = read_judged({"dir": str(demo_split)})
    test = {q.id: normalized_text(q.text) for q in read_topics_file(demo_split / "queries.tsv")}
    assert judged.excluded == {"leak": "a test query's id or text"}
    assert len(judged.queries) == 40 - TEST_QUERIES
    for size, seed in ((6, 13), (0.5, 1), (29, 2)):
        train_ids, val_ids = carve_validation(list(judged.queries), size, seed)
        assert set(train_ids) | set(val_ids) == set(judged.queries) and not set(train_ids) & set(val_ids)
        assert not set(val_ids) & set(test)
        assert not {normalized_text(judged.queries[q]) for q in val_ids} & set(test.values())
    assert carve_validation(list(judged.queries), 6, 13) == carve_validation(list(judged.queries), 6, 13)


def test_data_limit_trains_on_a_seeded_subset_and_validates_on_the_same_queries(tmp_path, demo_split,
                                                                                demo_candidates):
    _, _, candidates = demo_candidates
    whole = Trainer(supervised_settings(tmp_path, "whole", demo_split, f"data.candidates={candidates}"))
    part = Trainer(supervised_settings(tmp_path, "part", demo_split, f"data.candidates={candidates}", "data.limit=9"))
    assert len(whole.train_ids) > 9 and len(part.train_ids) == 9
    assert set(part.train_ids) < set(whole.train_ids) and part.val_ids == whole.val_ids
    assert part.train_ids == [q for q in whole.train_ids if q in set(part.train_ids)]  # original order
    assert part.examples.query_ids == part.train_ids  # batches are drawn from these
    assert limit_training(whole.train_ids, 9, 13) == limit_training(whole.train_ids, 9, 13)
    assert limit_training(whole.train_ids, 9, 13) != limit_training(whole.train_ids, 9, 14)
    assert limit_training(whole.train_ids, None, 13) == limit_training(whole.train_ids, 10**6, 13) == whole.train_ids


@pytest.mark.shared
def test_scifact_validation_split_holds_no_test_claim():
    data = shared_collection("beir-scifact")
    judged = read_judged({"dir": str(data)})
    test = read_topics_file(data / "queries.tsv")
    _, val_ids = carve_validation(list(judged.queries), 200, 13)
    assert len(val_ids) == 200
    assert not set(val_ids) & {q.id for q in test}
    assert not {normalized_text(judged.queries[q]) for q in val_ids} & {normalized_text(q.text) for q in test}


def test_mined_negatives_never_contain_a_positive_of_their_query(demo_candidates):
    judged, candidates, _ = demo_candidates
    # BM25 finds most positives near the top: exactly where negatives are drawn from
    assert sum(1 for q, hits in candidates.items() for d, _ in hits[:5] if d in judged.qrels[q]) > 20
    settings = load_settings(SUPERVISED_CONFIG, ["batch_size=8", "negatives_per_query=6", "negatives.ranks=[0, 20]"])
    examples = SupervisedExamples(judged, list(judged.queries), settings)
    examples.set_candidates("bm25", candidates)
    drawn = 0
    for number in range(40):
        for example in examples.batch(number):
            qid, (positive, *negatives) = example.ids
            assert positive in judged.qrels[qid] and example.positive == judged.corpus[positive]
            assert len(negatives) == 6 and not set(negatives) & set(judged.qrels[qid])
            drawn += len(negatives)
    assert drawn == 40 * 8 * 6
    # the margin guard skips candidates scored far above the query's positive
    qid = next(q for q, hits in candidates.items() if hits[0][0] not in judged.qrels[q]
               and any(d in judged.qrels[q] for d, _ in hits))
    best_positive = max(s for d, s in candidates[qid] if d in judged.qrels[qid])
    skipped = above_margin(candidates[qid], judged.qrels[qid], 0.0)
    assert candidates[qid][0][0] in skipped and all(s > best_positive for d, s in candidates[qid] if d in skipped)


def test_the_ensemble_teacher_scores_a_document_the_same_whatever_is_drawn_with_it(demo_candidates):
    judged, candidates, _ = demo_candidates
    settings = load_settings(SUPERVISED_CONFIG, ["teacher.kind=ensemble", "teacher.bm25_weight=0.5", "loss=kl"])
    examples = SupervisedExamples(judged, list(judged.queries), settings)
    examples.set_candidates("bm25", candidates)
    qid = next(q for q, hits in candidates.items() if len(hits) >= 10)
    hits = candidates[qid]
    # the starting model's scores, made to disagree with BM25's order so that the mix differs from both
    known = {d: float(i) for i, (d, _) in enumerate(hits)}
    examples.teacher = {qid: known}
    a, b, c = hits[0][0], hits[1][0], hits[5][0]
    pair, triple = examples.teacher_scores(qid, [a, b]), examples.teacher_scores(qid, [a, b, c])
    assert pair == pytest.approx(triple[:2])
    # by hand: each retriever standardised over the query's known documents, mixed half and half, put back on
    # the model's scale
    model = [known[d] for d, _ in hits]
    bm25 = [s for _, s in hits]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    std = lambda xs: math.sqrt(mean([(x - mean(xs)) ** 2 for x in xs]))  # noqa: E731
    expected = [(0.5 * (known[d] - mean(model)) / std(model) + 0.5 * (s - mean(bm25)) / std(bm25)) * std(model)
                + mean(model) for d, s in (hits[0], hits[1], hits[5])]
    assert triple == pytest.approx(expected)
    # BM25 ranks a above b and the model the other way round: the pair keeps the size of both differences
    assert triple[0] - triple[1] == pytest.approx(expected[0] - expected[1]) and triple[0] != triple[1]


def final_weights(output) -> dict:
    from safetensors.torch import load_file
    return load_file(str(sorted(output.glob("checkpoint-*"))[-1] / "model.safetensors"))


@pytest.mark.slow
def test_resuming_a_run_gives_the_weights_of_an_uninterrupted_run(tmp_path, demo_split, demo_candidates):
    """Everything a run carries across steps: optimizer, schedules, dropout's random state, the batch order and
    negatives drawn, negatives re-mined with the model, the teacher's scores, the validation curve."""
    _, _, candidates = demo_candidates
    common = [f"data.candidates={candidates}", "negatives.sources=[bm25, model]", "negatives.remine_every=2",
              "teacher.kind=ensemble", "loss=kl"]
    whole = train(supervised_settings(tmp_path, "whole", demo_split, *common), progress=False)
    train(supervised_settings(tmp_path, "parts", demo_split, *common, "max_steps=2"), progress=False)
    resumed = train(supervised_settings(tmp_path, "parts", demo_split, *common), resume=True, progress=False)
    reference, again = final_weights(tmp_path / "whole"), final_weights(tmp_path / "parts")
    assert reference.keys() == again.keys()
    assert all(torch.equal(reference[name], again[name]) for name in reference)
    summary = [json.loads((final / "training.json").read_text()) for final in (whole, resumed)]
    untimed = [[{k: v for k, v in point.items() if k != "seconds"} for point in s["curve"]] for s in summary]
    assert summary[0]["history"] == summary[1]["history"] and untimed[0] == untimed[1]
    assert [p["step"] for p in summary[0]["curve"]] == [0, 2, 4]
    assert (tmp_path / "whole" / "validation.png").stat().st_size > 0


def test_a_resumed_inference_free_run_saves_after_its_starting_checkpoint_is_pruned(tmp_path, demo_split,
                                                                                   demo_candidates):
    """Pruning deletes the checkpoint a run resumed from once a newer and a better one exist; the inference-free
    query side must not need its files afterwards (it once reloaded its tokenizer from there when saving)."""
    import shutil
    _, _, candidates = demo_candidates
    common = [f"data.candidates={candidates}", "query_model=idf", "checkpoint_every=1", "validation.every=100"]
    train(supervised_settings(tmp_path, "if", demo_split, *common, "max_steps=1"), progress=False)
    trainer = Trainer(supervised_settings(tmp_path, "if", demo_split, *common, "max_steps=3"), resume=True)
    assert trainer.step == 1
    shutil.rmtree(tmp_path / "if" / "checkpoint-000001")  # what _prune does once step 2 is saved and not the best
    final = trainer.run(progress=False)
    assert json.loads((final / "query_model.json").read_text())["query_model"] == "idf"
    assert (tmp_path / "if" / "checkpoint-000003").is_dir()


@pytest.mark.slow
def test_training_runs_without_java_or_pyserini_given_mined_candidates(tmp_path, demo_split, demo_candidates):
    """With BM25's candidates mined beforehand, training (model-mined negatives, teacher, validation) needs neither
    Pyserini nor Java: a process where both fail to import trains to the end."""
    import subprocess
    import sys
    _, _, candidates = demo_candidates
    overrides = [f"data.dir={demo_split}", f"data.candidates={candidates}", f"output={tmp_path / 'nojava'}",
                 "negatives.sources=[bm25, model]", "teacher.kind=model", "loss=margin-mse", "max_steps=2",
                 "batch_size=4", "doc_max_length=64", "validation.queries=4", "validation.every=2"]
    script = ("import sys; sys.modules.update(pyserini=None, jnius=None)\n"
              "from splade_anserini.cli import main\n"
              f"code = main(['train', '--config', {str(SUPERVISED_CONFIG)!r}, '--quiet', *{overrides!r}])\n"
              "assert not any(m.startswith(('pyserini', 'jnius', 'splade_anserini.lucene')) for m in sys.modules"
              " if sys.modules[m] is not None), 'Java-side modules were imported'\n"
              "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "nojava" / "final" / "model.safetensors").is_file()


@pytest.mark.slow
def test_train_then_test_through_the_pipeline(tmp_path, demo_split, demo_candidates, capsys):
    """`train --test`: the best checkpoint is evaluated on the test topics by encode, index, search and eval; the
    last line names the measure and the run, whose metrics file agrees."""
    import re

    from splade_anserini.cli import main
    _, _, candidates = demo_candidates
    test_config = tmp_path / "demo-test.yaml"
    test_config.write_text(f"name: demo-test\ndata: {demo_split}\nmodel: splade-tiny\nsearch: {{k: 100}}\n"
                           f"measures: [nDCG@10, R@100]\n", encoding="utf-8")
    overrides = [f"data.dir={demo_split}", f"data.candidates={candidates}", f"output={tmp_path / 'run'}",
                 f"test.config={test_config}", "max_steps=2", "batch_size=4", "doc_max_length=64",
                 "validation.queries=4", "validation.every=1", "validation.remove_query=false"]
    assert main(["train", "--config", str(SUPERVISED_CONFIG), "--quiet", "--test", *overrides]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    match = re.fullmatch(r"nDCG@10 (\d\.\d{4}) run=(\S+)", last)
    assert match, last
    run = Path(match.group(2))
    assert run.is_file() and run.is_relative_to(tmp_path / "run" / "test")
    metrics = json.loads(run.with_name(run.name.replace(".trec", ".metrics.json")).read_text())
    assert f"{metrics['metrics']['nDCG@10']:.4f}" == match.group(1) and metrics["queries_in_qrels"] == TEST_QUERIES
    summary = json.loads((tmp_path / "run" / "final" / "training.json").read_text())
    assert summary["final_from"] == f"checkpoint-{summary['best']['step']:06d}"
