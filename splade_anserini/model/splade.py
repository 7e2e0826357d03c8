"""The SPLADE model: a masked-LM transformer whose logits become one sparse term-weight vector per text.

For a text with real (non-padding) tokens i and vocabulary entries j, SPLADE's weight is
``w_j = max_i log(1 + relu(logit_ij))`` (max pooling) or ``sum_i log(1 + relu(logit_ij))`` (sum pooling, older
checkpoints). Quantized weights are ``round(scale * w_j)``; zeros are dropped. A sentence-transformers model whose
SpladePooling asks for ``log1p_relu`` (OpenSearch's) gets ``log(1 + log(1 + relu(.)))`` for ``log(1 + relu(.))``.

Max pooling is computed without the (batch x length x vocab) activation tensor: ``log(1 + relu(.))`` is monotone,
so the max of the raw logits over a text's real tokens, activated once, is the same number. The vocabulary
projection (which dominates the cost of small models) runs only on real tokens, one text at a time, so memory stays
at (length x vocab) whatever the batch size. :meth:`Splade.reference_weights` keeps the textbook formula for checks.

A text's vector does not depend on the other texts it is encoded with. The transformer's floats depend on the
padded length of the batch a text sits in, so every text is padded to its own length bucket (its token count
rounded up to a multiple of :data:`LENGTH_BUCKET`) and a batch only ever holds texts of one bucket. On the CPU the
rows of a batch are then computed independently of each other and of the thread count (checked by
``tests/test_batch_invariance.py``), so batch size, input order, shards, part files and workers cannot change a
single weight.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy
import torch

from ..errors import InputError, SetupError
from ..settings import DTYPES as DTYPE_NAMES
from ..settings import DEFAULT_POOLING, ENCODE, MIN_MAX_LENGTH, POOLINGS
from .batching import LENGTH_BUCKET, WINDOW_BATCHES, bucket_length, plan_batches
from .models import resolve_model
from .prefetch import prefetch

ROW_MULTIPLE = 8
# "per-text": one (vocab x length) GEMM per text, fastest on CPUs; "packed": the real tokens of a whole batch in one
# (tokens x vocab) GEMM, with max, activation, quantization and the choice of non-zero weights on the device, so a GPU
# gets large kernels and only (text, term, weight) triples cross to the host.
PROJECTIONS = ("per-text", "packed")
# Bound on the logits the packed projection holds at once (tokens x vocab floats): 2^28 floats = 1 GiB.
PACKED_LOGITS = 1 << 28
DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES}


def activation(logits: torch.Tensor) -> torch.Tensor:
    """SPLADE's saturation ``log(1 + relu(x))``, written as in the papers and Pyserini (not log1p) on purpose,
    so our weights are the same floating-point numbers as theirs."""
    return torch.log(1 + torch.relu(logits))


def double_activation(logits: torch.Tensor) -> torch.Tensor:
    """``log(1 + log(1 + relu(x)))``: sentence-transformers' ``log1p_relu`` (OpenSearch's SPLADE models), which
    saturates large logits further. Monotone like :func:`activation`, so max pooling may take the max first."""
    return activation(activation(logits))


# SpladePooling's activation_function -> ours
ACTIVATIONS = {"relu": activation, "log1p_relu": double_activation}


def quantize(weights: torch.Tensor, scale: float) -> torch.Tensor:
    """:func:`splade_anserini.formats.quantization.quantize` on a tensor: ``round(scale * w)`` as integers,
    computed in float64 like Python's ``round(scale * w)`` (half to even)."""
    return torch.round(weights.double() * scale).to(torch.int64)


def pool(logits: torch.Tensor, attention_mask: torch.Tensor, pooling: str = "max", *,
         textbook: bool = False, activate=activation) -> torch.Tensor:
    """SPLADE's weights from full (batch, length, vocab) logits: ``log(1 + relu(.))`` pooled over the real tokens.

    Differentiable (training uses it). Max pooling takes the max of the raw logits first and activates once, which
    gives the same values and gradients with one activation per text instead of one per token; ``textbook=True``
    computes the formula as written (:meth:`Splade.reference_weights`, for checks)."""
    mask = attention_mask.unsqueeze(-1)
    if pooling == "max" and not textbook:
        return activate(logits.masked_fill(mask == 0, float("-inf")).amax(dim=1))
    activated = activate(logits) * mask.to(logits.dtype)
    return activated.amax(dim=1) if pooling == "max" else activated.sum(dim=1)


