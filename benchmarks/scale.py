"""MS MARCO size on one machine: indexing, the docid table and search on synthetic collections of real SPLADE vectors.

1. The source: the DL19 pool (10,818 MS MARCO passages) encoded with splade-tiny (cached under --cache).
2. Synthetic collections of N documents (--docs, default 100k and 1M; cached): each document is a random real one
   that keeps each of its terms with probability --keep (0.8) and replaces the others, weights kept, by terms drawn
   in proportion to their document frequency in the source, so posting lists grow as in a real corpus. At 1M each
   real passage has about 92 such copies, which makes a query's top 10 a set of near-duplicates. --sources S makes
   each document from S random real ones (each term of each kept with probability keep / S, the rest replaced as
   above), so copies of one passage share fewer terms and no two documents share their sources:
   ``--keep 0.6 --sources 2`` gives documents that hold 30 % of a passage's terms where the default holds 80 %.
3. For each N, each step in a child process of its own (so its peak RSS is its own): indexing with Anserini's
   IndexCollection and with ours (the same threads), index size, the docid table (built, then loaded), and search of
   the DL19 + SciFact queries: one-thread p50/p99 and all-thread q/s at k=10 and k=1000, start-up (index open and
   docid table), and at the largest N the p50/p99 of --query-top-k 8/16/32.
4. Effectiveness of --query-top-k on SciFact and DL19 (nDCG@10, R@1000; real collections, full pipeline).
5. The projection to MS MARCO's 8.8M passages. The last line is ``index speedup: X.XXx``: ours against Anserini's
   indexing at the largest N.

    python benchmarks/scale.py [--docs 100000 1000000] [--threads N] [--cache /tmp/splade-anserini-scale]
    python benchmarks/scale.py --docs 1000000 --keep 0.6 --sources 2 --collections-only   # build, measure nothing
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DL19, SCIFACT = SHARED / "trec-dl-2019-passage-judged", SHARED / "beir-scifact"
MSMARCO_PASSAGES = 8_841_823
KEEP = 0.8  # share of a source document's terms a synthetic document keeps (the default of --keep)
TOP_KS = (8, 16, 32)
DOCS_PER_FILE = 100_000


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not getrusage's ru_maxrss: across fork and exec it keeps the parent's
    peak, so a child started by a large parent would report the parent's size."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(stage: str, **arguments) -> dict:
    """Run one stage in a fresh process; returns what it printed as JSON (its last line)."""
    out = subprocess.run([sys.executable, __file__, "--stage", stage, "--arguments", json.dumps(arguments)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"stage {stage} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- stages (each runs in its own process) ---------------------------------------------------------------------

def stage_index(collection: str, index: str, indexer: str, threads: int) -> dict:
    from splade_anserini.index import build_index
    from splade_anserini.settings import IndexSettings
    started = time.perf_counter()
    manifest = build_index(collection, index, IndexSettings(threads=threads, indexer=indexer), overwrite=True,
                           progress=False)
    size = sum(p.stat().st_size for p in Path(index).iterdir() if p.is_file() and p.name != "docids.bin")
    return {"seconds": time.perf_counter() - started, "write_seconds": manifest["index_write_seconds"],
            "docid_table_seconds": manifest["docid_table_seconds"], "documents": manifest["index_documents"],
            "bytes": size, "docid_table_bytes": (Path(index) / "docids.bin").stat().st_size, "rss_mb": peak_rss_mb()}


def stage_docids(index: str) -> dict:
    """The docid table loaded from disk: time and memory."""
    from splade_anserini.lucene.reader import close_reader, docid_table, open_reader
    reader = open_reader(index)
    before = peak_rss_mb()
    started = time.perf_counter()
    table = docid_table(index, reader)
    seconds = time.perf_counter() - started
    close_reader(reader)
    return {"load_seconds": seconds, "documents": len(table), "rss_growth_mb": peak_rss_mb() - before}


def _percentiles(latencies: list) -> dict:
    ordered = sorted(latencies)
    pick = lambda q: 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99)}


def stage_search(index: str, topics: str, threads: int, top_ks: list) -> dict:
    from splade_anserini.formats.topics import read_encoded_topics
    from splade_anserini.lucene.searcher import ImpactSearcher
    from splade_anserini.search import heaviest_terms
    vectors = read_encoded_topics(topics).vectors
    started = time.perf_counter()
    searcher = ImpactSearcher(index)
    result = {"startup_seconds": time.perf_counter() - started, "queries": len(vectors)}
    searcher.batch_search(vectors[:20], 10, 1)  # warm the JVM's compiled code
    for k in (10, 1000):
        searcher.latencies = []
        searcher.batch_search(vectors, k, 1)
        result[f"k{k}"] = _percentiles(searcher.latencies)
        started = time.perf_counter()
        searcher.batch_search(vectors, k, threads)
        result[f"k{k}"]["qps"] = len(vectors) / (time.perf_counter() - started)
    touched = [sum(searcher.df(t) for t in searcher.kept_terms(v)) for v in vectors]
    result["touched_postings"] = sum(touched) / len(touched)
    for top in top_ks:
        searcher.latencies = []
        searcher.batch_search([heaviest_terms(v, top) for v in vectors], 1000, 1)
        result[f"top{top}"] = _percentiles(searcher.latencies)
    searcher.close()
    result["rss_mb"] = peak_rss_mb()
    return result


def stage_idset(count: int) -> dict:
    """Memory of the encode job's duplicate-id check at ``count`` ids (MS MARCO-like numeric ids)."""
    from splade_anserini.formats.idset import IdSet
    before = peak_rss_mb()
    started = time.perf_counter()
    ids = IdSet()
    for n in range(count):
        ids.add(str(n))
    return {"ids": count, "seconds": time.perf_counter() - started, "rss_growth_mb": peak_rss_mb() - before}


