"""The GPU table of ``benchmarks/encode_throughput.py --device cuda``: documents per second, on the same texts, for

  - the encode job (``encode_corpus``: reading, tokenizing, the model, formatting and writing the JSONL),
  - ours (``Splade.encode``: the packed device path),
  - the textbook formula over the full (batch x length x vocab) tensor, length-sorted batches,
  - Pyserini's ``SpladeDocumentEncoder`` as written (where pyserini is installed),
  - sentence-transformers' ``SparseEncoder`` (where it is installed),

for splade-tiny and for a BERT-base-size model (random weights, splade-tiny's tokenizer, the decoder bias shifted so
about 150 terms per passage are active), in fp32, bf16 and fp16; plus the device's bf16 GEMM rate measured in the same
run, our share of the floor it implies, and the ETA for MS MARCO's 8.8M passages. Needs neither pyserini nor Java.
The last line is ``gpu speedup: X.XXx``: ours against the sorted textbook formula, BERT-base size, bf16.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

MSMARCO_PASSAGES = 8_841_823
ACTIVE_TERMS = 150
BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}


def gemm_rate(device: str, dtype=torch.bfloat16, size: int | None = None, seconds: float = 2.0) -> float:
    # large enough to reach a GPU's peak; on a CPU (the smoke test) one such product would take minutes
    size = size or (8192 if device.startswith("cuda") else 512)
    a, b = torch.randn(size, size, device=device, dtype=dtype), torch.randn(size, size, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        count += 1
    sync()
    return 2 * size ** 3 * count / (time.perf_counter() - started)


def bert_base_like(target: Path, tokenizer_dir: Path, device: str, texts: list[str], shape: dict = BASE) -> Path:
    """A BERT-base-size masked LM with random weights whose decoder bias is shifted until about ACTIVE_TERMS
    vocabulary entries per passage are positive (as in trained SPLADE models), saved with splade-tiny's tokenizer."""
    from transformers import BertConfig, BertForMaskedLM

    from splade_anserini.model.splade import Splade
    config = BertConfig.from_pretrained(tokenizer_dir)
    for key, value in shape.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(target)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tokenizer_dir / name, target / name)
    model = Splade(target, device=device)
    low, high = -20.0, 20.0
    sample = texts[:128]
    for _ in range(12):  # bisection on a constant added to the bias
        shift = (low + high) / 2
        with torch.no_grad():
            model.projection.bias += shift
        active = sum(len(v) for v in model.encode(sample, 100, 64)) / len(sample)
        with torch.no_grad():
            model.projection.bias -= shift
        low, high = (shift, high) if active < ACTIVE_TERMS else (low, shift)
    with torch.no_grad():
        model.projection.bias += (low + high) / 2
    model.mlm.save_pretrained(target)
    return target