@dataclass
class Tokenized:
    """Texts as token ids (special tokens added, cut at the max length), with which of them were cut."""
    ids: list
    truncated: list

    def __len__(self):
        return len(self.ids)


@dataclass
class Triples:
    """The positive quantized weights of a batch: ``rows[i]`` (text), ``cols[i]`` (term id), ``values[i]``, sorted
    by text, then term id."""
    rows: numpy.ndarray
    cols: numpy.ndarray
    values: numpy.ndarray
    texts: int

    def split(self) -> list[tuple[numpy.ndarray, numpy.ndarray]]:
        """(term ids, weights) per text."""
        bounds = numpy.zeros(self.texts + 1, dtype=numpy.int64)
        numpy.cumsum(numpy.bincount(self.rows, minlength=self.texts), out=bounds[1:])
        return [(self.cols[a:b], self.values[a:b]) for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist())]


def _parent_and_name(root: torch.nn.Module, target: torch.nn.Module):
    for name, module in root.named_modules():
        for child_name, child in module.named_children():
            if child is target:
                return module, child_name
    raise SetupError("Could not locate the vocabulary projection inside the masked-LM model.")


@contextlib.contextmanager
def _no_loading_bar():
    """Transformers' "Loading weights" bar, one per model loaded, says nothing a caller needs: off while loading."""
    from transformers.utils import logging as hf_logging
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def position_limit(config, tokenizer) -> int | None:
    """How many tokens the model can take: its position embeddings, and the tokenizer's own limit where it states a
    smaller one (RoBERTa-style models reserve positions for padding); None when neither says."""
    limits = [getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    # tokenizers without a stated limit report a huge sentinel (int(1e30))
    limits = [n for n in limits if isinstance(n, int) and 0 < n < 1_000_000]
    return min(limits) if limits else None


class Splade:
    """A SPLADE encoder over any Hugging Face masked-LM checkpoint.

    ``model`` is a local directory (a masked LM, or a sentence-transformers SparseEncoder: see
    :mod:`.layouts`), a Hugging Face id, or an alias such as ``splade-tiny``. ``pooling`` None is the model's own:
    its SpladePooling's for a SparseEncoder, max for a bare masked LM; a SparseEncoder refuses another.
    """

    def __init__(self, model: str | Path = ENCODE.model, *, max_length: int = ENCODE.max_length,
                 pooling: str | None = None, device: str | None = None, dtype: str = "float32",
                 projection: str | None = None):
        from .layouts import read_layout
        self.name = str(model)
        self.path = resolve_model(str(model))
        self.layout = read_layout(self.path)
        declared = self.layout.pooling
        if pooling is not None and declared is not None and pooling != declared:
            raise InputError(f"{self.path} is a sentence-transformers model pooled by {declared} (its SpladePooling "
                             f"config); pooling {pooling} would not give its vectors: leave the pooling unset or "
                             f"pass {declared}")
        pooling = pooling or declared or DEFAULT_POOLING
        # a SparseEncoder's SpladePooling may ask for log1p_relu; a bare masked LM is SPLADE's log(1 + relu(x))
        self.activation = self.layout.document.activation
        self.activate = ACTIVATIONS[self.activation]
        if pooling not in POOLINGS:
            raise InputError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
        if projection is not None and projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}, not {projection!r}")
        if max_length < MIN_MAX_LENGTH:
            raise InputError(f"max_length must be at least {MIN_MAX_LENGTH} (two special tokens and one word), "
                             f"not {max_length}")
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        self.max_length = max_length
        self.pooling = pooling
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.projection_mode = projection or ("per-text" if self.device.type == "cpu" else "packed")
        if dtype not in DTYPES:
            raise InputError(f"dtype must be one of {tuple(DTYPES)}, not {dtype!r}")
        # Lower precision changes quantized weights (measured by benchmarks/encode_throughput.py); fp32 is exact.
        self.dtype = DTYPES[dtype]
        self._low_precision = None
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.layout.mlm)
            with _no_loading_bar():
                self.mlm = AutoModelForMaskedLM.from_pretrained(self.layout.mlm).to(self.device).eval()
        except Exception as err:  # also a damaged weights file (safetensors raises its own error type)
            raise SetupError(f"Could not load a masked-LM model from {self.layout.mlm}: {type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else 'no detail'}") from err
        limit = position_limit(self.mlm.config, self.tokenizer)
        if limit is not None and max_length > limit:  # longer inputs end in a tensor-size error deep inside torch
            raise InputError(f"max length {max_length} is more than the {limit} token positions of model "
                             f"{self.path} (max_position_embeddings): use --max-length (for queries "
                             f"--query-max-length) of at most {limit}")
        # The projection onto the vocabulary, kept aside; the model body then yields the transformed hidden
        # states (for BERT: after the MLM head's dense+GELU+LayerNorm) that feed it.
        self.projection = self.mlm.get_output_embeddings()
        if not isinstance(self.projection, torch.nn.Linear):
            raise SetupError(f"{self.path}: the output embeddings are not a linear layer; not a masked-LM head.")
        self._projection_slot = _parent_and_name(self.mlm, self.projection)
        vocab = self.tokenizer.get_vocab()
        self.vocab = [""] * len(vocab)
        for token, index in vocab.items():
            self.vocab[index] = token
        if len(self.vocab) != self.projection.out_features:
            # Some checkpoints pad the output layer beyond the tokenizer's vocabulary; those ids never occur.
            self.vocab += [f"[unused-{i}]" for i in range(len(self.vocab), self.projection.out_features)]
        self._vocab_array = numpy.array(self.vocab, dtype=object)

    def _projection_params(self):
        weight, bias = self.projection.weight, self.projection.bias
        if self.dtype != torch.float32:
            if self._low_precision is None:
                self._low_precision = (weight.to(self.dtype), None if bias is None else bias.to(self.dtype))
            return self._low_precision
        return weight, bias

    @property
    def vocab_size(self) -> int:
        return self.projection.out_features

    def tokenize(self, texts: Sequence[str], max_length: int | None = None):
        """A padded batch of ``texts``, cut at ``max_length`` tokens (default: the model's max length) and padded to
        the length bucket of the longest (for texts of one bucket, the length each has alone)."""
        return self.tokenizer(list(texts), max_length=max_length or self.max_length, truncation=True,
                              padding="longest", pad_to_multiple_of=LENGTH_BUCKET, return_attention_mask=True,
                              return_token_type_ids=False, return_tensors="pt")

    def token_ids(self, texts: Sequence[str], max_length: int | None = None) -> Tokenized:
        """Token ids of ``texts``, unpadded, and which texts were longer than ``max_length`` (one tokenization:
        the tokenizer's overflow rows tell which were cut)."""
        if not texts:
            return Tokenized([], [])
        out = self.tokenizer(list(texts), max_length=max_length or self.max_length, truncation=True,
                             return_overflowing_tokens=True, return_attention_mask=False,
                             return_token_type_ids=False)
        ids: list = [None] * len(texts)
        truncated = [False] * len(texts)
        for row, text in zip(out["input_ids"], out["overflow_to_sample_mapping"]):
            if ids[text] is None:
                ids[text] = row
            else:
                truncated[text] = True
        return Tokenized(ids, truncated)

    def pad(self, ids: Sequence[list]) -> dict:
        """A batch of token id lists padded to the length bucket of the longest, as model inputs."""
        length = bucket_length(max(map(len, ids)))
        input_ids = torch.full((len(ids), length), self.tokenizer.pad_token_id or 0, dtype=torch.long)
        mask = torch.zeros((len(ids), length), dtype=torch.long)
        for row, tokens in enumerate(ids):
            input_ids[row, :len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            mask[row, :len(tokens)] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    def hidden_states(self, batch) -> torch.Tensor:
        """Hidden states right before the vocabulary projection, (batch, length, hidden): what the projection (and
        training's sparse projection, :mod:`splade_anserini.train.encoder`) turns into vocabulary logits."""
        parent, name = self._projection_slot
        setattr(parent, name, torch.nn.Identity())
        try:
            out = self.mlm(input_ids=batch["input_ids"].to(self.device),
                           attention_mask=batch["attention_mask"].to(self.device))
        finally:
            setattr(parent, name, self.projection)
        return out.logits

    def weights(self, texts: Sequence[str], batch_size: int = ENCODE.batch_size) -> torch.Tensor:
        """SPLADE weights, a dense (len(texts), vocab) float32 tensor on the CPU, in input order."""
        out = torch.zeros(len(texts), self.vocab_size)
        tokenized = self.token_ids(texts)
        for batch in plan_batches([len(ids) for ids in tokenized.ids], batch_size):
            out[batch] = self.batch_weights(self.pad([tokenized.ids[i] for i in batch]))
        return out

    def _autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    @torch.inference_mode()
    def batch_weights(self, batch) -> torch.Tensor:
        """SPLADE weights of an already tokenized batch (see :meth:`tokenize`)."""
        with self._autocast():
            hidden = self.hidden_states(batch)
        if self.dtype != torch.float32:
            hidden = hidden.to(self.dtype)
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        weight, bias = self._projection_params()
        pooled = torch.empty(len(lengths), self.vocab_size, device=self.device, dtype=hidden.dtype)
        for row, length in enumerate(lengths):
            real = hidden[row, :length]  # padding is on the right: the first `length` positions are real
            # (vocab x length) rather than (length x vocab): the faster GEMM layout on CPU, and the max over a
            # text's tokens becomes a reduction along contiguous memory.
            if self.pooling == "max" and length % ROW_MULTIPLE:
                # GEMM kernels are much faster on row counts that are multiples of 8; repeating a real token
                # leaves the max unchanged (bit for bit).
                real = torch.cat([real, real[-1:].expand(ROW_MULTIPLE - length % ROW_MULTIPLE, -1)])
            logits = torch.mm(weight, real.T)
            if self.pooling == "max":
                # fl(x + b) is monotone in x, so adding the bias after the max gives the same float
                top = logits.amax(dim=1)
                pooled[row] = self.activate(top + bias if bias is not None else top)
            else:
                if bias is not None:
                    logits += bias[:, None]
                pooled[row] = self.activate(logits).sum(dim=1)
        return pooled.float().cpu()

    @torch.inference_mode()
    def reference_weights(self, texts: Sequence[str]) -> torch.Tensor:
        """The textbook formula over the full (batch x length x vocab) tensor, on the same length buckets as
        :meth:`weights`; slow, for checks only."""
        out = torch.zeros(len(texts), self.vocab_size)
        tokenized = self.token_ids(texts)
        for batch in plan_batches([len(ids) for ids in tokenized.ids], len(texts)):
            inputs = self.pad([tokenized.ids[i] for i in batch])
            mask = inputs["attention_mask"].to(self.device)
            logits = self.mlm(input_ids=inputs["input_ids"].to(self.device), attention_mask=mask).logits
            out[batch] = pool(logits, mask, self.pooling, textbook=True, activate=self.activate).float().cpu()
        return out

    @torch.inference_mode()
    def batch_triples(self, batch, scale: float) -> Triples:
        """The positive quantized weights of a tokenized batch, by the model's projection mode."""
        if self.projection_mode == "packed":
            return self._packed_triples(batch, scale)
        quantized = quantize(self.batch_weights(batch), scale)
        rows, cols = torch.nonzero(quantized > 0, as_tuple=True)  # row-major: each row's entries are contiguous
        return Triples(rows.numpy(), cols.numpy(), quantized[rows, cols].numpy(), quantized.shape[0])

    def _packed_triples(self, batch, scale: float) -> Triples:
        """The projection over all real tokens of the batch at once, in chunks of at most :data:`PACKED_LOGITS`
        logits, each chunk's maxima gathered per text on the device (a text may span chunks: max is exact in any
        order); activation, quantization (float64, half to even, like the host) and the non-zero selection stay on
        the device too. The (tokens x vocab) layout is nn.Linear's, so the floats are the textbook formula's."""
        with self._autocast():
            hidden = self.hidden_states(batch)
        if self.dtype != torch.float32:
            hidden = hidden.to(self.dtype)
        mask = batch["attention_mask"].to(self.device).bool()
        real = hidden[mask]  # (tokens, hidden), text after text
        owner = torch.arange(mask.shape[0], device=self.device).repeat_interleave(mask.sum(dim=1))
        weight, bias = self._projection_params()
        texts, chunk = mask.shape[0], max(1, PACKED_LOGITS // self.vocab_size)
        fill = float("-inf") if self.pooling == "max" else 0.0
        pooled = torch.full((texts, self.vocab_size), fill, device=self.device, dtype=real.dtype)
        for start in range(0, real.shape[0], chunk):
            logits = real[start:start + chunk] @ weight.T
            index = owner[start:start + chunk, None].expand_as(logits)
            if self.pooling == "max":
                pooled.scatter_reduce_(0, index, logits, reduce="amax")
            else:
                pooled.scatter_add_(0, index, self.activate(logits + bias if bias is not None else logits))
        if self.pooling == "max":
            # fl(x + b) is monotone in x, so adding the bias after the max gives the same float
            pooled = self.activate(pooled + bias if bias is not None else pooled)
        quantized = quantize(pooled.float(), scale).to(torch.int32)
        rows, cols = torch.nonzero(quantized > 0, as_tuple=True)
        values = quantized[rows, cols]
        moved = [t.to("cpu", non_blocking=True) for t in (rows, cols, values)]
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()
        return Triples(moved[0].numpy().astype(numpy.int64), moved[1].numpy().astype(numpy.int64),
                       moved[2].numpy().astype(numpy.int64), texts)

    def vectors(self, triples: Triples) -> list[dict]:
        """{token: int} dicts, in vocabulary order, from triples."""
        return [dict(zip(self._vocab_array[cols].tolist(), values.tolist())) for cols, values in triples.split()]

    def sparse(self, weights: torch.Tensor, scale: float) -> list[dict]:
        """Quantize a (batch, vocab) weight tensor into {token: int} dicts without zeros, in vocabulary order."""
        quantized = quantize(weights, scale)
        rows, cols = torch.nonzero(quantized > 0, as_tuple=True)
        return self.vectors(Triples(rows.numpy(), cols.numpy(), quantized[rows, cols].numpy(), weights.shape[0]))

    def encode(self, texts: Sequence[str], scale: float, batch_size: int = ENCODE.batch_size) -> list[dict]:
        """Quantized sparse vectors {token: int} of ``texts``, in input order. Texts are taken in windows of
        :data:`WINDOW_BATCHES` batches; the next window is tokenized while the model encodes this one."""
        window = batch_size * WINDOW_BATCHES
        windows = (self.token_ids(texts[start:start + window]) for start in range(0, len(texts), window))
        out: list = []
        for tokenized in prefetch(windows):
            out += self.encode_tokenized(tokenized, scale, batch_size)
        return out

    def encode_tokenized(self, tokenized: Tokenized, scale: float,
                         batch_size: int = ENCODE.batch_size) -> list[dict]:
        """:meth:`encode` for texts already tokenized by :meth:`token_ids` (so tokenizing the next texts can
        overlap with the model's work on these)."""
        out: list = [None] * len(tokenized)
        for batch, triples in self.encode_triples(tokenized, scale, batch_size):
            for index, vector in zip(batch, self.vectors(triples)):
                out[index] = vector
        return out

    def encode_triples(self, tokenized: Tokenized, scale: float, batch_size: int = ENCODE.batch_size):
        """(text indices, :class:`Triples`) per batch of tokenized texts, in the order the model runs them."""
        for batch in plan_batches([len(ids) for ids in tokenized.ids], batch_size):
            yield batch, self.batch_triples(self.pad([tokenized.ids[i] for i in batch]), scale)
