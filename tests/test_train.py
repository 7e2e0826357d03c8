"""The training module: losses against hand computation, the schedule, and short real training runs of splade-tiny."""

import json
import math

import pytest
import torch
from conftest import DEMO, ROOT

from splade_anserini.errors import InputError
from splade_anserini.formats.readers import read_corpus
from splade_anserini.model.splade import Splade, pool
from splade_anserini.train.data import Example, pseudo_queries, read_examples
from splade_anserini.train.losses import (
    FlopsRegularizer,
    InBatchContrastive,
    KLDistillation,
    L1Regularizer,
    MarginMSE,
    QuadraticWarmup,
)
from splade_anserini.train.trainer import Trainer, load_settings, train

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
    batch = trainer.examples[:16]
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
    with pytest.raises(InputError, match="one"):
        settings(tmp_path, "x", "data.source=t.tsv")
    with pytest.raises(InputError, match="margin-MSE takes one negative"):
        settings(tmp_path, "x", "loss=margin-mse", "negatives_per_query=2")
