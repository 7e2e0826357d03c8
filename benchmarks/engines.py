"""Engines: Lucene, PISA, BMP and Seismic on the same collection, the same query vectors and the same k.

For each collection: the Lucene impact index (``splade-anserini index``), the PISA index (``index --engine pisa``),
the BMP and Seismic indexes are built into ``--workdir`` when missing (build time as recorded in their manifests);
with ``--ciff`` the CIFF export runs in a child process, timed, with its peak memory.
Queries are encoded once with the index's model (as ``search`` does), then for k = 10 and k = 1000 each engine
searches them: one thread, each query timed alone (p50, p99; the topics are repeated to at least
``--latency-queries`` timings, after a warm-up), then all cores (queries/s over at least ``--throughput-queries``).
nDCG@10 and R@1000 come from the k = 1000 hits, and each engine's hits are compared with Lucene's query by query.
Lucene, PISA, BMP (safe, rescored) and Seismic are built in collection order and reordered by BP (``--reorder bp``;
``--orders``: BP is computed once per collection and kept, so only the first BP-ordered build pays for it); Seismic
is built with its defaults (or ``--seismic-build``) and searched at three operating points (``SEISMIC_POINTS``, or
``--seismic-points``); the new engines are built in a child process, timed, with its peak memory. Every engine's
hits are compared with Lucene's (exact search): overlap@10 and overlap@1000, the share of Lucene's top k the engine
returns, averaged over queries. The last line is
``fastest exact-quality engine: NAME p50 X ms at N (Lucene Y ms, Z x)``: among the engines whose overlap@10 with
Lucene is >= 0.99 on every real collection, the fastest at k = 10 on the largest collection benchmarked.

    python benchmarks/engines.py                     # SciFact and the DL19 pool from ../shared/data, and the 1M
                                                     # synthetic collection of benchmarks/scale.py if it is there
    python benchmarks/engines.py --collection DIR --topics queries.tsv [--qrels qrels.txt] [--name NAME]
    python benchmarks/engines.py --scale-collection DIR [--scale-topics FILE] [--scale-qrels FILE]
    python benchmarks/engines.py --engines lucene bmp seismic      # a subset of the engines
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
SHARED_SETS = {"scifact": "beir-scifact", "dl19-pool": "trec-dl-2019-passage-judged", "cacm": "cacm"}
# Seismic's search operating points (query_cut, heap_factor): fast, its default, careful
SEISMIC_POINTS = ((5, 0.9), (10, 0.7), (20, 0.5))
EXACT_QUALITY = 0.99  # overlap@10 with exact search on every real collection
# benchmarks/scale.py keeps its synthetic collections here; the 1M row uses one of them when it exists.
SCALE_CACHE = Path("/tmp/splade-anserini-scale")
SCALE_DOCUMENTS = 1_000_000
KS = (10, 1000)
WARM_UP_QUERIES = 300
MEASURES = ("nDCG@10", "R@1000")


@dataclass
class Case:
    name: str
    collection: Path
    topics: Path  # raw topics (encoded with the index's model) or a pre-encoded topics file
    qrels: Path | None


def shared_cases(workdir: Path, sets=tuple(SHARED_SETS)) -> list:
    """SciFact and the DL19 pool, encoded with splade-tiny into ``workdir`` when not there yet."""
    from splade_anserini import EncodeSettings, encode_corpus
    cases = []
    for name, folder in SHARED_SETS.items():
        if name not in sets:
            continue
        data = SHARED / folder
        if not (data / "corpus.jsonl").is_file():
            print(f"skipping {name}: {data} is absent")
            continue
        collection = workdir / f"{name}.collection"
        if not (collection / "manifest.json").is_file():
            encode_corpus(data / "corpus.jsonl", collection, EncodeSettings(), progress=True)
        cases.append(Case(name, collection, data / "queries.tsv", data / "qrels.txt"))
    return cases


def scale_case(args) -> Case | None:
    """The 1M-document synthetic collection of benchmarks/scale.py, or None (with the reason printed)."""
    from splade_anserini.formats.artifacts import COLLECTION, manifest_kind
    candidates = [args.scale_collection] if args.scale_collection else sorted(SCALE_CACHE.glob("*"))
    for path in candidates:
        try:
            manifest = json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if manifest_kind(manifest) == COLLECTION and (args.scale_collection or
                                                      manifest.get("documents", 0) >= SCALE_DOCUMENTS):
            encoded = sorted(SCALE_CACHE.glob("queries*.jsonl"))  # benchmarks/scale.py's pre-encoded queries
            topics = args.scale_topics or (encoded[0] if encoded else SHARED / SHARED_SETS["dl19-pool"] / "queries.tsv")
            return Case(f"synthetic {manifest['documents'] // 1000}k", Path(path), topics, args.scale_qrels)
    print(f"skipping the 1M row: no collection of {SCALE_DOCUMENTS:,} documents in {SCALE_CACHE} (benchmarks/scale.py "
          f"builds it there; or pass --scale-collection DIR)")
    return None


def build(case: Case, workdir: Path, engine: str, bits: int | None = None, reorder: str | None = None,
          engine_options: tuple = (), **options) -> tuple[Path, dict]:
    """The engine's index of the collection (built when missing). ``engine_options``: (option, value) pairs of
    ``splade-anserini index`` for Seismic and BMP (e.g. ("seismic-knn", "10")), which also name the index."""
    from splade_anserini.formats.artifacts import read_manifest
    from splade_anserini.index import build_index
    from splade_anserini.settings import IndexSettings
    suffix = "".join(f".{option.split('-', 1)[-1]}{value}" for option, value in engine_options)
    index = workdir / f"{case.name.replace(' ', '-')}.{engine}{bits or ''}{'.' + reorder if reorder else ''}{suffix}"
    if not (index / "manifest.json").is_file():
        if engine in ("seismic", "bmp"):  # in a child process: its peak memory is the build's
            started = time.perf_counter()
            child = subprocess.run([sys.executable, "-c", EXPORT_CHILD, "index", "--collection", str(case.collection),
                                    "--index", str(index), "--engine", engine, "--quiet",
                                    *(["--reorder", reorder] if reorder else []),
                                    *(f"--{option}={value}" for option, value in engine_options)],
                                   capture_output=True, text=True)
            if child.returncode != 0:  # the child's own one-line error, not a CalledProcessError without it
                sys.exit(f"building {index} failed: {child.stderr.strip() or f'exit status {child.returncode}'}")
            Path(f"{index}.build.json").write_text(json.dumps({
                "seconds": time.perf_counter() - started, "peak_mib": int(child.stdout.split()[-1]) / 2 ** 10}))
        else:
            build_index(case.collection, index, IndexSettings(engine=engine, bits=bits, reorder=reorder, **options),
                        progress=True)
    manifest = read_manifest(index)
    built = Path(f"{index}.build.json")
    manifest["build_peak_mib"] = json.loads(built.read_text())["peak_mib"] if built.is_file() else None
    if manifest.get("collection") != str(case.collection.resolve()):
        sys.exit(f"{index} was built from {manifest.get('collection')}, not {case.collection}; remove it")
    return index, manifest


# `splade-anserini export` in a fresh interpreter that then reports its own peak resident memory (KiB). VmHWM, not
# getrusage's ru_maxrss, which keeps the forking parent's peak across exec (here the benchmark's, JVM included).
EXPORT_CHILD = ("import re, sys; from splade_anserini.cli import main; code = main(sys.argv[1:]); "
                "print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)); sys.exit(code)")


def export(case: Case, workdir: Path) -> dict:
    """CIFF export in a child process: wall time and the child's peak resident memory."""
    output = workdir / f"{case.name.replace(' ', '-')}.ciff"
    started = time.perf_counter()
    child = subprocess.run([sys.executable, "-c", EXPORT_CHILD, "export", "--collection", str(case.collection),
                            "--output", str(output), "--overwrite", "--quiet"], check=True, capture_output=True,
                           text=True)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mib": int(child.stdout.split()[-1]) / 2 ** 10, "bytes": output.stat().st_size}


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def percentile(values: list, p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def repeated(vectors: list, at_least: int) -> list:
    return vectors * max(1, -(-at_least // len(vectors)))


def measure(searcher, vectors: list, k: int, args) -> dict:
    searcher.batch_search(repeated(vectors, args.warm_up), k, 1)  # warm-up: Java's JIT, the page cache
    searcher.latencies = []
    searcher.batch_search(repeated(vectors, args.latency_queries), k, 1)
    latencies = [1000 * t for t in searcher.latencies]
    many = repeated(vectors, args.throughput_queries)
    started = time.perf_counter()
    searcher.batch_search(many, k, args.threads)
    qps = len(many) / (time.perf_counter() - started)
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "qps": qps,
            "hits": searcher.batch_search(vectors, k, args.threads)}


def overlap(reference: list, hits: list, k: int) -> float:
    """The share of the reference's top k (exact search) in ``hits``' top k, averaged over the queries that have
    reference hits."""
    shares = [len({d for d, _ in ref[:k]} & {d for d, _ in got[:k]}) / min(k, len(ref))
              for ref, got in zip(reference, hits) if ref]
    return sum(shares) / max(len(shares), 1)


class ScipySearcher:
    """Exact search with no index structure: the forward index (a BMP index's) as a CSC matrix, every document
    scored by one sparse product on one thread, the top k taken; the floor an exact engine has to beat."""

    def __init__(self, index: Path):
        import scipy.sparse

        from splade_anserini.formats.forward import ForwardStatistics, read_forward_index
        from splade_anserini.formats.topics import TermStatisticsSearcher
        self._forward = read_forward_index(index)
        self._matrix = scipy.sparse.csc_matrix(self._forward.matrix())
        self._statistics = ForwardStatistics(self._forward)
        self._terms = TermStatisticsSearcher()
        self._terms._statistics, self._terms.num_docs, self._terms.min_idf = (self._statistics,
                                                                            self._statistics.num_docs, 0.0)
        self._terms.latencies = self.latencies = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def _search(self, terms: dict, k: int) -> list:
        import numpy

        from splade_anserini.formats.runs import anserini_top_k
        ids = self._statistics.term_ids
        scores = self._matrix[:, [ids[t] for t in terms]] @ numpy.array(list(terms.values()), dtype=numpy.float32)
        top = numpy.argpartition(-scores, k)[:k] if len(scores) > k else numpy.arange(len(scores))
        kth = scores[top].min()
        rows = numpy.flatnonzero(scores >= max(kth, 1e-9))  # the ties at the k-th score too, cut by docid
        return anserini_top_k([(self._forward.ids[r], float(scores[r])) for r in rows.tolist()], k)

    def batch_search(self, vectors: list, k: int, threads: int = 1) -> list:
        self._terms.latencies = self.latencies
        return self._terms.search_each(self._search, vectors, k, 1)


def lucene_breakdown(lucene: Path, floor: Path | None, vectors: list, args, k: int = 10) -> str:
    """Medians per query, one thread: building the Lucene query (Python -> Java), the search call (JNI + Lucene's
    scoring), TopDocs -> JSON, the rest of our collection (parse, docid lookup, tie cut), one trivial JNI call; and
    the scipy floor on the same queries."""
    import statistics

    from splade_anserini.lucene.searcher import ImpactSearcher
    parts: dict = {name: [] for name in ("query", "search", "json", "rest", "jni", "floor")}
    with ImpactSearcher(lucene) as searcher:
        searcher.batch_search(repeated(vectors, args.warm_up), k, 1)
        n = k + max(16, k // 8)
        for vector in vectors:
            t0 = time.perf_counter()
            query = searcher.query(vector)
            t1 = time.perf_counter()
            if query is None:
                continue
            top = searcher._searcher.search(query, n)
            t2 = time.perf_counter()
            searcher._json.writeValueAsString(top)
            t3 = time.perf_counter()
            searcher._collect(query, k)  # search + JSON + the rest
            t4 = time.perf_counter()
            searcher._reader.numDocs()
            t5 = time.perf_counter()
            parts["query"].append(t1 - t0)
            parts["search"].append(t2 - t1)
            parts["json"].append(t3 - t2)
            parts["rest"].append(max(t4 - t3 - (t3 - t1), 0.0))
            parts["jni"].append(t5 - t4)
    if floor is not None:
        with ScipySearcher(floor) as scipy_searcher:
            scipy_searcher.batch_search(vectors, k)  # warm-up
            scipy_searcher.latencies.clear()
            scipy_searcher.batch_search(vectors, k)
            parts["floor"] = list(scipy_searcher.latencies)
    ms = {name: 1000 * statistics.median(values) if values else float("nan") for name, values in parts.items()}
    return (f"Lucene k={k} breakdown, median ms per query (one thread): query building {ms['query']:.3f}, search "
            f"call (JNI + scoring) {ms['search']:.3f}, TopDocs to JSON {ms['json']:.3f}, parse + docids + tie cut "
            f"{ms['rest']:.3f}, a trivial JNI call {ms['jni']:.3f}; scipy floor (every document scored) "
            f"{ms['floor']:.3f}")


def engines_of(case: Case, args) -> list:
    """(label, open searcher, index, manifest) of every engine benchmarked on ``case``."""
    from functools import partial

    from splade_anserini.lucene.searcher import ImpactSearcher
    workdir, engines = args.workdir, []
    orders = [None if order == "collection" else order for order in args.orders]
    # the first engine is the reference of every overlap: Lucene in collection order
    for reorder in [None] + [order for order in orders if order]:
        lucene, manifest = build(case, workdir, "lucene", reorder=reorder,
                                 **({"indexer": args.lucene_indexer} if args.lucene_indexer else {}))
        engines.append((f"Lucene (exact){', BP order' if reorder else ''}", partial(ImpactSearcher, lucene), lucene,
                        manifest))
    if "scipy" in args.engines:  # the floor: every document scored by one sparse product (the BMP index's matrix)
        floor, manifest = build(case, workdir, "bmp")
        engines.append(("scipy (exact, every document)", partial(ScipySearcher, floor), floor, manifest))
    if "pisa" in args.engines:
        from splade_anserini.pisa.searcher import PisaSearcher
        for reorder in orders:
            pisa, manifest = build(case, workdir, "pisa", reorder=reorder)
            engines.append((f"PISA{', BP order' if reorder else ''}", partial(PisaSearcher, pisa), pisa, manifest))
    if "bmp" in args.engines:
        from splade_anserini.bmp.searcher import BmpSearcher
        for reorder in orders:
            bmp, manifest = build(case, workdir, "bmp", reorder=reorder)
            engines.append((f"BMP safe{', BP order' if reorder else ''}", partial(BmpSearcher, bmp), bmp, manifest))
        # BMP by itself on the last order's index: its own rounded scores, no rescoring and so no proof of Lucene's
        # top k; what the exact rows above pay for their exactness is the difference
        from splade_anserini.bmp import BmpSearch
        engines.append((f"BMP safe, its own rounded scores{', BP order' if reorder else ''}",
                        partial(BmpSearcher, bmp, settings=BmpSearch(rescore=False)), bmp, manifest))
    if "seismic" in args.engines:
        from splade_anserini.seismic import SeismicSearch
        from splade_anserini.seismic.searcher import SeismicSearcher
        built = ", built " + " ".join(f"{o}={v}" for o, v in args.seismic_build) if args.seismic_build else ""
        for reorder in orders:  # Seismic clusters each list itself; the order is measured, not assumed, to matter
            seismic, manifest = build(case, workdir, "seismic", reorder=reorder,
                                      engine_options=tuple(args.seismic_build))
            for cut, heap, knn in args.seismic_points:
                engines.append((f"Seismic cut {cut} heap {heap}{f' knn {knn}' if knn else ''}{built}"
                                f"{', BP order' if reorder else ''}",
                                partial(SeismicSearcher, seismic, settings=SeismicSearch(query_cut=cut,
                                                                                         heap_factor=heap, n_knn=knn)),
                                seismic, manifest))
    return engines


def bench(case: Case, args) -> dict:
    """Benchmark every engine on ``case``; returns {(label, k): row} with p50 and overlap@10."""
    from splade_anserini.evaluate import evaluate
    from splade_anserini.formats.readers import read_qrels, read_topics
    from splade_anserini.formats.topics import read_encoded_topics, sidecar_path
    from splade_anserini.lucene.queries import SpladeQueryEncoder, encode_topics

    engines = engines_of(case, args)
    if args.ciff:
        exported = export(case, args.workdir)
        print(f"{case.name}: CIFF export {exported['seconds']:.1f} s, peak {exported['peak_mib']:.0f} MiB, "
              f"{exported['bytes'] / 2 ** 20:.1f} MiB")
    if sidecar_path(case.topics).is_file():
        topics = read_encoded_topics(case.topics)
    else:
        lucene = next(index for label, _, index, _ in engines if label.startswith("Lucene"))
        topics = encode_topics(read_topics(case.topics), SpladeQueryEncoder(index=lucene))
    qrels = read_qrels(case.qrels) if case.qrels else None
    documents = engines[0][3]["index_documents"]
    print(f"\n{case.name}: {documents:,} documents, {len(topics)} queries, {args.threads} threads for q/s "
          f"(scipy: one thread); load average {os.getloadavg()[0]:.2f}")
    if args.breakdown:
        lucene = next(index for label, _, index, _ in engines if label == "Lucene (exact)")
        floor = next((index for label, _, index, _ in engines if label.startswith(("scipy", "BMP"))), None)
        print(lucene_breakdown(lucene, floor, topics.vectors, args))
    print("| engine | k | p50 ms | p99 ms | q/s | overlap@k with exact | index MiB | build s | build peak MiB | "
          + " | ".join(MEASURES) + " |")
    print("|---|---|---|---|---|---|---|---|---|" + "---|" * len(MEASURES))
    reference, rows, notes = {}, {}, []
    for label, open_searcher, index, manifest in engines:
        with open_searcher() as searcher:
            for k in args.ks:
                result = measure(searcher, topics.vectors, k, args)
                reference.setdefault(k, result["hits"])  # the first engine is Lucene's exact search
                agreement = overlap(reference[k], result["hits"], k)
                if qrels is not None and k == max(args.ks):
                    run = {qid: dict(hits) for qid, hits in zip(topics.ids, result["hits"])}
                    means, _ = evaluate(run, qrels, MEASURES)
                    scores = " | ".join(f"{means[m]:.4f}" for m in MEASURES)
                else:
                    scores = " | ".join("" for _ in MEASURES)
                peak = manifest.get("build_peak_mib")
                print(f"| {label} | {k} | {result['p50']:.2f} | {result['p99']:.2f} | {result['qps']:.0f} | "
                      f"{agreement:.3f} | {size(index) / 2 ** 20:.1f} | {manifest['index_seconds']:.1f} | "
                      f"{'' if peak is None else f'{peak:.0f}'} | {scores} |", flush=True)
                rows[(label, k)] = {"p50": result["p50"], "overlap": agreement}
                fetched = getattr(searcher, "candidates", None)
                if fetched:  # BMP's rescoring: how deep it fetched to prove the top k
                    notes.append(f"{label}, k={k}: BMP hits fetched per query, median {percentile(fetched, 50):,}, "
                                 f"p99 {percentile(fetched, 99):,}")
                    fetched.clear()
    for note in notes:
        print(note)
    return rows


def seismic_point(text: str) -> tuple:
    """CUT/HEAP[/KNN] -> (query_cut, heap_factor, n_knn)."""
    parts = text.split("/")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        return int(parts[0]), float(parts[1]), int(parts[2]) if len(parts) == 3 else 0
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not CUT/HEAP[/KNN], e.g. 10/0.7 or 5/0.9/10") from None


def seismic_build(text: str) -> tuple:
    """OPTION=VALUE -> ("seismic-OPTION", VALUE), an option of ``index --engine seismic``."""
    option, equals, value = text.partition("=")
    if not equals or not option or not value:
        raise argparse.ArgumentTypeError(f"{text!r} is not OPTION=VALUE, e.g. knn=10")
    return f"seismic-{option.replace('_', '-')}", value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--collection", type=Path, help="benchmark this collection only (with --topics)")
    parser.add_argument("--topics", type=Path, help="its topics: raw (encoded with the index's model) or pre-encoded")
    parser.add_argument("--qrels", type=Path, help="its qrels (nDCG@10, R@1000); without them, speed only")
    parser.add_argument("--name", default=None, help="its name in the output (default: the directory's)")
    parser.add_argument("--scale-collection", type=Path, default=None,
                        help=f"the synthetic collection (default: a {SCALE_DOCUMENTS:,}-document one in {SCALE_CACHE})")
    parser.add_argument("--scale-topics", type=Path, default=None, help="its topics (default: the pre-encoded "
                        "queries*.jsonl that benchmarks/scale.py keeps beside it, else DL19's queries)")
    parser.add_argument("--scale-qrels", type=Path, default=None, help="its qrels, if any")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/splade-anserini-engines"),
                        help="where collections, indexes and CIFF files are built (and reused)")
    parser.add_argument("--lucene-indexer", default=None, help="splade-anserini index --indexer (default: its own)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for queries/s")
    parser.add_argument("--latency-queries", type=int, default=500, help="one-thread timings per engine and k")
    parser.add_argument("--throughput-queries", type=int, default=2000, help="queries per throughput measurement")
    parser.add_argument("--ks", type=int, nargs="+", default=list(KS), help="the k's measured (nDCG@10 and R@1000 "
                        "from the largest)")
    parser.add_argument("--warm-up", type=int, default=WARM_UP_QUERIES, help="queries searched before timing")
    parser.add_argument("--ciff", action="store_true", help="also time the CIFF export (child process, peak memory)")
    parser.add_argument("--engines", nargs="+", default=["lucene", "scipy", "pisa", "bmp", "seismic"],
                        choices=("lucene", "scipy", "pisa", "bmp", "seismic"),
                        help="engines to benchmark (Lucene always; scipy: every document scored, the exact floor)")
    parser.add_argument("--orders", "--bmp-orders", nargs="+", default=["collection", "bp"],
                        choices=("collection", "bp"), help="document orders of the Lucene, PISA, BMP and Seismic "
                        "indexes benchmarked: collection order, BP's (index --reorder bp); overlaps are against Lucene "
                        "in collection order")
    parser.add_argument("--breakdown", action="store_true", help="also where Lucene's k = 10 time goes (query "
                        "building, the search call, the TopDocs JSON, ranking), beside the scipy floor")
    parser.add_argument("--sets", nargs="+", default=list(SHARED_SETS), choices=list(SHARED_SETS),
                        help="which real collections")
    parser.add_argument("--seismic-points", nargs="+", type=seismic_point,
                        default=[(cut, heap, 0) for cut, heap in SEISMIC_POINTS], metavar="CUT/HEAP[/KNN]",
                        help="Seismic's search operating points: query_cut/heap_factor[/n_knn] (default: "
                             + " ".join(f"{cut}/{heap}" for cut, heap in SEISMIC_POINTS) + ")")
    parser.add_argument("--seismic-build", nargs="+", type=seismic_build, default=[], metavar="OPTION=VALUE",
                        help="Seismic build settings as index's --seismic-OPTION (e.g. knn=10 postings=6000); they "
                             "name the index, so each setting gets its own")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    from splade_anserini.lucene.jvm import start_jvm
    start_jvm()
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    if args.collection:
        if not args.topics:
            parser.error("--collection needs --topics")
        cases = [Case(args.name or args.collection.name, args.collection, args.topics, args.qrels)]
    else:
        cases = shared_cases(args.workdir, args.sets)
        large = scale_case(args)
        cases += [large] if large else []
    print(f"engines benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f} (other processes' CPU use shows up in the timings)")
    args.engines = ["lucene"] + [e for e in args.engines if e != "lucene"]
    results = [(case, bench(case, args)) for case in cases]
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    real = [rows for case, rows in results if case.qrels is not None]
    labels = {label for _, rows in results for label, _ in rows}
    if not real:  # exact quality is judged on real collections only
        print("fastest exact-quality engine: none judged (no collection with qrels in this run; overlap@10 with "
              "exact search is shown per engine above)")
        return
    exact_quality = sorted(label for label in labels
                           if all(rows.get((label, 10), {}).get("overlap", 0) >= EXACT_QUALITY for rows in real))
    largest_case, largest = max(results, key=lambda item: read_documents(item[0]))
    lucene = largest[("Lucene (exact)", 10)]["p50"]
    fastest = min(exact_quality, key=lambda label: largest[(label, 10)]["p50"])
    p50 = largest[(fastest, 10)]["p50"]
    print(f"exact-quality engines (overlap@10 >= {EXACT_QUALITY} on every real collection): "
          f"{', '.join(exact_quality)}")
    print(f"fastest exact-quality engine: {fastest} p50 {p50:.2f} ms at {largest_case.name} "
          f"(Lucene {lucene:.2f} ms, {lucene / p50:.2f} x)")


def read_documents(case: Case) -> int:
    from splade_anserini.formats.collection import load_collection
    return load_collection(case.collection)[0]["documents"]


if __name__ == "__main__":
    main()