STAGES = {"index": stage_index, "docids": stage_docids, "search": stage_search, "idset": stage_idset}


# ---- building what is measured ---------------------------------------------------------------------------------

def source_collection(cache: Path) -> Path:
    """The DL19 pool encoded with splade-tiny (cached)."""
    target = cache / "dl19-pool.splade-tiny"
    if not (target / "manifest.json").is_file():
        print("encoding the DL19 pool with splade-tiny (once) ...", flush=True)
        from splade_anserini import encode_corpus
        encode_corpus(DL19 / "corpus.jsonl", target, progress=False)
    return target


def synthetic_collection(cache: Path, source: Path, docs: int, keep: float = KEEP, sources: int = 1,
                         seed: int = 0) -> Path:
    """``docs`` documents recombined from the source's vectors (cached; named by their settings if not the default)."""
    name = f"synthetic-{docs}" if (keep, sources) == (KEEP, 1) else f"synthetic-{docs}-keep{keep:g}-sources{sources}"
    target = cache / name
    if (target / "manifest.json").is_file():
        return target
    from splade_anserini.formats.collection import CollectionWriter, load_collection
    print(f"building the synthetic collection of {docs:,} documents (once) ...", flush=True)
    manifest, parts = load_collection(source)
    vectors = [json.loads(line)["vector"] for part in parts for line in part.read_text(encoding="utf-8").splitlines()]
    df: dict = {}
    for vector in vectors:
        for term in vector:
            df[term] = df.get(term, 0) + 1
    terms, counts = list(df), list(df.values())
    rng = random.Random(seed)
    pool = rng.choices(terms, weights=counts, k=1 << 20)  # df-weighted draws, used round-robin
    drawn = 0
    share = keep / sources
    replaced = (1 - keep) / (sources - keep) if sources > 1 else 1.0
    writer = CollectionWriter(target, docs_per_file=DOCS_PER_FILE)
    for n in range(docs):
        vector, dropped = {}, []
        for _ in range(sources):
            # a term two sources share keeps the heavier weight, as SPLADE's max pooling would
            for term, weight in vectors[rng.randrange(len(vectors))].items():
                if rng.random() < share:
                    vector[term] = max(weight, vector.get(term, 0))
                else:
                    dropped.append(weight)
        # as many terms as one source document on average: of the sources * L - keep * L terms dropped,
        # (1 - keep) * L are replaced
        for weight in dropped:
            if sources > 1 and rng.random() >= replaced:
                continue
            term = pool[drawn % len(pool)]
            drawn += 1
            if term not in vector:
                vector[term] = weight
        writer.write(f"s{n}", "", vector)
    writer.commit({k: manifest[k] for k in ("model", "model_path", "model_identity", "scale", "max_length", "pooling",
                                            "vocab_size") if k in manifest}
                  | {"synthetic": {"source": str(source), "keep": keep, "sources": sources, "seed": seed}})
    return target


