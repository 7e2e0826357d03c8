"""The trainer: a SPLADE model, training examples and a loss -> checkpoints that ``encode`` and ``search`` load.

Settings come from ``configs/train-*.yaml`` (see :class:`~.settings.TrainSettings`), overridable with
``key=value``. Data is one of:
ready-made examples (``data.source``: triples, scored pairs), pseudo-queries from a corpus (``data.pseudo_queries``),
or a train split (``data: DIR`` or ``data: {dir | topics, qrels, corpus}``): positives from the qrels, negatives
mined with BM25 and/or the model being trained (:mod:`.mining`, :mod:`.supervised`), validation on queries carved
out of the split (:mod:`.validation`) with the best checkpoint kept and early stopping.

Each step encodes a batch of queries and their documents (:mod:`.encoder`), scores them, and minimises
:class:`~.losses.SpladeLoss`: the ranking loss plus the query and document regularisers. Checkpoints
(``OUTPUT/checkpoint-<step>/``) are Hugging Face masked-LM directories that are also sentence-transformers
``SparseEncoder`` models (MLMTransformer + SpladePooling; a Router with the fixed query side as its query route; see
:mod:`..model.layouts`), holding the training state too, so a run resumes where it stopped and ends with the same
weights as an uninterrupted run (on the CPU). ``OUTPUT/final/`` is the best
validated checkpoint, or the last one without validation. Mixed precision (``dtype: float16|bfloat16``) applies on
a GPU only. Nothing here needs Java unless BM25 negatives must be mined (saved once, then reused; or given as a
file with ``data.candidates``).
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..errors import InputError
from ..experiment.config import apply_override, merge_settings, read_yaml, slug
from ..formats.artifacts import follow_umask, write_atomically
from ..formats.runs import search_facts_path
from ..model.layouts import write_sparse_encoder
from ..model.splade import Splade
from ..progress import bar_disabled
from .data import Example, pseudo_queries, read_examples, read_judged
from .encoder import training_weights
from .losses import RANKING_LOSSES, FlopsRegularizer, Regularizer, SpladeLoss, own_scores
from .mining import bm25_candidates, load_candidates, report_coverage, save_candidates
from .query_side import build_query_side, write_pair
from .settings import SIDES, DataSettings, TrainSettings
from .supervised import FixedExamples, SupervisedExamples
from .validation import Validator, carve_validation, limit_training, save_curve

logger = logging.getLogger(__name__)

STATE = "training_state.pt"
DOCUMENT_FOLDER = "document_0_MLMTransformer"  # the trained model in a checkpoint that is a Router pair
# the usual bound for BERT fine-tuning: one batch of false negatives cannot throw the model far
GRAD_CLIP_NORM = 1.0
_FLOPS = FlopsRegularizer()  # reported on the progress bar whichever regulariser trains


def _local(value, base: Path):
    if not value or str(value).startswith("irds:") or Path(value).is_absolute():
        return value
    return str((base / value).resolve())


def load_settings(path: str | Path | None = None, overrides=()) -> TrainSettings:
    """Training settings from a YAML file (paths relative to it) and ``key=value`` overrides, validated: a bad or
    unknown key is one sentence naming it (:class:`InputError`)."""
    raw, base = ({}, Path.cwd()) if path is None else (read_yaml(Path(path)), Path(path).parent)
    where = str(path or "training settings")
    if isinstance(raw.get("data"), str):  # data: DIR, a directory with a train/ folder (or an irds: id)
        raw["data"] = {"dir": raw["data"]}
    settings = merge_settings(TrainSettings.defaults(), raw, where)
    for key in DataSettings.PATHS:
        settings["data"][key] = _local(settings["data"][key], base)
    settings["test"]["config"] = _local(settings["test"]["config"], base)
    if settings["output"] and not Path(settings["output"]).is_absolute():
        settings["output"] = str(Path(settings["output"]))  # relative to the working directory, like all outputs
    cwd = Path.cwd()
    for override in overrides:
        apply_override(settings, override)
        key = override.partition("=")[0].strip()
        if key.startswith("data.") and key[5:] in DataSettings.PATHS:
            settings["data"][key[5:]] = _local(settings["data"][key[5:]], cwd)
    if settings["name"] is None:
        settings["name"] = Path(path).stem if path else "train"
    settings["output"] = settings["output"] or f"checkpoints/{slug(settings['model'])}.{settings['name']}"
    return TrainSettings.from_section(settings, where)


def training_examples(settings: TrainSettings) -> list[Example]:
    """Ready-made examples (``data.source`` or ``data.pseudo_queries``), cut to ``negatives_per_query``."""
    data, n = settings.data, settings.negatives_per_query
    if data.pseudo_queries:
        examples = pseudo_queries(data.pseudo_queries, negatives=data.negatives, per_query=n,
                                  limit=data.limit, seed=settings.seed)
    else:
        examples = read_examples(data.source, data.limit)
    needs_scores = RANKING_LOSSES[settings.loss].needs_teacher
    usable = [e for e in examples if len(e.negatives) >= n and (e.scores is not None or not needs_scores)]
    if len(usable) < len(examples):
        logger.info(f"train: skipped {len(examples) - len(usable)} of {len(examples)} examples with fewer than {n} "
                    f"negatives{' or without teacher scores' if needs_scores else ''}")
    if not usable:
        raise InputError("no usable training examples (see the message above)")
    return [Example(e.query, e.positive, e.negatives[:n], None if e.scores is None else e.scores[:n + 1])
            for e in usable]


def latest_checkpoint(output: Path) -> Path | None:
    done = sorted(p for p in output.glob("checkpoint-*") if (p / STATE).is_file())
    return done[-1] if done else None


def _set_dropout(model: torch.nn.Module, p: float) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p


class Trainer:
    def __init__(self, settings: TrainSettings, *, resume: bool = False, progress: bool | None = None):
        self.settings = s = settings
        self.progress = progress
        self.output = Path(s.output)
        start = latest_checkpoint(self.output) if resume else None
        if resume and start is None:
            logger.info(f"train: no checkpoint in {self.output} to resume from; starting from {s.model}")
        if not resume and latest_checkpoint(self.output) is not None:
            raise InputError(f"{self.output} already holds checkpoints; pass --resume to continue that run, or "
                             f"choose another output")
        self.splade = Splade(str(start or s.model), pooling=s.pooling, device=s.device,
                             max_length=s.validation.max_length)
        s.pooling = self.splade.pooling
        self.model = self.splade.mlm
        if s.dropout is not None:
            _set_dropout(self.model, s.dropout)
        self.tokenizer = self.splade.tokenizer
        self.device = self.splade.device
        self.step = 0
        self.history: list = []
        self.curve: list = []
        self.best: dict | None = None   # {"step", measure value} of the best validation so far
        self.stopped_early = False
        state = torch.load(start / STATE, weights_only=False) if start is not None else None
        self.validator = None
        self.examples = self._supervised(state) if s.supervised else \
            FixedExamples(training_examples(s), s.batch_size, s.seed)
        self.query_side = build_query_side(s, self.splade, self.examples)  # None: the model encodes queries too
        if s.supervised and self.val_ids:
            self.validator = self._new_validator({q: self.judged.qrels[q] for q in self.val_ids})
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.loss = SpladeLoss(RANKING_LOSSES[s.loss].from_settings(s),
                               *(Regularizer(**asdict(s.regularizer_of(side))) for side in SIDES))
        low = s.dtype != "float32" and self.device.type == "cuda"
        self.autocast_dtype = getattr(torch, s.dtype) if low else None
        self.scaler = torch.amp.GradScaler("cuda") if low and s.dtype == "float16" else None
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.step, self.history = state["step"], state["history"]
            self.curve, self.best = state.get("curve", []), state.get("best")
            self.stopped_early = state.get("stopped_early", False)
            random.setstate(state["python_rng"])
            torch.set_rng_state(state["torch_rng"])
            logger.info(f"train: resuming {start} at step {self.step}")
        else:
            random.seed(s.seed)
            torch.manual_seed(s.seed)

    def _lr_factor(self, step: int) -> float:
        s = self.settings
        warm = max(s.lr_warmup_steps, 1)
        factor = min(1.0, (step + 1) / warm)
        if s.lr_decay == "linear" and step >= warm:
            factor *= max(0.0, (s.max_steps - step) / max(s.max_steps - warm, 1))
        return factor

    # ---- supervised data: split, candidates, validation ------------------------------------------------------

    def _supervised(self, state: dict | None) -> SupervisedExamples:
        s = self.settings
        judged = read_judged(asdict(s.data), s.data.fields or None)
        train_ids, val_ids = carve_validation(list(judged.queries), s.validation.queries, s.seed)
        if not train_ids:
            raise InputError("no training queries left after carving out the validation queries")
        available, train_ids = len(train_ids), limit_training(train_ids, s.data.limit, s.seed)
        kept = f" (data.limit: {len(train_ids)} of {available})" if len(train_ids) < available else ""
        logger.info(f"train: {len(train_ids)} training queries{kept}, {len(val_ids)} validation queries, "
                    f"{len(judged.corpus)} documents")
        examples = SupervisedExamples(judged, train_ids, s)
        self.judged, self.train_ids, self.val_ids = judged, train_ids, val_ids
        neg, teacher = s.negatives, s.teacher.kind
        if "bm25" in neg.sources or teacher == "ensemble":
            examples.set_candidates("bm25", self._bm25_candidates(judged, train_ids))
        if state is not None:  # what the model mined and the teacher's scores, as they were at the checkpoint
            if state["candidates"]["model"] is not None:
                examples.set_candidates("model", state["candidates"]["model"])
            examples.teacher = state["teacher"]
        self.needs_model_candidates = "model" in neg.sources or teacher != "none"
        return examples

    def _bm25_candidates(self, judged, train_ids) -> dict:
        s = self.settings
        queries = {q: judged.queries[q] for q in train_ids}
        given = s.data.candidates
        saved = self.output / f"candidates.bm25-{s.negatives.depth}.jsonl"
        if given or saved.is_file():
            candidates = load_candidates(given or saved, judged.queries)
            candidates = {q: candidates.get(q, []) for q in train_ids}
        else:
            logger.info(f"train: mining BM25 candidates (top {s.negatives.depth}) for {len(queries)} queries")
            candidates = bm25_candidates(judged.corpus, queries, s.negatives.depth)
            self.output.mkdir(parents=True, exist_ok=True)
            save_candidates(saved, candidates, "bm25")
        report_coverage(candidates, judged, "BM25")
        return candidates

    def _mine_with_model(self, index) -> None:
        """Candidates of the training queries from ``index``, the corpus as the model encodes it now. The first
        time (the starting model) they also fix the teacher's scores: of every candidate and positive."""
        s = self.settings
        vectors = self._validator().encode_queries(self.train_ids)
        depth, min_idf = s.negatives.depth, s.validation.min_idf
        candidates = {q: [(d, float(score)) for d, score in index.search(v, depth, min_idf)]
                      for q, v in zip(self.train_ids, vectors)}
        self.examples.set_candidates("model", candidates)
        if s.teacher.kind != "none" and self.examples.teacher is None:
            numbers = {d: i for i, d in enumerate(index.doc_ids)}
            scale = s.validation.scale
            teacher = {}
            for qid, vector in zip(self.train_ids, vectors):
                everything = index.scores(vector, min_idf)
                wanted = set(self.judged.qrels[qid]) | {d for d, _ in self.examples.pool(qid, window=False)}
                teacher[qid] = {d: float(everything[numbers[d]]) / (scale * scale) for d in wanted}
            self.examples.teacher = teacher

    def _validator(self) -> Validator:
        """The validator, or (without validation queries) one over the corpus alone, for mining and the teacher."""
        if self.validator is None:
            self.validator = self._new_validator({})
        return self.validator

    def _new_validator(self, qrels: dict) -> Validator:
        """A validator of the queries of ``qrels`` whose queries are encoded by the fixed query side, where there is
        one (validation and mining then search as the pair will), by the model under training otherwise."""
        settings, side = self.settings.validation, self.query_side
        encoder = None if side is None else side.query_encoder(settings.scale, settings.batch_size)
        return Validator(self.splade, self.judged.corpus, self.judged.queries, qrels, settings, encoder)

    def _encode_corpus(self):
        self.model.eval()
        try:
            return self._validator().encode_corpus(self.progress)
        finally:
            self.model.train()

    def validate(self) -> dict:
        """Evaluate on the validation queries, extend the curve (saved and drawn) and note the best point; the
        encoded corpus stays in the validator for mining."""
        s = self.settings
        point = {"step": self.step, **self.validator.evaluate(self.progress)}
        if self.history:
            recent = self.history[-s.validation.every:]
            point["train_loss"] = round(sum(h["loss"] for h in recent) / len(recent), 6)
        self.curve.append(point)
        measure = s.validation.measure
        improved = self.best is None or point[measure] > self.best[measure]
        if improved:
            self.best = {"step": self.step, measure: point[measure]}
        logger.info(f"train: step {self.step}: validation {measure} {point[measure]:.4f}, FLOPS {point['flops']:.2f}, "
                    f"{point['document_terms']:.0f} terms per document, {point['query_terms']:.0f} per query"
                    f"{' (best so far)' if improved else ''} [{point['seconds']:.0f} s]")
        save_curve(self.output, self.curve, measure, self.best["step"])
        return point

    def _patience_spent(self) -> bool:
        patience = self.settings.validation.patience
        if not patience or self.best is None:
            return False
        since = [p for p in self.curve if p["step"] > self.best["step"]]
        return len(since) >= patience

    # ---- steps ---------------------------------------------------------------------------------------------------

    def weights(self, texts: list[str], max_length: int) -> torch.Tensor:
        return training_weights(self.splade, self.splade.tokenize(texts, max_length), self.settings.pooling)

    def batch_loss(self, examples: list[Example]) -> tuple[torch.Tensor, dict]:
        s = self.settings
        texts = [e.query for e in examples]
        queries = self.weights(texts, s.query_max_length) if self.query_side is None else \
            self.query_side.weights(texts, s.query_max_length)
        docs = self.weights([d for e in examples for d in [e.positive, *e.negatives]], s.doc_max_length)
        teacher = torch.tensor([e.scores for e in examples], dtype=torch.float32, device=self.device) \
            if self.loss.needs_teacher else None
        total, parts = self.loss(queries, docs, self.step, teacher)
        with torch.no_grad():
            scores = own_scores(queries, docs)
            parts.update({"loss": parts[self.loss.loss.name], "flops": float(_FLOPS(docs)),
                          "q_dims": float((queries > 0).sum(-1).float().mean()),
                          "d_dims": float((docs > 0).sum(-1).float().mean()),
                          "margin": float((scores[:, :1] - scores[:, 1:]).mean())})
        return total, parts

    def run(self, progress: bool | None = None) -> Path:
        # On the CPU, scatter-adds (the gradient of gathering each active term's row and position) otherwise sum
        # in a varying order; deterministic kernels make a resumed run end with the uninterrupted run's weights.
        deterministic = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(deterministic or self.device.type == "cpu")
        try:
            return self._run(progress)
        finally:
            torch.use_deterministic_algorithms(deterministic)

    def _run(self, progress: bool | None) -> Path:
        from tqdm import tqdm
        s = self.settings
        self.progress = progress
        self.model.train()
        started = time.time()
        if s.supervised and self.step == 0:
            # the start of the curve; the same encoded corpus mines the first model candidates and the teacher
            if self.val_ids:
                self.validate()
            if self.needs_model_candidates:
                self._mine_with_model(self.validator.index if self.val_ids else self._encode_corpus())
        bar = tqdm(total=s.max_steps, initial=self.step, desc="train", unit="step", disable=bar_disabled(progress),
                   mininterval=1.0)
        while self.step < s.max_steps and not self.stopped_early:
            totals: dict = {}
            for part in range(s.grad_accum):
                examples = self.examples.batch(self.step * s.grad_accum + part)
                with torch.autocast(self.device.type, dtype=self.autocast_dtype,
                                    enabled=self.autocast_dtype is not None):
                    loss, stats = self.batch_loss(examples)
                loss = loss / s.grad_accum
                (self.scaler.scale(loss) if self.scaler else loss).backward()
                for key, value in stats.items():
                    totals[key] = totals.get(key, 0.0) + value / s.grad_accum
            if self.scaler:
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), GRAD_CLIP_NORM)
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
            checkpoint = self.step % s.checkpoint_every == 0 or self.step == s.max_steps
            if s.supervised:
                checkpoint |= self._between_steps()
            if checkpoint:
                self.save()
        bar.close()
        final = self.finish()
        logger.info(f"train: {self.step} steps in {time.time() - started:.0f} s -> {final}")
        return final

    def _between_steps(self) -> bool:
        """Validation and re-mining after a step; True when a checkpoint should be written now."""
        s = self.settings
        validate = bool(self.val_ids) and (self.step % s.validation.every == 0 or self.step == s.max_steps)
        # also after the last step: a run stopped there and resumed with more steps mines as an uninterrupted one
        remine = s.negatives.remine_every and self.step % s.negatives.remine_every == 0 \
            and "model" in s.negatives.sources
        if validate:
            self.validate()
            if self._patience_spent():
                self.stopped_early = True
                logger.info(f"train: no gain in {s.validation.patience} validations; stopping early (best: step "
                            f"{self.best['step']})")
        if remine and not self.stopped_early:
            self._mine_with_model(self.validator.index if validate else self._encode_corpus())
        return validate or bool(remine)

    # ---- checkpoints -------------------------------------------------------------------------------------------

    def finish(self) -> Path:
        """``final/``: the best validated checkpoint, or the last one."""
        if self.best is None:
            source = latest_checkpoint(self.output)
        elif self.best["step"] == 0:
            logger.info("train: no step improved on the starting model's validation score; final/ is the starting "
                        "model")
            source = self._save_start()
        else:
            source = self.output / f"checkpoint-{self.best['step']:06d}"
        final = self.output / "final"
        if final.exists():
            if not (final / "training.json").is_file():
                raise InputError(f"{final} exists and is not a checkpoint this trainer wrote; not replacing it")
            shutil.rmtree(final)
        shutil.copytree(source, final, ignore=shutil.ignore_patterns(STATE))
        summary = {"settings": self.settings.as_dict(), "history": self.history, "curve": self.curve, "best": self.best,
                   "final_from": source.name, "stopped_early": self.stopped_early, "steps": self.step}
        write_atomically(final / "training.json", json.dumps(summary, indent=1) + "\n")
        follow_umask(final)
        return final

    def _save_start(self) -> Path:
        """The starting model as a checkpoint directory (when no step beat it)."""
        target = self.output / "checkpoint-000000"
        if not target.exists():
            start = Splade(self.settings.model, pooling=self.settings.pooling)
            staging = self.output / f".{target.name}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            self._save_model(staging, start.mlm, start.tokenizer)
            (staging / "training.json").write_text(json.dumps({"settings": self.settings.as_dict(), "history": []}) + "\n",
                                                   encoding="utf-8")
            staging.rename(target)
        return target

    def _save_model(self, directory: Path, mlm, tokenizer) -> None:
        """The model as a Hugging Face masked LM that is also a sentence-transformers SparseEncoder: alone, at the
        top of the directory with SpladePooling; with a fixed query side, the document route of a Router (in its
        own folder) beside the query side's route, with the pair recorded for this project too."""
        document = "" if self.query_side is None else DOCUMENT_FOLDER
        mlm.save_pretrained(directory / document)
        tokenizer.save_pretrained(directory / document)
        write_pair(directory, self.query_side)
        side = self.query_side
        write_sparse_encoder(directory, self.settings.pooling, self.splade.vocab_size,
                             activation=self.splade.activation, document=document,
                             query=None if side is None else side.route,
                             query_kind=None if side is None else side.route_kind)

    def save(self) -> Path:
        target = self.output / f"checkpoint-{self.step:06d}"
        staging = self.output / f".{target.name}.partial"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        self._save_model(staging, self.model, self.tokenizer)
        (staging / "training.json").write_text(json.dumps({"settings": self.settings.as_dict(), "history": self.history},
                                                          indent=1) + "\n", encoding="utf-8")
        state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "step": self.step, "history": self.history, "python_rng": random.getstate(),
                 "torch_rng": torch.get_rng_state(), "curve": self.curve, "best": self.best,
                 "stopped_early": self.stopped_early}
        if self.settings.supervised:
            state["candidates"] = {"model": self.examples.candidates.get("model")}
            state["teacher"] = self.examples.teacher
        torch.save(state, staging / STATE)
        follow_umask(staging)  # libraries write weights private (0600); results are for colleagues too
        if target.exists():
            if not (target / "training.json").is_file():
                raise InputError(f"{target} exists and is not a checkpoint this trainer wrote; not replacing it")
            shutil.rmtree(target)
        staging.rename(target)  # complete checkpoints only: the state file marks one as resumable
        if self.settings.supervised:
            self._prune(keep={target.name})
        return target

    def _prune(self, keep: set) -> None:
        """Keep the newest checkpoint and the best validated one; older checkpoints this trainer wrote go (each
        is the model plus the optimizer's state, three times the model's size)."""
        if self.best is not None:
            keep.add(f"checkpoint-{self.best['step']:06d}")
        for old in self.output.glob("checkpoint-*"):
            if old.name not in keep and (old / "training.json").is_file():
                shutil.rmtree(old)


