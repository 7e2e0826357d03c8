"""BM25 + SPLADE run fusion on SciFact and the DL19 pool, the interpolation weight chosen on SciFact's validation
claims only.

The validation claims are the trainer's: the 200 claims that ``configs/train-scifact-supervised.yaml`` carves out of
SciFact's train split (``carve_validation``, seed 13), never its test claims. For one model:

1. SciFact test (``configs/scifact-local.yaml``) and the validation claims (same corpus and index, topics and qrels
   written to ``WORKDIR/scifact-val/``) through the pipeline, with BM25;
2. on the validation claims, the SPLADE weight ``w`` of the min-max interpolation ``w * SPLADE + (1 - w) * BM25``
   swept from 0 to 1 in steps of 0.05; the best nDCG@10 (the smallest such ``w`` on a tie) is kept;
3. on SciFact test and on DL19 (``configs/dl19-passage-local.yaml``): BM25, SPLADE, RRF (k = 60) and the
   interpolation at that ``w``, as fused run files (``splade-anserini fuse``) evaluated like any run.

    python benchmarks/fusion.py                                   # zero-shot splade-tiny, artifacts in .fusion/
    python benchmarks/fusion.py --model checkpoints/X/final --workdir checkpoints/X/test --no-dl19

``--workdir`` may be a trained model's ``OUTPUT/test`` (what ``train --test`` built): its SciFact index is reused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TRAIN_CONFIG = ROOT / "configs" / "train-scifact-supervised.yaml"
WEIGHTS = [round(0.05 * i, 2) for i in range(21)]
MEASURE = "nDCG@10"


def validation_claims(workdir: Path) -> tuple[Path, Path]:
    """The trainer's validation claims as a topics and a qrels file."""
    from splade_anserini.train.data import read_judged
    from splade_anserini.train.trainer import load_settings
    from splade_anserini.train.validation import carve_validation
    settings = load_settings(TRAIN_CONFIG)
    judged = read_judged(settings.as_dict()["data"], settings.data.fields or None)
    _, val_ids = carve_validation(list(judged.queries), settings.validation.queries, settings.seed)
    folder = workdir / "scifact-val"
    folder.mkdir(parents=True, exist_ok=True)
    topics, qrels = folder / "queries.tsv", folder / "qrels.txt"
    topics.write_text("".join(f"{q}\t{judged.queries[q]}\n" for q in val_ids), encoding="utf-8")
    qrels.write_text("".join(f"{q} 0 {d} {g}\n" for q in val_ids for d, g in judged.qrels[q].items()),
                     encoding="utf-8")
    return topics, qrels


def pipeline(config: str, model: str, workdir: Path, overrides=(), data: Path | None = None):
    from splade_anserini.experiment.config import load_experiment
    from splade_anserini.experiment.pipeline import run_steps
    experiment = load_experiment(ROOT / "configs" / config, [f"model={model}", *overrides], data=data,
                                 workdir=workdir)
    run_steps(experiment, ["encode", "index", "search", "eval", "bm25"], progress=False)
    topic_set = experiment.topic_sets[0]
    return experiment, topic_set


def fused_rows(topic_set, workdir: Path, weight: float, qrels: dict, measures: list) -> list:
    """(system, metrics) for BM25, SPLADE, RRF and the interpolation at ``weight``."""
    from splade_anserini.evaluate import evaluate
    from splade_anserini.formats.runs import read_run
    from splade_anserini.fuse import fuse
    rows = [("bm25", topic_set.bm25_run), ("splade", topic_set.run)]
    for method, weights in (("rrf", None), ("interpolate", [weight, 1 - weight])):
        out = workdir / "runs" / f"{topic_set.name}.fusion-{method}.trec"
        fuse([topic_set.run, topic_set.bm25_run], out, method, weights=weights, overwrite=True)
        rows.append(("rrf k=60" if method == "rrf" else f"interpolate w={weight:g}", out))
    return [(name, evaluate(read_run(path), qrels, measures)[0]) for name, path in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="splade-tiny")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".fusion")
    parser.add_argument("--no-dl19", action="store_true", help="SciFact only")
    args = parser.parse_args()
    from splade_anserini.evaluate import evaluate
    from splade_anserini.formats.readers import read_qrels
    from splade_anserini.formats.runs import read_run
    from splade_anserini.fuse import fuse_runs
    model = str(Path(args.model).resolve()) if Path(args.model).is_dir() else args.model
    scifact = SHARED / "beir-scifact"

    topics, qrels_file = validation_claims(args.workdir)
    _, val = pipeline("scifact-local.yaml", model, args.workdir,
                      [f"topics={topics}", f"qrels={qrels_file}", "topics_name=scifact-val", "expected={}",
                       "expected_bm25={}"], data=scifact)
    val_qrels = read_qrels(qrels_file)
    splade_run, bm25_run = read_run(val.run), read_run(val.bm25_run)
    def score(fused: dict) -> float:  # fuse_runs ranks hits as lists; evaluate takes {qid: {docid: score}}
        return evaluate({q: dict(hits) for q, hits in fused.items()}, val_qrels, [MEASURE])[0][MEASURE]

    sweep = {w: score(fuse_runs([splade_run, bm25_run], "interpolate", weights=[w, 1 - w])) for w in WEIGHTS}
    best = max(WEIGHTS, key=lambda w: (sweep[w], -w))
    rrf_val = score(fuse_runs([splade_run, bm25_run], "rrf"))
    print(f"validation claims ({len(val_qrels)}), {MEASURE} of w * SPLADE + (1 - w) * BM25 (min-max): "
          + ", ".join(f"{w:g}: {v:.4f}" for w, v in sweep.items()) + f"; RRF {rrf_val:.4f}; chosen w = {best:g}")

    tables = [("SciFact test", "scifact-local.yaml", scifact, ["nDCG@10", "R@100", "R@1000"])]
    if not args.no_dl19:
        tables.append(("DL19 pool", "dl19-passage-local.yaml", SHARED / "trec-dl-2019-passage-judged",
                       ["nDCG@10", "R(rel=2)@1000"]))
    for title, config, data, measures in tables:
        _, topic_set = pipeline(config, model, args.workdir, data=data)
        rows = fused_rows(topic_set, args.workdir, best, read_qrels(topic_set.qrels), measures)
        print(f"\n{title}, {args.model}\n| run | " + " | ".join(measures) + " |\n|---|" + "---:|" * len(measures))
        for name, metrics in rows:
            print(f"| {name} | " + " | ".join(f"{metrics[m]:.4f}" for m in measures) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
