"""Query encoders: splade-tiny on both sides, splade-tiny documents with inference-free (idf) queries, and BM25, on
the shared SciFact and DL19 collections: effectiveness, and what a query costs to encode and to search.

For each collection the pipeline of ``configs/<name>.yaml`` runs first (finished artifacts are reused): as it is
(splade-tiny on both sides, with its BM25 baseline), and with ``query_model=idf`` (the same documents, recorded and
indexed for the inference-free pair). Then, in one process, for each system:

- nDCG@10 and R@1000 (DL19: grade >= 2) of the pipeline's runs (k = 1000);
- query encoding, ms/query: all topics in one call (``encode_batch``), the median of ``--repeat`` calls over the
  number of queries, and each query alone (p50): what a service answering single queries pays. Loading the model
  (SPLADE) or opening the index statistics and the tokenizer (idf) is left out and printed apart; every idf pass
  starts from a fresh encoder, so no document frequency is cached from an earlier pass;
- search, ms/query: every query searched alone on one thread, k = 1000, after a warm-up pass, p50 and mean over
  the queries. SPLADE and idf through :class:`ImpactSearcher` (hits as docid and score in Python); BM25 through
  Pyserini's ``LuceneSearcher.search`` (what the bm25 step uses), which analyzes the query text as part of the search.

The last line is ``encoding speedup: X.Xx``, SPLADE's batch encoding time over idf's, the smaller of the two
collections.

    python benchmarks/query_encoders.py [--workdir DIR] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
COLLECTIONS = {"BEIR SciFact": ("scifact-local", "beir-scifact", "R@1000"),
               "TREC DL 2019 pool": ("dl19-passage-local", "trec-dl-2019-passage-judged", "R(rel=2)@1000")}
K = 1000


def experiments(config: str, data: Path, workdir: Path):
    """The config's experiment as it is and with idf queries, run through the pipeline (reusing what is done)."""
    from splade_anserini.experiment.config import load_experiment
    from splade_anserini.experiment.pipeline import run_steps
    path = ROOT / "configs" / f"{config}.yaml"
    splade = load_experiment(path, data=data, workdir=workdir)
    free = load_experiment(path, ["query_model=idf"], data=data, workdir=workdir)
    run_steps(splade, progress=True)
    run_steps(free, ["encode", "index", "search", "eval"], progress=True)
    return splade, free


def metrics(path: Path, recall: str) -> tuple[float, float]:
    values = json.loads(path.read_text())["metrics"]
    return values["nDCG@10"], values[recall]


def encoding_costs(make_encoder, texts: list, repeat: int) -> dict:
    """ms/query of batch encoding (median of ``repeat`` passes) and of single queries (p50), and the set-up time."""
    started = time.perf_counter()
    encoder = make_encoder()
    setup = time.perf_counter() - started
    single = []
    for text in texts:
        started = time.perf_counter()
        encoder.encode_batch([text])
        single.append(time.perf_counter() - started)
    encoder.close()
    passes = []
    for _ in range(repeat):
        encoder = make_encoder()
        started = time.perf_counter()
        vectors = encoder.encode_batch(texts)
        passes.append(time.perf_counter() - started)
        encoder.close()
    return {"setup_s": setup, "batch_ms": 1000 * statistics.median(passes) / len(texts),
            "single_ms": 1000 * statistics.median(single), "vectors": vectors}


def impact_latency(index: Path, vectors: list) -> dict:
    from splade_anserini import ImpactSearcher
    with ImpactSearcher(index) as searcher:
        for vector in vectors:  # warm-up: the docid table, Lucene's caches, the JIT
            searcher.search(vector, K)
        searcher.latencies = []
        for vector in vectors:
            searcher.search(vector, K)
        times = [1000 * t for t in searcher.latencies]
    return {"p50_ms": statistics.median(times), "mean_ms": statistics.fmean(times)}


def bm25_latency(experiment, texts: list) -> dict:
    from splade_anserini.lucene.jvm import start_jvm
    start_jvm()
    from pyserini.search.lucene import LuceneSearcher
    searcher = LuceneSearcher(str(experiment.bm25_index))
    searcher.set_bm25(experiment.config["bm25"]["k1"], experiment.config["bm25"]["b"])
    for text in texts:
        searcher.search(text, k=K)
    times = []
    for text in texts:
        started = time.perf_counter()
        searcher.search(text, k=K)
        times.append(1000 * (time.perf_counter() - started))
    searcher.close()
    return {"p50_ms": statistics.median(times), "mean_ms": statistics.fmean(times)}


def bench(label: str, config: str, data: Path, recall: str, workdir: Path, repeat: int) -> tuple[list, float]:
    from splade_anserini.formats.artifacts import read_manifest
    from splade_anserini.formats.readers import read_topics
    from splade_anserini.lucene.queries import SpladeQueryEncoder
    from splade_anserini.search import query_encoder
    splade, free = experiments(config, data, workdir)
    topic_set, free_set = splade.topic_sets[0], free.topic_sets[0]
    texts = [q.text for q in read_topics(topic_set.topics, topic_set.topic_fields or None)]
    manifest = read_manifest(free.index)
    costs = {"splade": encoding_costs(lambda: SpladeQueryEncoder(index=splade.index), texts, repeat),
             "idf": encoding_costs(lambda: query_encoder(free.index, manifest), texts, repeat)}
    rows = []
    for name, experiment, run_set, system in (("splade-tiny / splade-tiny", splade, topic_set, "splade"),
                                              ("splade-tiny / inference-free (idf)", free, free_set, "idf")):
        cost = costs[system]
        latency = impact_latency(experiment.index, cost["vectors"])
        rows.append([label, name, *metrics(run_set.metrics, recall), cost["batch_ms"], cost["single_ms"],
                     latency["p50_ms"], latency["mean_ms"], cost["setup_s"],
                     statistics.fmean(len(v) for v in cost["vectors"])])
    latency = bm25_latency(splade, texts)
    rows.append([label, "BM25", *metrics(topic_set.bm25_metrics, recall), None, None, latency["p50_ms"],
                 latency["mean_ms"], None, None])
    return rows, costs["splade"]["batch_ms"] / costs["idf"]["batch_ms"]


def cell(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/splade-anserini-query-encoders"))
    parser.add_argument("--repeat", type=int, default=5, help="batch encoding passes (median)")
    args = parser.parse_args()
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()  # a "Loading weights" bar per model load
    rows, speedups = [], []
    for label, (config, collection, recall) in COLLECTIONS.items():
        if not (DATA / collection / "corpus.jsonl").is_file():
            print(f"skipping {label}: {DATA / collection} is absent", file=sys.stderr)
            continue
        found, speedup = bench(label, config, DATA / collection, recall, args.workdir, args.repeat)
        rows += found
        speedups.append(speedup)
    print("| collection | documents / queries | nDCG@10 | R@1000 | query encoding ms/query (batch) | "
          "query encoding ms (one query, p50) | search ms/query (p50) | search ms/query (mean) | model load s | "
          "terms/query |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]:.4f} | {row[3]:.4f} | {cell(row[4], 2)} | {cell(row[5], 2)} | "
              f"{row[6]:.2f} | {row[7]:.2f} | {cell(row[8], 2)} | {cell(row[9], 1)} |")
    if speedups:
        print(f"encoding speedup: {min(speedups):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