def train(settings: TrainSettings, *, resume: bool = False, progress: bool | None = None) -> Path:
    """Train as ``settings`` say; returns the final checkpoint directory."""
    return Trainer(settings, resume=resume, progress=progress).run(progress)


def test_final(settings: TrainSettings, final: str | Path, progress: bool | None = None) -> str:
    """Evaluate the final model on ``test.config``'s topics through the pipeline itself (encode, index, search,
    eval; artifacts under ``OUTPUT/test/``, rebuilt each time since a retrained model keeps its path). Returns the
    line ``<measure> <value> run=<run file>``."""
    from ..experiment.config import load_experiment
    from ..experiment.pipeline import run_steps
    config = settings.test.config
    if not config:
        raise InputError("--test needs test.config in the training settings: the experiment config whose topics "
                         "evaluate the final model (e.g. configs/scifact-local.yaml)")
    overrides = [f"model={Path(final).resolve()}", "bm25.enabled=false", *settings.test.overrides]
    experiment = load_experiment(config, overrides, workdir=Path(settings.output) / "test")
    results = run_steps(experiment, ["encode", "index", "search", "eval"], force=True, progress=progress)
    topic_set = experiment.topic_sets[0]
    metrics = results[topic_set.name]["splade"]
    measure = settings.validation.measure if settings.validation.measure in metrics else next(iter(metrics))
    facts = json.loads(search_facts_path(topic_set.run).read_text(encoding="utf-8"))
    logger.info(f"test: {topic_set.name}: " + ", ".join(f"{m} {v:.4f}" for m, v in metrics.items())
                + f", FLOPS {facts['flops']:.2f}")
    return f"{measure} {metrics[measure]:.4f} run={topic_set.run}"