def _timed(function) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def textbook_sorted(model_dir: Path, texts: list[str], device: str, dtype: str, batch: int = 128) -> float:
    """The SPLADE formula as usually written: the full logits tensor, activation, masked max; batches of
    length-sorted texts; sparse vectors built on the host."""
    from splade_anserini.model.splade import DTYPES, Splade, pool
    model = Splade(model_dir, device=device)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))

    def run():
        for start in range(0, len(order), batch):
            inputs = model.tokenizer([texts[i] for i in order[start:start + batch]], max_length=model.max_length,
                                     truncation=True, padding=True, return_tensors="pt").to(device)
            with torch.inference_mode(), torch.autocast(device.split(":")[0], dtype=DTYPES[dtype],
                                                        enabled=dtype != "float32"):
                logits = model.mlm(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
                weights = pool(logits.float(), inputs["attention_mask"], textbook=True)
            model.sparse(weights.cpu(), 100)

    return len(texts) / _timed(run)


def ours(model_dir: Path, texts: list[str], device: str, dtype: str, batch: int = 256) -> float:
    from splade_anserini.model.splade import Splade
    model = Splade(model_dir, device=device, dtype=dtype)
    model.encode(texts[:batch], 100, batch)  # warm-up: kernels chosen, memory pools filled
    return len(texts) / _timed(lambda: model.encode(texts, 100, batch))


def encode_job(model_dir: Path, texts: list[str], device: str, dtype: str, batch: int = 256) -> float:
    """The encode job on a JSONL corpus of the texts, the model loaded beforehand (start-up not counted)."""
    from splade_anserini import EncodeSettings, encode_corpus
    from splade_anserini.model.splade import Splade
    model = Splade(model_dir, device=device, dtype=dtype)
    model.encode(texts[:batch], 100, batch)
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus.jsonl"
        corpus.write_text("".join(json.dumps({"_id": f"d{n}", "text": t}) + "\n" for n, t in enumerate(texts)))
        settings = EncodeSettings(model=str(model_dir), batch_size=batch, dtype=dtype, device=device)
        seconds = _timed(lambda: encode_corpus(corpus, Path(scratch) / "out", settings, progress=False, model=model))
    return len(texts) / seconds


def pyserini_as_written(model_dir: Path, texts: list[str], device: str, batch: int = 32) -> float | None:
    try:
        from splade_anserini.lucene.jvm import start_jvm
        start_jvm()
        from pyserini.encode._splade import SpladeDocumentEncoder
    except Exception:  # no pyserini or no Java on this machine
        return None
    encoder = SpladeDocumentEncoder(str(model_dir), device=device)
    return len(texts) / _timed(lambda: [encoder.encode(texts[s:s + batch]) for s in range(0, len(texts), batch)])


def sentence_transformers(model_dir: Path, texts: list[str], device: str, batch: int = 256) -> float | None:
    try:
        from sentence_transformers import SparseEncoder
    except ImportError:
        return None
    encoder = SparseEncoder(str(model_dir), device=device)
    encoder.encode_document(texts[:batch], batch_size=batch)
    return len(texts) / _timed(lambda: encoder.encode_document(texts, batch_size=batch))


def flops_per_passage(model_dir: Path, tokens: float) -> float:
    """Multiply-adds x 2 of the transformer's linear layers and the vocabulary projection (attention's
    length-squared terms are small at passage length and left out: the floor is a lower bound)."""
    config = json.loads((model_dir / "config.json").read_text())
    hidden, layers, inner = config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]
    per_token = layers * (4 * hidden * hidden + 2 * hidden * inner) + hidden * hidden + hidden * config["vocab_size"]
    return 2 * per_token * tokens


def gpu_table(texts: list[str], device: str, tiny_dir: Path, base_shape: dict = BASE) -> float:
    """Print the table; returns the gpu speedup (ours / sorted textbook, BERT-base size, bf16)."""
    from splade_anserini.model.splade import Splade
    rate = gemm_rate(device)
    tokenizer = Splade(tiny_dir, device="cpu").tokenizer
    tokens = sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=256)["input_ids"]) / len(texts)
    print(f"{device}: {torch.cuda.get_device_name(device) if device.startswith('cuda') else 'CPU'}, torch "
          f"{torch.__version__}; bf16 GEMM {rate / 1e12:.0f} TFLOP/s; {len(texts)} passages, {tokens:.0f} tokens each")
    speedup = None
    with tempfile.TemporaryDirectory() as scratch:
        base_dir = bert_base_like(Path(scratch) / "bert-base-like", tiny_dir, device, texts, base_shape)
        for name, model_dir, dtypes in (("splade-tiny", tiny_dir, ("float32", "bfloat16")),
                                        ("BERT-base size", base_dir, ("bfloat16", "float16", "float32"))):
            for dtype in dtypes:
                job = encode_job(model_dir, texts, device, dtype)
                mine = ours(model_dir, texts, device, dtype)
                textbook = textbook_sorted(model_dir, texts, device, dtype)
                pyserini = pyserini_as_written(model_dir, texts, device) if dtype == "float32" else None
                st = sentence_transformers(model_dir, texts, device) if dtype == "float32" else None
                floor = rate / flops_per_passage(model_dir, tokens)
                cell = lambda v: "   n/a" if v is None else f"{v:8,.0f}"  # noqa: E731
                print(f"  {name:<15} {dtype:<9} job {job:8,.0f}  ours {mine:8,.0f}  textbook {textbook:8,.0f}  "
                      f"pyserini {cell(pyserini)}  sentence-transformers {cell(st)} docs/s;  {job / floor:.1%} of "
                      f"the bf16 floor ({floor:,.0f}/s); 8.8M passages in {MSMARCO_PASSAGES / job / 60:.0f} min")
                if name == "BERT-base size" and dtype == "bfloat16":
                    speedup = mine / textbook
    print("  (n/a: pyserini or sentence-transformers not installed here, or not run at this precision)")
    return speedup
