"""SPLADE weights with gradients, for training, at a fraction of the cost of the textbook computation.

Max pooling's weight of term ``j`` is ``log(1 + relu(max_i logit_ij))``; its gradient flows through one position
per (text, term), the argmax, and only where the term is active (``max_i logit_ij > 0``: elsewhere relu's gradient
is zero). So the (batch x length x vocab) logits never need to exist with gradients: the vocabulary projection runs
once without autograd, one text at a time as inference does, to find each term's argmax and whether it is active;
then, with autograd, only the active (text, term) pairs are recomputed, as the dot product of the hidden state at
the argmax with the term's projection row. The values equal :func:`~splade_anserini.model.splade.pool`'s to float
rounding and the gradients are the same (the argmax receives the whole gradient, as ``amax``'s does when the max is
unique); ``tests/test_train.py`` checks both. On the 2-core CPU a step of splade-tiny is several times faster, and
memory no longer grows with length x vocab x batch.

Sum pooling sums over every position, so it keeps the textbook computation.
"""

from __future__ import annotations

import torch

from ..model.splade import Splade, pool


def _active_argmax(hidden: torch.Tensor, lengths: list, weight: torch.Tensor, bias: torch.Tensor | None):
    """For each text: the vocabulary entries whose max logit over the real tokens is positive, and the position of
    that max. Returns (text index, term index, position) tensors."""
    texts, terms, positions = [], [], []
    with torch.no_grad():
        for row, length in enumerate(lengths):
            logits = torch.mm(weight, hidden[row, :length].T)  # (vocab, length)
            top, where = logits.max(dim=1)
            if bias is not None:
                top = top + bias
            active = torch.nonzero(top > 0, as_tuple=True)[0]
            texts.append(torch.full_like(active, row))
            terms.append(active)
            positions.append(where[active])
    return torch.cat(texts), torch.cat(terms), torch.cat(positions)


def training_weights(splade: Splade, batch: dict, pooling: str = "max") -> torch.Tensor:
    """(batch, vocab) SPLADE weights of a tokenized batch, differentiable with respect to the model's parameters."""
    device = splade.device
    mask = batch["attention_mask"].to(device)
    if pooling != "max":
        logits = splade.mlm(input_ids=batch["input_ids"].to(device), attention_mask=mask).logits
        return pool(logits.float(), mask, pooling, activate=splade.activate)
    hidden = splade.hidden_states({"input_ids": batch["input_ids"], "attention_mask": mask}).float()
    weight, bias = splade.projection.weight, splade.projection.bias
    lengths = mask.sum(dim=1).tolist()
    texts, terms, positions = _active_argmax(hidden.detach(), lengths, weight.detach().float(),
                                             None if bias is None else bias.detach().float())
    values = (hidden[texts, positions] * weight[terms].float()).sum(-1)
    if bias is not None:
        values = values + bias[terms].float()
    out = torch.zeros(len(lengths), weight.shape[0], device=device, dtype=values.dtype)
    return out.index_put((texts, terms), splade.activate(values))
