"""Ranking losses, sparsity regularisers and the regulariser schedule, as small classes over SPLADE weight tensors.

Scores are dot products of (batch, vocab) query and document weights. Ranking losses: in-batch contrastive (each
query against its positive, its own and the other queries' hard negatives, and the other queries' positives),
margin-MSE and KL distillation from teacher scores. Regularisers (Formal et al.): FLOPS, ``sum_j (mean_i w_ij)^2``,
which pushes toward rarely active terms, and L1, ``mean_i sum_j |w_ij|``; their weight grows quadratically to its
final value over the first steps, as in the SPLADE papers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class InBatchContrastive(torch.nn.Module):
    """Cross-entropy of each query over every document of the batch; the query's own positive is the target.

    ``docs`` holds, for each query, its positive then its ``n`` negatives: shape (batch * (1 + n), vocab)."""

    def forward(self, queries: torch.Tensor, docs: torch.Tensor) -> torch.Tensor:
        group = docs.shape[0] // queries.shape[0]
        scores = queries @ docs.T
        targets = torch.arange(queries.shape[0], device=queries.device) * group
        return F.cross_entropy(scores, targets)


class MarginMSE(torch.nn.Module):
    """Mean squared error between the student's and the teacher's score margins, positive minus negative."""

    def forward(self, queries: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor,
                teacher_positive: torch.Tensor, teacher_negative: torch.Tensor) -> torch.Tensor:
        student = (queries * positives).sum(-1) - (queries * negatives).sum(-1)
        return F.mse_loss(student, teacher_positive - teacher_negative)


class KLDistillation(torch.nn.Module):
    """KL(teacher || student) of the softmax over each query's candidates; ``docs`` is (batch, candidates, vocab)."""

    def forward(self, queries: torch.Tensor, docs: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        student = torch.einsum("bv,bcv->bc", queries, docs)
        return F.kl_div(F.log_softmax(student, -1), F.log_softmax(teacher, -1), log_target=True,
                        reduction="batchmean")


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