def encoded_queries(cache: Path, source: Path) -> Path:
    """DL19 + SciFact queries encoded with splade-tiny (cached)."""
    target = cache / "queries.dl19-scifact.jsonl"
    if not target.is_file():
        from splade_anserini.formats.readers import Query, read_topics
        from splade_anserini.formats.topics import write_encoded_topics
        from splade_anserini.lucene.queries import SpladeQueryEncoder, encode_topics
        queries = [Query(f"{name}-{q.id}", q.text) for name, data in (("dl19", DL19), ("scifact", SCIFACT))
                   for q in read_topics(data / "queries.tsv")]
        encoder = SpladeQueryEncoder(index=cache / "index-source")
        write_encoded_topics(target, encode_topics(queries, encoder))
    return target


def tradeoff(cache: Path, threads: int) -> list:
    """nDCG@10 and R@1000 of --query-top-k on SciFact and DL19 (the reference configs' pipelines)."""
    from splade_anserini.experiment.config import load_experiment
    from splade_anserini.experiment.pipeline import run_steps
    rows = []
    for config, data, measures in (("scifact-local", SCIFACT, ("nDCG@10", "R@1000")),
                                   ("dl19-passage-local", DL19, ("nDCG@10", "R(rel=2)@1000"))):
        for top in (*TOP_KS, None):
            experiment = load_experiment(ROOT / "configs" / f"{config}.yaml",
                                         [f"search.query_top_k={top if top else 'null'}",
                                          f"search.threads={threads}", f"measures={list(measures)}"],
                                         data=data, workdir=cache / "tradeoff")
            results = run_steps(experiment, ["encode", "index", "search", "eval"], progress=False)
            metrics = results[experiment.topic_sets[0].name]["splade"]
            rows.append((config, top or "all", *(metrics[m] for m in measures)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/splade-anserini-scale"),
                        help="where the source, synthetic collections and indexes are kept (outside the repository)")
    parser.add_argument("--no-tradeoff", action="store_true", help="skip the --query-top-k effectiveness table")
    parser.add_argument("--keep", type=float, default=KEEP,
                        help=f"share of its source documents' terms a synthetic document keeps (default {KEEP})")
    parser.add_argument("--sources", type=int, default=1, help="real documents each synthetic one is made from")
    parser.add_argument("--collections-only", action="store_true",
                        help="build the synthetic collections and the encoded queries (for benchmarks/engines.py), "
                             "then stop")
    parser.add_argument("--stage", choices=tuple(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--arguments", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 0 < args.keep <= 1 or args.sources < 1:
        parser.error("--keep must be in (0, 1] and --sources at least 1")
    sys.path.insert(0, str(ROOT))
    if args.stage:
        print(json.dumps(STAGES[args.stage](**json.loads(args.arguments))))
        return
    if not (DL19 / "corpus.jsonl").is_file() or not (SCIFACT / "queries.tsv").is_file():
        sys.exit(f"needs the shared collections in {SHARED}")
    args.cache.mkdir(parents=True, exist_ok=True)
    source = source_collection(args.cache)
    child("index", collection=str(source), index=str(args.cache / "index-source"), indexer="impact", threads=1)
    topics = encoded_queries(args.cache, source)
    print(f"threads {args.threads}; queries: DL19 + SciFact, {sum(1 for _ in open(topics))} encoded with splade-tiny")
    if args.collections_only:
        for docs in sorted(args.docs):
            print(synthetic_collection(args.cache, source, docs, args.keep, args.sources))
        return
    rows = {}
    for docs in sorted(args.docs):
        collection = synthetic_collection(args.cache, source, docs, args.keep, args.sources)
        label = collection.name.removeprefix("synthetic-")  # its documents and, when not the default, its settings
        manifest = json.loads((collection / "manifest.json").read_text())
        row = {"postings": manifest["postings"]}
        for indexer in ("anserini", "impact"):
            row[indexer] = child("index", collection=str(collection),
                                 index=str(args.cache / f"index-{label}-{indexer}"), indexer=indexer,
                                 threads=args.threads)
            print(f"{docs:>9,} docs  {indexer:<8} index {row[indexer]['seconds']:7.1f} s "
                  f"({docs / row[indexer]['write_seconds']:,.0f} docs/s writing), "
                  f"{row[indexer]['bytes'] / 2**20:6.1f} MB, peak RSS {row[indexer]['rss_mb']:,.0f} MB", flush=True)
        index = str(args.cache / f"index-{label}-impact")
        row["docids"] = child("docids", index=index)
        row["search"] = child("search", index=index, topics=str(topics), threads=args.threads,
                              top_ks=list(TOP_KS) if docs == max(args.docs) else [])
        s = row["search"]
        print(f"{docs:>9,} docs  docid table built {row['impact']['docid_table_seconds']:.1f} s, loaded "
              f"{row['docids']['load_seconds']:.2f} s (+{row['docids']['rss_growth_mb']:.0f} MB); search start-up "
              f"{s['startup_seconds']:.2f} s, k=10 p50/p99 {s['k10']['p50_ms']:.1f}/{s['k10']['p99_ms']:.1f} ms "
              f"{s['k10']['qps']:.0f} q/s, k=1000 p50/p99 {s['k1000']['p50_ms']:.1f}/{s['k1000']['p99_ms']:.1f} ms "
              f"{s['k1000']['qps']:.0f} q/s, {s['touched_postings'] / 1e6:.2f}M postings/query, peak RSS "
              f"{s['rss_mb']:,.0f} MB", flush=True)
        rows[docs] = row
    largest = max(rows)
    s = rows[largest]["search"]
    if any(f"top{t}" in s for t in TOP_KS):
        print(f"\n--query-top-k at {largest:,} docs, k=1000, one thread: " + ", ".join(
            f"{t}: {s[f'top{t}']['p50_ms']:.1f}/{s[f'top{t}']['p99_ms']:.1f} ms" for t in TOP_KS)
            + f", all: {s['k1000']['p50_ms']:.1f}/{s['k1000']['p99_ms']:.1f} ms (p50/p99)")
    if not args.no_tradeoff:
        print("\n--query-top-k effectiveness (real collections):")
        for config, top, ndcg, recall in tradeoff(args.cache, args.threads):
            print(f"  {config:<20} top {top!s:>4}  nDCG@10 {ndcg:.4f}  R@1000 {recall:.4f}")
    idset = child("idset", count=MSMARCO_PASSAGES)
    print(f"\nduplicate-id check of the encode job at {MSMARCO_PASSAGES:,} ids: +{idset['rss_growth_mb']:.0f} MB, "
          f"{idset['seconds']:.0f} s")
    factor = MSMARCO_PASSAGES / largest
    r = rows[largest]
    print(f"projection to {MSMARCO_PASSAGES:,} passages (x{factor:.1f} from {largest:,}): indexing ours "
          f"{r['impact']['seconds'] * factor / 60:.0f} min, Anserini {r['anserini']['seconds'] * factor / 60:.0f} min; "
          f"index {r['impact']['bytes'] * factor / 2**30:.1f} GB; docid table "
          f"{r['impact']['docid_table_bytes'] * factor / 2**20:.0f} MB on disk; search k=1000 p50 "
          f"~{s['k1000']['p50_ms'] * factor:.0f} ms per query on one thread (postings grow with the collection)")
    print(f"index speedup: {r['anserini']['seconds'] / r['impact']['seconds']:.2f}x")


if __name__ == "__main__":
    main()
