"""Search throughput: Pyserini's own SPLADE search path against ours, on the shared test collections.

For each collection (the splade-tiny index of ``configs/<name>.yaml``, built first if missing) all topics are
searched, in one process, with the same k and thread count, by
  (a) Pyserini: ``LuceneImpactSearcher(index, SpladeQueryEncoder(model_dir)).batch_search(...)`` (queries encoded
      one at a time inside batch_search, then Anserini's multi-threaded search), and
  (b) ours: ``encode_topics`` (batched query encoding) + ``ImpactSearcher.batch_search``,
both ending with every hit's (docid, score) in Python, as writing a run needs. We print queries/s of both for the
search itself (encoding + retrieval; best of ``--repeat``), their one-time setup (loading the model, opening the
index; Pyserini also reads the df of every index term), the ratio, and our retrieval alone from pre-encoded
queries. Both runs are scored (nDCG@10) as a check that the two paths retrieve the same thing; they are not
byte-identical because Pyserini's encoder quantizes queries as round(51.2 w), ours as the index does.
The last line is ``speedup: X.XXx``, the smaller of the two ratios.

    python benchmarks/search_throughput.py [--k 1000] [--threads 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CONFIGS = {"beir-scifact": "scifact-local", "trec-dl-2019-passage-judged": "dl19-passage-local"}


def build_index(config: str, workdir: Path):
    from splade_anserini.experiment.config import load_experiment
    from splade_anserini.experiment.pipeline import run_steps
    experiment = load_experiment(ROOT / "configs" / f"{config}.yaml", workdir=workdir)
    run_steps(experiment, ["encode", "index"], progress=True)  # reuses finished artifacts
    return experiment


def best_of(repeat: int, work):
    """(smallest wall time, result of that run)."""
    best = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        elapsed = time.perf_counter() - started
        if best is None or elapsed < best[0]:
            best = (elapsed, result)
    return best


def ndcg10(results: dict, qrels_path) -> float:
    from splade_anserini.evaluate import evaluate
    from splade_anserini.formats.readers import read_qrels
    run = {qid: dict(hits) for qid, hits in results.items()}
    return evaluate(run, read_qrels(qrels_path), ["nDCG@10"])[0]["nDCG@10"]


def bench(name: str, args) -> float:
    from pyserini.encode._splade import SpladeQueryEncoder as PyseriniSpladeQueryEncoder

    from splade_anserini.formats.readers import read_topics
    from splade_anserini.lucene.queries import LuceneImpactSearcher, SpladeQueryEncoder, encode_topics
    from splade_anserini.lucene.searcher import ImpactSearcher
    from splade_anserini.model.models import resolve_model

    experiment = build_index(CONFIGS[name], args.workdir)
    index, config = str(experiment.index), experiment.config
    queries = read_topics(config["topics"])
    texts, qids = [q.text for q in queries], [q.id for q in queries]
    k, threads = args.k, args.threads

    started = time.perf_counter()
    theirs = LuceneImpactSearcher(index, PyseriniSpladeQueryEncoder(str(resolve_model(config["model"]))))
    their_setup = time.perf_counter() - started
    started = time.perf_counter()
    encoder = SpladeQueryEncoder(index=index)
    ours = ImpactSearcher(index)
    our_setup = time.perf_counter() - started

    def pyserini_run():
        hits = theirs.batch_search(texts, qids, k=k, threads=threads)
        return {qid: [(h.docid, h.score) for h in hits.get(qid, [])] for qid in qids}

    def our_run():
        topics = encode_topics(queries, encoder)
        return dict(zip(topics.ids, ours.batch_search(topics.vectors, k, threads))), topics

    # warm both paths (JIT, caches) on a few queries before timing
    theirs.batch_search(texts[:20], qids[:20], k=k, threads=threads)
    ours.batch_search(encode_topics(queries[:20], encoder).vectors, k, threads)
    their_time, their_results = best_of(args.repeat, pyserini_run)
    our_time, (our_results, topics) = best_of(args.repeat, our_run)
    retrieval_time, _ = best_of(args.repeat, lambda: ours.batch_search(topics.vectors, k, threads))
    ours.close()

    n = len(queries)
    ratio = their_time / our_time
    print(f"\n{name}: {n} queries, k={k}, {threads} threads, best of {args.repeat}")
    print(f"  pyserini  {their_time:7.2f} s  {n / their_time:8.1f} q/s   (setup {their_setup:.2f} s)")
    print(f"  ours      {our_time:7.2f} s  {n / our_time:8.1f} q/s   (setup {our_setup:.2f} s)   ratio {ratio:.2f}x")
    print(f"  ours, pre-encoded queries (retrieval only): {retrieval_time:.2f} s, {n / retrieval_time:.1f} q/s")
    print(f"  end to end with setup: pyserini {their_setup + their_time:.2f} s, ours {our_setup + our_time:.2f} s, "
          f"ratio {(their_setup + their_time) / (our_setup + our_time):.2f}x")
    print(f"  nDCG@10: pyserini {ndcg10(their_results, config['qrels']):.4f}, "
          f"ours {ndcg10(our_results, config['qrels']):.4f}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per path; the best counts")
    parser.add_argument("--workdir", type=Path, default=ROOT, help="where the indexes are (or get built)")
    args = parser.parse_args()
    from splade_anserini.lucene.jvm import start_jvm
    start_jvm()
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    ratios = [bench(name, args) for name in CONFIGS]
    print(f"\nspeedup: {min(ratios):.2f}x")


if __name__ == "__main__":
    main()
