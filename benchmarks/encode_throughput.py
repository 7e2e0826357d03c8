"""Encoding throughput: our SPLADE document encoder against Pyserini's, on the shared test collections.

For each collection the same documents are encoded, in one process, with the same model, batch size, max length
and thread count, by
  (a) Pyserini's ``pyserini.encode._splade.SpladeDocumentEncoder`` (as Pyserini's encode CLI calls it), and
  (b) ours (``Splade.encode``),
and we print docs/s of both and the ratio; the share of quantized weights (round(scale * w)) in which our output
differs from a straightforward implementation of the SPLADE formula over the full (batch x length x vocab) tensor,
run on other batches (input order, 32 at a time; each text still padded to its own length bucket): 0 in fp32, since
a text's vector depends neither on the pooling shortcut nor on its batch;
and the floor set by the vocabulary projection (2 x real tokens x hidden x vocab FLOPs at the GEMM rate measured in
this run). ``--memory-docs N`` then encodes N documents (the collection repeated, ids made unique) through the
encode job in a child process and prints its peak RSS. The last line is ``speedup: X.XXx``, the smaller ratio.

    python benchmarks/encode_throughput.py [--docs 2000] [--batch-size 32] [--memory-docs 100000]
                                           [--backend ray --workers 2]   (also: the encode job through Ray)
    python benchmarks/encode_throughput.py --device cuda [--docs 0] [--precision-docs 2000]   (the GPU table)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATASETS = ("beir-scifact", "trec-dl-2019-passage-judged")


def load_texts(name: str, limit: int) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from splade_anserini.formats.readers import read_corpus
    texts = []
    for doc in read_corpus(SHARED / name / "corpus.jsonl"):
        texts.append(doc.text)
        if len(texts) == limit:
            break
    return texts


def gemm_rate(hidden: int, vocab: int, rows: int = 128, seconds: float = 2.0) -> float:
    """FLOP/s of the (vocab x hidden) @ (hidden x rows) product our encoder runs."""
    weight, x = torch.randn(vocab, hidden), torch.randn(rows, hidden)
    for _ in range(3):
        torch.mm(weight, x.T)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        torch.mm(weight, x.T)
        count += 1
    return 2 * rows * hidden * vocab * count / (time.perf_counter() - started)


def time_pyserini(model_dir: Path, texts: list[str], batch_size: int, max_length: int) -> float:
    from splade_anserini.lucene.jvm import start_jvm
    start_jvm()
    from pyserini.encode._splade import SpladeDocumentEncoder
    encoder = SpladeDocumentEncoder(str(model_dir), device="cpu")
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        encoder.encode(texts[start:start + batch_size], max_length=max_length)
    return time.perf_counter() - started


def reference_quantized(model, batches: list[list[int]], texts: list[str], scale: float) -> dict:
    """{text index: quantized reference weights}, the textbook formula run on the given batches."""
    from splade_anserini.model.splade import quantize
    out = {}
    for batch in batches:
        for i, row in zip(batch, quantize(model.reference_weights([texts[i] for i in batch]), scale)):
            out[i] = row
    return out


def differing(model, ours: list[dict], reference: dict) -> tuple[int, int]:
    """(weights that differ, weights in the union of both outputs)."""
    index = {token: i for i, token in enumerate(model.vocab)}
    differ = total = 0
    for i, vector in enumerate(ours):
        ref = reference[i]
        mine = torch.zeros_like(ref)
        if vector:
            mine[[index[t] for t in vector]] = torch.tensor(list(vector.values()))
        union = (mine > 0) | (ref > 0)
        total += int(union.sum())
        differ += int((mine[union] != ref[union]).sum())
    return differ, total


def precision_effect(texts: list[str], args, device: str) -> None:
    """How many quantized weights float16/bfloat16 autocast changes against float32, on ``device``."""
    from splade_anserini.model.splade import Splade
    exact = Splade("splade-tiny", max_length=args.max_length, device=device)
    baseline = exact.encode(texts, args.scale, args.batch_size)
    index = {token: i for i, token in enumerate(exact.vocab)}
    reference = {i: torch.zeros(exact.vocab_size, dtype=torch.int64) for i in range(len(texts))}
    for i, vector in enumerate(baseline):
        if vector:
            reference[i][[index[t] for t in vector]] = torch.tensor(list(vector.values()))
    for dtype in ("float16", "bfloat16"):
        model = Splade("splade-tiny", max_length=args.max_length, device=device, dtype=dtype)
        started = time.perf_counter()
        ours = model.encode(texts, args.scale, args.batch_size)
        seconds = time.perf_counter() - started
        differ, total = differing(model, ours, reference)
        print(f"  {dtype} autocast on {device}: {len(texts) / seconds:.1f} docs/s, {differ} of {total} quantized "
              f"weights differ from float32 ({differ / max(total, 1):.2%})")


def peak_memory(name: str, docs: int, batch_size: int, max_length: int) -> float:
    """Peak RSS (GiB) of a child process running the encode job over ``docs`` documents."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        lines = (SHARED / name / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
        with open(corpus, "w", encoding="utf-8") as out:
            for i in range(docs):
                record = json.loads(lines[i % len(lines)])
                record["_id"] = f"{record['_id']}-{i // len(lines)}"
                out.write(json.dumps(record) + "\n")
        # The child reports its own peak: RUSAGE_CHILDREN would also count this (large) process's image at fork.
        report = Path(tmp) / "rss"
        code = ("import resource, sys\nfrom splade_anserini.cli import main\ncode = main(sys.argv[2:])\n"
                "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
                "sys.exit(code)")
        subprocess.run([sys.executable, "-c", code, str(report), "encode", "--corpus", str(corpus), "--output",
                        str(Path(tmp) / "out"), "--batch-size", str(batch_size), "--max-length", str(max_length),
                        "--quiet"], check=True, cwd=ROOT)
        return int(report.read_text()) / 2**20


