"""The trainer: a SPLADE model, training examples and a loss -> checkpoints that ``encode`` and ``search`` load.

Settings come from ``configs/train-*.yaml`` (see :data:`DEFAULTS`), overridable with ``key=value``. Each step
encodes a batch of queries and their documents with the masked-LM model, scores them, and minimises the ranking
loss plus the query and document regularisers (weights warmed up quadratically). Checkpoints are Hugging Face
model directories (``OUTPUT/checkpoint-<step>/``, the last one also as ``OUTPUT/final/``) holding the training state
too, so a run resumes where it stopped. Mixed precision (``dtype: float16|bfloat16``) applies on a GPU only.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
from pathlib import Path

import torch

from ..errors import InputError
from ..experiment.config import apply_override, merge_settings, read_yaml, slug
from ..formats.artifacts import follow_umask
from ..model.splade import Splade, pool
from ..settings import ENCODE
from .data import Example, pseudo_queries, read_examples
from .losses import REGULARIZERS, FlopsRegularizer, InBatchContrastive, KLDistillation, MarginMSE, QuadraticWarmup

LOSSES = ("contrastive", "margin-mse", "kl")
DEFAULTS = {
    "name": None,
    "model": ENCODE.model,
    "output": None,
    "data": {"source": None, "pseudo_queries": None, "negatives": "bm25", "limit": None},
    "negatives_per_query": 1,
    "loss": "contrastive",
    "regularizer": "flops",
    "lambda_q": 3e-4,
    "lambda_d": 1e-4,
    "lambda_warmup_steps": 100,
    "lr": 2e-5,
    "lr_warmup_steps": 20,
    "batch_size": 8,
    "grad_accum": 1,
    "max_steps": 200,
    "query_max_length": 32,
    "doc_max_length": ENCODE.max_length,
    "pooling": "max",
    "checkpoint_every": 100,
    "seed": 13,
    "device": None,
    "dtype": "float32",
}
STATE = "training_state.pt"
_FLOPS = FlopsRegularizer()  # reported on the progress bar whichever regulariser trains


def load_settings(path: str | Path | None = None, overrides=()) -> dict:
    """Training settings from a YAML file (paths relative to it) and ``key=value`` overrides, validated."""
    raw, base = ({}, Path.cwd()) if path is None else (read_yaml(Path(path)), Path(path).parent)
    settings = merge_settings(DEFAULTS, raw, str(path or "training settings"))
    for key in ("source", "pseudo_queries"):
        value = settings["data"][key]
        if value and not str(value).startswith("irds:") and not Path(value).is_absolute():
            settings["data"][key] = str((base / value).resolve())
    if settings["output"] and not Path(settings["output"]).is_absolute():
        settings["output"] = str(Path(settings["output"]))  # relative to the working directory, like all outputs
    for override in overrides:
        apply_override(settings, override)
    if settings["name"] is None:
        settings["name"] = Path(path).stem if path else "train"
    settings["output"] = settings["output"] or f"checkpoints/{slug(settings['model'])}.{settings['name']}"
    _validate(settings, str(path or "training settings"))
    return settings


def _validate(s: dict, where: str) -> None:
    data = s["data"]
    if bool(data["source"]) == bool(data["pseudo_queries"]):
        raise InputError(f"{where}: give data.source (triples/scored pairs) or data.pseudo_queries (a corpus), one")
    if s["loss"] not in LOSSES:
        raise InputError(f"{where}: loss must be one of {LOSSES}")
    if s["regularizer"] not in REGULARIZERS:
        raise InputError(f"{where}: regularizer must be one of {tuple(REGULARIZERS)}")
    if s["loss"] == "margin-mse" and s["negatives_per_query"] != 1:
        raise InputError(f"{where}: margin-MSE takes one negative per query (negatives_per_query: 1)")
    for key in ("batch_size", "grad_accum", "max_steps", "query_max_length", "doc_max_length", "checkpoint_every"):
        if not isinstance(s[key], int) or s[key] < 1:
            raise InputError(f"{where}: {key} must be a positive integer")
    for key in ("lambda_q", "lambda_d", "lr"):
        if not isinstance(s[key], (int, float)) or s[key] < 0:
            raise InputError(f"{where}: {key} must be a non-negative number")
    if s["dtype"] not in ("float32", "float16", "bfloat16"):
        raise InputError(f"{where}: dtype must be float32, float16 or bfloat16")


def training_examples(settings: dict) -> list[Example]:
    data, n = settings["data"], settings["negatives_per_query"]
    if data["pseudo_queries"]:
        examples = pseudo_queries(data["pseudo_queries"], negatives=data["negatives"], per_query=n,
                                  limit=data["limit"], seed=settings["seed"])
    else:
        examples = read_examples(data["source"], data["limit"])
    needs_scores = settings["loss"] != "contrastive"
    usable = [e for e in examples if len(e.negatives) >= n and (e.scores is not None or not needs_scores)]
    if len(usable) < len(examples):
        print(f"train: skipped {len(examples) - len(usable)} of {len(examples)} examples with fewer than {n} "
              f"negatives{' or without teacher scores' if needs_scores else ''}", file=sys.stderr)
    if not usable:
        raise InputError("no usable training examples (see the message above)")
    return [Example(e.query, e.positive, e.negatives[:n], None if e.scores is None else e.scores[:n + 1])
            for e in usable]


def latest_checkpoint(output: Path) -> Path | None:
    done = sorted(p for p in output.glob("checkpoint-*") if (p / STATE).is_file())
    return done[-1] if done else None


class Trainer:
    def __init__(self, settings: dict, *, resume: bool = False):
        self.settings = settings
        self.output = Path(settings["output"])
        start = latest_checkpoint(self.output) if resume else None
        if resume and start is None:
            print(f"train: no checkpoint in {self.output} to resume from; starting from {settings['model']}",
                  file=sys.stderr)
        if not resume and latest_checkpoint(self.output) is not None:
            raise InputError(f"{self.output} already holds checkpoints; pass --resume to continue that run, or "
                             f"choose another output")
        self.splade = Splade(str(start or settings["model"]), pooling=settings["pooling"], device=settings["device"])
        self.model = self.splade.mlm
        self.tokenizer = self.splade.tokenizer
        self.device = self.splade.device
        self.examples = training_examples(settings)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=settings["lr"])
        warm = max(settings["lr_warmup_steps"], 1)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: min(1.0, (step + 1) / warm))
        self.lambda_q = QuadraticWarmup(settings["lambda_q"], settings["lambda_warmup_steps"])
        self.lambda_d = QuadraticWarmup(settings["lambda_d"], settings["lambda_warmup_steps"])
        self.regularizer = REGULARIZERS[settings["regularizer"]]()
        self.loss = {"contrastive": InBatchContrastive, "margin-mse": MarginMSE, "kl": KLDistillation}[settings["loss"]]()
        low = settings["dtype"] != "float32" and self.device.type == "cuda"
        self.autocast_dtype = getattr(torch, settings["dtype"]) if low else None
        self.scaler = torch.amp.GradScaler("cuda") if low and settings["dtype"] == "float16" else None
        self.step = 0
        self.history: list = []
        if start is not None:
            state = torch.load(start / STATE, weights_only=False)
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.step, self.history = state["step"], state["history"]
            random.setstate(state["python_rng"])
            torch.set_rng_state(state["torch_rng"])
            print(f"train: resuming {start} at step {self.step}", file=sys.stderr)
        else:
            random.seed(settings["seed"])
            torch.manual_seed(settings["seed"])

    def weights(self, texts: list[str], max_length: int) -> torch.Tensor:
        batch = self.splade.tokenize(texts, max_length)
        mask = batch["attention_mask"].to(self.device)
        logits = self.model(input_ids=batch["input_ids"].to(self.device), attention_mask=mask).logits
        return pool(logits.float(), mask, self.settings["pooling"])

    def batch_loss(self, examples: list[Example]) -> tuple[torch.Tensor, dict]:
        s = self.settings
        queries = self.weights([e.query for e in examples], s["query_max_length"])
        docs = self.weights([d for e in examples for d in [e.positive, *e.negatives]], s["doc_max_length"])
        group = 1 + s["negatives_per_query"]
        if s["loss"] == "contrastive":
            ranking = self.loss(queries, docs)
        else:
            teacher = torch.tensor([e.scores for e in examples], dtype=torch.float32, device=self.device)
            if s["loss"] == "margin-mse":
                ranking = self.loss(queries, docs[0::2], docs[1::2], teacher[:, 0], teacher[:, 1])
            else:
                ranking = self.loss(queries, docs.view(len(examples), group, -1), teacher)
        lq, ld = self.lambda_q(self.step), self.lambda_d(self.step)
        regular = lq * self.regularizer(queries) + ld * self.regularizer(docs)
        with torch.no_grad():
            stats = {"loss": float(ranking), "flops": float(_FLOPS(docs)),
                     "q_dims": float((queries > 0).sum(-1).float().mean()),
                     "d_dims": float((docs > 0).sum(-1).float().mean())}
        return ranking + regular, stats

    def _batches(self):
        """Batches of examples, reshuffled each epoch with the run's seed: a resumed run sees what it would have."""
        size = self.settings["batch_size"]
        epoch = 0
        while True:
            order = list(range(len(self.examples)))
            random.Random(self.settings["seed"] + epoch).shuffle(order)
            # full batches only (in-batch negatives need company); a set smaller than one batch is one batch
            for start in range(0, max(len(order) - size + 1, 1), size):
                yield [self.examples[i] for i in order[start:start + size]]
            epoch += 1

    def run(self, progress: bool = True) -> Path:
        from tqdm import tqdm
        s = self.settings
        self.model.train()
        batches = self._batches()
        for _ in range(self.step * s["grad_accum"]):  # skip what a resumed run has done
            next(batches)
        bar = tqdm(total=s["max_steps"], initial=self.step, desc="train", unit="step", disable=not progress,
                   mininterval=1.0)
        started = time.time()
        while self.step < s["max_steps"]:
            totals: dict = {}
            for _ in range(s["grad_accum"]):
                with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
                    loss, stats = self.batch_loss(next(batches))
                loss = loss / s["grad_accum"]
                (self.scaler.scale(loss) if self.scaler else loss).backward()
                for key, value in stats.items():
                    totals[key] = totals.get(key, 0.0) + value / s["grad_accum"]
            if self.scaler:
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            if self.scaler:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            self.history.append({"step": self.step, **{k: round(v, 6) for k, v in totals.items()}})
            bar.update(1)
            bar.set_postfix(loss=f"{totals['loss']:.3f}", flops=f"{totals['flops']:.2f}",
                            q_dims=f"{totals['q_dims']:.0f}", d_dims=f"{totals['d_dims']:.0f}")
            if self.step % s["checkpoint_every"] == 0 or self.step == s["max_steps"]:
                self.save()
        bar.close()
        final = self.output / "final"
        if final.exists():
            if not (final / "training.json").is_file():
                raise InputError(f"{final} exists and is not a checkpoint this trainer wrote; not replacing it")
            shutil.rmtree(final)
        shutil.copytree(latest_checkpoint(self.output), final, ignore=shutil.ignore_patterns(STATE))
        follow_umask(final)
        print(f"train: {self.step} steps in {time.time() - started:.0f} s -> {final}", file=sys.stderr)
        return final

    def save(self) -> Path:
        target = self.output / f"checkpoint-{self.step:06d}"
        staging = self.output / f".{target.name}.partial"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        self.model.save_pretrained(staging)
        self.tokenizer.save_pretrained(staging)
        (staging / "training.json").write_text(json.dumps({"settings": self.settings, "history": self.history},
                                                          indent=1) + "\n", encoding="utf-8")
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                    "step": self.step, "history": self.history, "python_rng": random.getstate(),
                    "torch_rng": torch.get_rng_state()}, staging / STATE)
        follow_umask(staging)  # libraries write weights private (0600); results are for colleagues too
        if target.exists():
            if not (target / "training.json").is_file():
                raise InputError(f"{target} exists and is not a checkpoint this trainer wrote; not replacing it")
            shutil.rmtree(target)
        staging.rename(target)  # complete checkpoints only: the state file marks one as resumable
        return target


def train(settings: dict, *, resume: bool = False, progress: bool = True) -> Path:
    """Train as ``settings`` say; returns the final checkpoint directory."""
    return Trainer(settings, resume=resume).run(progress)
