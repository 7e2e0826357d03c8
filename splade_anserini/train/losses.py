"""Ranking losses, sparsity regularisers and their composition, as small classes over SPLADE weight tensors.

Scores are dot products of (batch, vocab) query and document weights. Ranking losses: contrastive (each query
against its positive, its hard negatives and, in-batch, every other query's documents; scores divided by a
temperature), margin-MSE and KL distillation from teacher scores; each is a :class:`RankingLoss`, named as a
training config names it (:data:`RANKING_LOSSES`), that scores a batch laid out as the trainer lays it out
(:meth:`RankingLoss.batch_loss`). Regularisers (Formal et al.): FLOPS, ``sum_j (mean_i w_ij)^2``, which pushes
toward rarely active terms, and L1, ``mean_i sum_j |w_ij|``. :class:`SpladeLoss` composes them as
sentence-transformers' ``SpladeLoss(model, loss=..., document_regularizer_weight=...)`` does: the ranking loss
object plus a query and a document regulariser, each with its own weight, quadratic warm-up and optional threshold
(only vectors with more active terms than the threshold are regularised), and reports every part by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class RankingLoss(torch.nn.Module):
    """A ranking loss over a training batch: ``queries`` (batch, vocab) and ``docs`` (batch * group, vocab), each
    query's positive then its negatives, and for the distillation losses (``needs_teacher``) the teacher's
    (batch, group) scores of those documents. ``name`` is the loss as a training config names it (``loss:``)."""

    name: str
    needs_teacher = False

    @classmethod
    def from_settings(cls, settings) -> RankingLoss:
        """The loss as the training settings configure it (only the contrastive loss has settings)."""
        return cls()

    def batch_loss(self, queries: torch.Tensor, docs: torch.Tensor,
                   teacher: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class InBatchContrastive(RankingLoss):
    """Cross-entropy of each query over every document of the batch (``in_batch``) or over its own documents only;
    the query's own positive is the target. Scores are divided by ``temperature``: SPLADE scores are unbounded dot
    products, tens of units apart on long documents, which makes the softmax nearly one-hot without it.

    ``docs`` holds, for each query, its positive then its ``n`` negatives: shape (batch * (1 + n), vocab)."""

    name = "contrastive"

    def __init__(self, temperature: float = 1.0, in_batch: bool = True):
        super().__init__()
        if temperature <= 0:
            raise ValueError("the temperature must be positive")
        self.temperature, self.in_batch = temperature, in_batch

    @classmethod
    def from_settings(cls, settings) -> InBatchContrastive:
        return cls(settings.temperature, settings.in_batch)

    def batch_loss(self, queries: torch.Tensor, docs: torch.Tensor,
                   teacher: torch.Tensor | None = None) -> torch.Tensor:
        return self(queries, docs)

    def forward(self, queries: torch.Tensor, docs: torch.Tensor) -> torch.Tensor:
        group = docs.shape[0] // queries.shape[0]
        if self.in_batch:
            scores = queries @ docs.T
            targets = torch.arange(queries.shape[0], device=queries.device) * group
        else:
            scores = torch.einsum("bv,bgv->bg", queries, docs.view(queries.shape[0], group, -1))
            targets = torch.zeros(queries.shape[0], dtype=torch.long, device=queries.device)
        return F.cross_entropy(scores / self.temperature, targets)


class MarginMSE(RankingLoss):
    """Mean squared error between the student's and the teacher's score margins, positive minus negative; over a
    batch, the mean of the losses of the positive against each negative."""

    name, needs_teacher = "margin-mse", True

    def batch_loss(self, queries: torch.Tensor, docs: torch.Tensor,
                   teacher: torch.Tensor | None = None) -> torch.Tensor:
        group = docs.shape[0] // queries.shape[0]
        grouped = docs.view(queries.shape[0], group, -1)
        return sum(self(queries, grouped[:, 0], grouped[:, i], teacher[:, 0], teacher[:, i])
                   for i in range(1, group)) / (group - 1)

    def forward(self, queries: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor,
                teacher_positive: torch.Tensor, teacher_negative: torch.Tensor) -> torch.Tensor:
        student = (queries * positives).sum(-1) - (queries * negatives).sum(-1)
        return F.mse_loss(student, teacher_positive - teacher_negative)


class KLDistillation(RankingLoss):
    """KL(teacher || student) of the softmax over each query's candidates; ``docs`` is (batch, candidates, vocab)."""

    name, needs_teacher = "kl", True

    def batch_loss(self, queries: torch.Tensor, docs: torch.Tensor,
                   teacher: torch.Tensor | None = None) -> torch.Tensor:
        return self(queries, docs.view(queries.shape[0], -1, docs.shape[-1]), teacher)

    def forward(self, queries: torch.Tensor, docs: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        student = torch.einsum("bv,bcv->bc", queries, docs)
        return F.kl_div(F.log_softmax(student, -1), F.log_softmax(teacher, -1), log_target=True,
                        reduction="batchmean")


RANKING_LOSSES = {loss.name: loss for loss in (InBatchContrastive, MarginMSE, KLDistillation)}  # config: loss


def own_scores(queries: torch.Tensor, docs: torch.Tensor) -> torch.Tensor:
    """(batch, group) scores of each query with its own documents; ``docs`` is (batch * group, vocab)."""
    return torch.einsum("bv,bgv->bg", queries, docs.view(queries.shape[0], docs.shape[0] // queries.shape[0], -1))


class FlopsRegularizer(torch.nn.Module):
    """``sum_j (mean_i w_ij)^2``: the expected number of floating-point operations of a sparse dot product."""

    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        return (weights.abs().mean(dim=0) ** 2).sum()


class L1Regularizer(torch.nn.Module):
    """``mean_i sum_j |w_ij|``."""

    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        return weights.abs().sum(dim=-1).mean()


REGULARIZERS = {"flops": FlopsRegularizer, "l1": L1Regularizer}


class QuadraticWarmup:
    """A regulariser weight that grows as ``final * (step / steps)^2`` and stays at ``final`` after ``steps``."""

    def __init__(self, final: float, steps: int):
        if final < 0 or steps < 0:
            raise ValueError("the regulariser weight and its warm-up steps must not be negative")
        self.final, self.steps = final, steps

    def __call__(self, step: int) -> float:
        if self.steps == 0 or step >= self.steps:
            return self.final
        return self.final * (step / self.steps) ** 2


class Regularizer:
    """One side's regulariser (queries or documents) as :class:`SpladeLoss` applies it: a kind, a final weight
    reached by a quadratic warm-up, and an optional threshold of active terms below which a vector is left alone."""

    def __init__(self, kind: str, weight: float, warmup_steps: int, threshold: int | None = None):
        if kind not in REGULARIZERS:
            raise ValueError(f"regulariser must be one of {tuple(REGULARIZERS)}, not {kind!r}")
        self.kind, self.function = kind, REGULARIZERS[kind]()
        self.schedule, self.threshold = QuadraticWarmup(weight, warmup_steps), threshold

    def value(self, weights: torch.Tensor) -> torch.Tensor:
        if self.threshold is not None:
            active = (weights > 0).sum(dim=-1, keepdim=True)
            weights = weights * (active > self.threshold).to(weights.dtype)
        return self.function(weights)


class SpladeLoss:
    """A ranking loss (a :class:`RankingLoss`) plus a query and a document regulariser; ``loss(queries, docs, step,
    teacher)`` returns the total and its parts, named: the ranking loss's name, ``query_<kind>`` and
    ``document_<kind>`` (the regularisers' values before weighting) and ``query_weight``, ``document_weight`` (the
    weights at this step)."""

    def __init__(self, loss: RankingLoss, query_regularizer: Regularizer, document_regularizer: Regularizer):
        self.loss, self.query, self.document = loss, query_regularizer, document_regularizer

    @property
    def needs_teacher(self) -> bool:
        return self.loss.needs_teacher

    def __call__(self, queries: torch.Tensor, docs: torch.Tensor, step: int, teacher: torch.Tensor | None = None):
        ranking = self.loss.batch_loss(queries, docs, teacher)
        parts = {self.loss.name: ranking}
        total = ranking
        for side, regularizer, weights in (("query", self.query, queries), ("document", self.document, docs)):
            weight = regularizer.schedule(step)
            value = regularizer.value(weights)
            parts[f"{side}_{regularizer.kind}"] = value
            parts[f"{side}_weight"] = weight
            if weight:
                total = total + weight * value
        return total, {name: float(value.detach() if torch.is_tensor(value) else value)
                       for name, value in parts.items()}