def backend_comparison(name: str, docs: int, args) -> None:
    """The encode job on the same documents through the single process and through Ray (``--workers`` workers on
    this machine), timed end to end (Ray's start and its workers' model loading included), outputs compared."""
    import filecmp

    from splade_anserini.distributed import encode_corpus_ray
    from splade_anserini.encode import EncodeSettings, encode_corpus
    from splade_anserini.formats.readers import read_corpus
    settings = EncodeSettings(batch_size=args.batch_size, max_length=args.max_length, scale=args.scale,
                              docs_per_file=max(docs // (2 * args.workers), 1))
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus.jsonl"
        with open(corpus, "w", encoding="utf-8") as out:
            for n, doc in enumerate(read_corpus(SHARED / name / "corpus.jsonl")):
                if n == docs:
                    break
                out.write(json.dumps({"_id": doc.id, "text": doc.text}) + "\n")
        started = time.perf_counter()
        encode_corpus(corpus, Path(scratch) / "single", settings, progress=False)
        single = time.perf_counter() - started
        started = time.perf_counter()
        encode_corpus_ray(corpus, Path(scratch) / "ray", settings, workers=args.workers, progress=False)
        distributed = time.perf_counter() - started
        names = sorted(p.name for p in (Path(scratch) / "single").glob("part-*.jsonl"))
        same = filecmp.cmpfiles(Path(scratch) / "single", Path(scratch) / "ray", names, shallow=False)[0] == names
    print(f"\n{name}: encode job on {docs} docs, single process vs Ray with {args.workers} workers (wall time, "
          f"start-up included)")
    print(f"  single process  {docs / single:8.1f} docs/s")
    print(f"  ray             {docs / distributed:8.1f} docs/s   ratio {single / distributed:.2f}x   "
          f"identical part files: {same}")


def main() -> None:
    global SHARED
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000, help="documents per collection (0 skips the comparison)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--scale", type=float, default=100)
    parser.add_argument("--memory-docs", type=int, default=100_000, help="0 skips the memory run")
    parser.add_argument("--precision-docs", type=int, default=0,
                        help="also measure float16/bfloat16 autocast against float32 on this many documents "
                             "(on the GPU where there is one)")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="ray: also time the encode job through Ray against the single process")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers for --backend ray")
    parser.add_argument("--device", default="cpu", help="cuda: the GPU table (benchmarks/encode_gpu.py) on the DL19 "
                        "pool (--docs passages; 0: all); the CPU comparison otherwise")
    parser.add_argument("--data", type=Path, default=SHARED, help="where the shared collections are (a GPU machine: "
                        "the folder benchmarks/device_bundle.py prepared)")
    parser.add_argument("--small-base", action="store_true", help=argparse.SUPPRESS)  # a 2-layer stand-in, for tests
    args = parser.parse_args()
    SHARED = args.data
    missing = [n for n in DATASETS if not (SHARED / n / "corpus.jsonl").is_file()]
    if missing:
        sys.exit(f"needs the shared collections {missing} in {SHARED}")
    sys.path.insert(0, str(ROOT))
    from splade_anserini.model.splade import Splade

    if args.device != "cpu" or args.small_base:  # the GPU table (run on the CPU with --small-base: a smoke test)
        from encode_gpu import BASE, gpu_table

        from splade_anserini.model.models import resolve_model
        shape = dict(BASE, num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=128) \
            if args.small_base else BASE
        texts = load_texts(DATASETS[1], args.docs or 10**9)
        speedup = gpu_table(texts, args.device, resolve_model("splade-tiny"), shape)
        if args.precision_docs:
            print(f"\nlower precision (DL19, {args.precision_docs} docs):")
            precision_effect(load_texts(DATASETS[1], args.precision_docs), args, args.device)
        print(f"gpu speedup: {speedup:.2f}x")
        return
    model = Splade("splade-tiny", max_length=args.max_length, device="cpu")
    hidden, vocab = model.projection.in_features, model.vocab_size
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"max length {args.max_length}, splade-tiny (hidden {hidden}, vocab {vocab})")
    ratios = []
    for name in DATASETS if args.docs else ():
        texts = load_texts(name, args.docs)
        tokens = sum(len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"])
        theirs = time_pyserini(model.path, texts, args.batch_size, args.max_length)
        started = time.perf_counter()
        ours = model.encode(texts, args.scale, args.batch_size)
        mine = time.perf_counter() - started
        rate = gemm_rate(hidden, vocab)
        floor = 2 * tokens * hidden * vocab / rate
        # The reference runs on other batches than ours (input order): a text's vector must not depend on them.
        input_batches = [list(range(s, min(s + args.batch_size, len(texts))))
                         for s in range(0, len(texts), args.batch_size)]
        differ, total = differing(model, ours, reference_quantized(model, input_batches, texts, args.scale))
        ratio = theirs / mine
        ratios.append(ratio)
        print(f"\n{name}: {len(texts)} docs, {tokens / len(texts):.0f} real tokens/doc")
        print(f"  pyserini SpladeDocumentEncoder  {len(texts) / theirs:8.1f} docs/s")
        print(f"  splade-anserini                 {len(texts) / mine:8.1f} docs/s   ratio {ratio:.2f}x")
        print(f"  projection floor                {len(texts) / floor:8.1f} docs/s   (GEMM {rate / 1e9:.0f} GFLOP/s; "
              f"we run at {floor / mine:.0%} of the floor)")
        print(f"  quantized weights differing from the reference formula (on input-order batches): {differ} of "
              f"{total} ({differ / max(total, 1):.4%})")
    if args.backend == "ray":
        for name in DATASETS:
            backend_comparison(name, args.docs or 1000, args)
    if args.precision_docs:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        print(f"\nlower precision (DL19, {args.precision_docs} docs):")
        precision_effect(load_texts(DATASETS[1], args.precision_docs), args, device)
    if args.memory_docs:
        rss = peak_memory(DATASETS[1], args.memory_docs, args.batch_size, args.max_length)
        print(f"\npeak RSS encoding {args.memory_docs} documents: {rss:.2f} GiB (target < 2 GiB)")
    if ratios:
        print(f"speedup: {min(ratios):.2f}x")


if __name__ == "__main__":
    main()
