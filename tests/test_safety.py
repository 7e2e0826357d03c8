"""Never destroy a user's files, never return a silently wrong result: one test per mistake a user makes."""

import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
from conftest import DEMO

from splade_anserini.cli import main


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def demo_bm25(demo_index):
    from splade_anserini.lucene.bm25 import build_bm25_index
    index = demo_index.parent / "bm25"
    if not index.exists():
        build_bm25_index(DEMO / "corpus.jsonl", index)
    return index


@pytest.fixture()
def demo_run(demo_index, tmp_path):
    run = tmp_path / "demo.trec"
    assert main(["search", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"), "--output", str(run),
                 "--k", "50"]) == 0
    return run


# 1. --overwrite replaces only what splade-anserini wrote -----------------------------------------------------------

def test_overwrite_never_deletes_the_input_or_a_foreign_directory(tmp_path, capsys, monkeypatch):
    s = tmp_path / "s"
    s.mkdir()
    corpus = s / "corpus.jsonl"
    shutil.copy(DEMO / "corpus.jsonl", corpus)
    (s / "notes.txt").write_text("mine")
    assert main(["encode", "--corpus", str(corpus), "--output", str(s), "--overwrite", "--quiet"]) == 2
    assert "same path or inside each other" in one_line_error(capsys)
    assert corpus.read_bytes() == (DEMO / "corpus.jsonl").read_bytes() and (s / "notes.txt").read_text() == "mine"
    # the working directory itself, holding someone's files
    monkeypatch.chdir(s)
    assert main(["encode", "--corpus", str(DEMO / "corpus.jsonl"), "--output", ".", "--overwrite", "--quiet"]) == 2
    assert "not a JsonVectorCollection (splade-anserini encode) written by splade-anserini" in one_line_error(capsys)
    assert sorted(p.name for p in s.iterdir()) == ["corpus.jsonl", "notes.txt"]
    # the corpus file as the output
    assert main(["encode", "--corpus", str(corpus), "--output", str(corpus), "--overwrite", "--quiet"]) == 2
    assert corpus.read_bytes() == (DEMO / "corpus.jsonl").read_bytes()


def test_index_overwrite_refuses_a_directory_it_did_not_write(demo_collection, tmp_path, capsys):
    target = tmp_path / "index"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    assert main(["index", "--collection", str(demo_collection), "--index", str(target), "--overwrite"]) == 2
    assert "will not replace it" in one_line_error(capsys)
    assert (target / "thesis.tex").read_text() == "years of work"
    # ... but replaces an index it built, and refuses to write an index into its own collection
    assert main(["index", "--collection", str(demo_collection), "--index", str(tmp_path / "i2")]) == 0
    assert main(["index", "--collection", str(demo_collection), "--index", str(tmp_path / "i2"), "--overwrite"]) == 0
    assert main(["index", "--collection", str(demo_collection), "--index", str(demo_collection / "idx")]) == 2
    assert not (demo_collection / "idx").exists()


# 2. every stage refuses the wrong kind of artifact -----------------------------------------------------------------

def test_search_refuses_a_bm25_index(demo_bm25, tmp_path, capsys):
    run = tmp_path / "r.trec"
    assert main(["search", "--index", str(demo_bm25), "--topics", str(DEMO / "queries.tsv"), "--output",
                 str(run)]) == 2
    assert "is a BM25 index" in one_line_error(capsys) and not run.exists()
    # the same index without our manifest (as if Anserini had built it): its word counts give it away
    foreign = tmp_path / "foreign-bm25"
    shutil.copytree(demo_bm25, foreign)
    (foreign / "manifest.json").unlink()
    topics = tmp_path / "q.tsv"
    topics.write_text("q1\thoney honey bee\nq2\toctopus octopus blood\n")
    assert main(["search", "--index", str(foreign), "--encoded-topics", str(topics), "--output", str(run)]) == 0
    assert "as word counts of a text (BM25) index do" in capsys.readouterr().err


def test_index_refuses_an_index_as_its_collection(demo_index, tmp_path, capsys):
    assert main(["index", "--collection", str(demo_index), "--index", str(tmp_path / "x")]) == 2
    assert "is an impact index" in one_line_error(capsys)


# 3. eval refuses runs and qrels that do not belong together --------------------------------------------------------

def test_eval_refuses_foreign_qrels_and_empty_runs_and_keeps_good_metrics(demo_run, tmp_path, capsys):
    assert main(["eval", "--qrels", str(DEMO / "qrels.txt"), "--run", str(demo_run)]) == 0
    metrics = demo_run.with_name("demo.metrics.json")
    good = metrics.read_bytes()
    other = tmp_path / "other-qrels.txt"
    other.write_text("PLAIN-1 0 MED-10 2\nPLAIN-2 0 MED-14 1\n")
    assert main(["eval", "--qrels", str(other), "--run", str(demo_run)]) == 2
    assert "shares no query with" in one_line_error(capsys)
    empty = tmp_path / "empty.trec"
    empty.write_text("")
    assert main(["eval", "--qrels", str(DEMO / "qrels.txt"), "--run", str(empty), "--output", str(metrics)]) == 2
    assert main(["eval", "--qrels", str(DEMO / "qrels.txt"), "--run", str(demo_run.with_name("x.trec")),
                 "--output", str(metrics)]) == 2
    assert metrics.read_bytes() == good
    # another (non-empty) run may not take over these metrics either
    half = tmp_path / "half.trec"
    half.write_text("".join(demo_run.read_text().splitlines(keepends=True)[:50]))
    assert main(["eval", "--qrels", str(DEMO / "qrels.txt"), "--run", str(half), "--output", str(metrics)]) == 2
    assert "holds the metrics of another run" in one_line_error(capsys) and metrics.read_bytes() == good
    # fewer than half of the judged queries with hits: evaluated, with a warning
    assert main(["eval", "--qrels", str(DEMO / "qrels.txt"), "--run", str(half)]) == 0
    assert "only 1 of the 40 judged queries have hits" in capsys.readouterr().err


# 4. raw topics are not pre-encoded topics ----------------------------------------------------------------------------

def test_raw_topics_given_as_encoded_topics_are_refused(demo_index, demo_collection, tmp_path, capsys):
    run = tmp_path / "r.trec"
    assert main(["search", "--index", str(demo_index), "--encoded-topics", str(DEMO / "queries.tsv"), "--output",
                 str(run)]) == 2
    assert "looks like raw query text" in one_line_error(capsys) and not run.exists()
    assert main(["stats", "--collection", str(demo_collection), "--topics", str(DEMO / "queries.tsv")]) == 2
    assert "looks like raw query text" in one_line_error(capsys)
    # words that are no word pieces of the model, even with weights
    odd = tmp_path / "odd.tsv"
    odd.write_text("q1\tHoney Honey bees?\nq2\toctopus octopus\n")
    assert main(["search", "--index", str(demo_index), "--encoded-topics", str(odd), "--output", str(run)]) == 2
    assert "'Honey' is not a word piece of the index's model" in one_line_error(capsys)


# 5. search does not overwrite a run silently -------------------------------------------------------------------------

def test_search_refuses_an_existing_run_and_overwrite_removes_its_stale_metrics(demo_index, demo_run, capsys):
    assert main(["eval", "--qrels", str(DEMO / "qrels.txt"), "--run", str(demo_run)]) == 0
    metrics = demo_run.with_name("demo.metrics.json")
    before = demo_run.read_bytes()
    args = ["search", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"), "--output", str(demo_run),
            "--k", "10"]
    assert main(args) == 2
    assert "already exists; pass --overwrite" in one_line_error(capsys)
    assert demo_run.read_bytes() == before and metrics.is_file()
    assert main(args + ["--overwrite"]) == 0
    assert len(demo_run.read_text().splitlines()) == 40 * 10 and not metrics.exists()
    # a file that is not a run of ours is never replaced
    mine = demo_run.with_name("notes.trec")
    mine.write_text("my own ranking\n")
    assert main(args[:-4] + ["--output", str(mine), "--overwrite"]) == 2
    assert mine.read_text() == "my own ranking\n"


# 6. operating-system errors are one sentence with the path, exit 2 ---------------------------------------------------

def test_os_errors_are_one_sentence_naming_the_path(demo_collection, demo_index, demo_run, tmp_path, capsys):
    assert main(["eval", "--qrels", str(DEMO / "qrels.txt"), "--run", str(demo_run), "--output", "/sys/m.json"]) == 2
    assert one_line_error(capsys).startswith("splade-anserini: error: /sys/m.json")
    assert main(["search", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"), "--output",
                 "/sys/r.trec"]) == 2
    assert "/sys/r.trec" in one_line_error(capsys)
    assert main(["encode", "--corpus", str(DEMO / "corpus.jsonl"), "--output", "/sys/c", "--quiet"]) == 2
    assert "/sys/" in one_line_error(capsys)
    assert main(["eval", "--qrels", str(DEMO / "qrels.txt"), "--run", str(demo_run), "--output", "/sys/m.json",
                 "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_a_damaged_model_file_is_one_sentence(splade, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(splade.path, model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100_000])
    assert main(["inspect", "bees", "--model", str(model)]) == 2
    line = one_line_error(capsys)
    assert line.startswith(f"splade-anserini: error: Could not load a masked-LM model from {model}")


def test_a_full_disk_is_one_sentence(tmp_path):
    """The file-size limit makes writes fail as a full disk does (EFBIG instead of ENOSPC), in a real process."""
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
            "from splade_anserini.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    out = subprocess.run([sys.executable, "-c", code, "encode", "--corpus", str(DEMO / "corpus.jsonl"), "--output",
                          str(tmp_path / "c"), "--quiet"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "File too large" in out.stderr.strip().splitlines()[-1]


# 7. artifacts follow the user's umask ------------------------------------------------------------------------------

def test_indexes_and_trained_models_follow_the_umask(demo_collection, tmp_path):
    from splade_anserini.index import build_index
    from splade_anserini.train.trainer import load_settings, train
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"query": q, "positive": p, "negatives": [n]}) + "\n" for q, p, n in [
        ("honey bees", "Bees dance to show where flowers are.", "Volcanoes erupt lava."),
        ("octopus blood", "Octopus blood is blue because of hemocyanin.", "Tides follow the moon.")]))
    old = os.umask(0o002)
    try:
        build_index(demo_collection, tmp_path / "index")
        final = train(load_settings(None, [f"data.source={data}", "batch_size=2", "max_steps=1",
                                           f"output={tmp_path / 'ckpt'}", "doc_max_length=32"]), progress=False)
    finally:
        os.umask(old)
    for path in [tmp_path / "index", *(tmp_path / "index").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o775 if path.is_dir() else 0o664), path
    for path in (final / "model.safetensors", final.parent / "checkpoint-000001" / "model.safetensors"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o664, path


# 8. TSV corpora: header rows and extra columns -----------------------------------------------------------------------

def test_tsv_header_rows_name_columns_and_extra_columns_need_one(splade, tmp_path, capsys):
    from splade_anserini.formats.readers import count_documents, read_corpus
    with_header = tmp_path / "h.tsv"
    with_header.write_text("id\ttitle\ttext\nd1\tBees\tBees dance.\nd2\tTides\tThe moon pulls the sea.\n")
    docs = list(read_corpus(with_header))
    assert [(d.id, d.text) for d in docs] == [("d1", "Bees Bees dance."), ("d2", "Tides The moon pulls the sea.")]
    assert count_documents(with_header) == 2
    assert [d.text for d in read_corpus(with_header, ["text"])] == ["Bees dance.", "The moon pulls the sea."]
    three = tmp_path / "three.tsv"
    three.write_text("d1\tBees\tBees dance.\n")
    assert main(["encode", "--corpus", str(three), "--output", str(tmp_path / "c"), "--quiet"]) == 2
    assert "three.tsv:1: expected 'id<TAB>text', found 3 tab-separated columns" in one_line_error(capsys)
    assert main(["encode", "--corpus", str(with_header), "--output", str(tmp_path / "c"), "--quiet"]) == 0
    ids = [json.loads(line)["id"] for line in (tmp_path / "c" / "part-00000.jsonl").read_text().splitlines()]
    assert ids == ["d1", "d2"]


# 9. a run made by hand keeps its costs through eval ----------------------------------------------------------------

def test_eval_takes_the_search_facts_into_the_metrics(demo_run, tmp_path):
    assert main(["eval", "--qrels", str(DEMO / "qrels.txt"), "--run", str(demo_run)]) == 0
    metrics = json.loads(demo_run.with_name("demo.metrics.json").read_text())
    assert metrics["search"]["flops"] > 0 and metrics["search"]["latency_ms"]["p50"] > 0
    assert main(["plot", str(demo_run.with_name("demo.metrics.json")), "--output", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 1000


# 10. the model is identified by what determines its vectors ----------------------------------------------------------

def test_model_check_compares_checksums_not_names(demo_index, splade, tmp_path, capsys):
    from safetensors.torch import load_file, save_file
    copy = tmp_path / "copy-of-splade-tiny"
    shutil.copytree(splade.path, copy)
    run = tmp_path / "r.trec"
    base = ["search", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"), "--k", "5"]
    assert main(base + ["--model", str(copy), "--output", str(run)]) == 0  # same weights, other path: accepted
    manifest = json.loads((demo_index / "manifest.json").read_text())
    assert manifest["model_identity"]["weights"] and manifest["model_identity"]["tokenizer"]
    # the same path with other weights ("retrained"): refused
    index_copy = tmp_path / "index"
    shutil.copytree(demo_index, index_copy)
    manifest["model"] = manifest["model_path"] = str(copy)
    (index_copy / "manifest.json").write_text(json.dumps(manifest))
    tensors = load_file(copy / "model.safetensors")
    name = next(n for n in tensors if n.endswith("attention.output.dense.weight"))
    tensors[name] = tensors[name] * 1.01
    save_file(tensors, copy / "model.safetensors", metadata={"format": "pt"})
    assert main(["search", "--index", str(index_copy), "--topics", str(DEMO / "queries.tsv"), "--k", "5",
                 "--output", str(tmp_path / "r2.trec")]) == 2
    assert "has other weights than the index's" in one_line_error(capsys)


# the rest of the issue: info, compare, readable output -------------------------------------------------------------

def test_info_describes_every_kind_of_artifact(demo_collection, demo_index, demo_bm25, demo_run, tmp_path, capsys):
    for path, head in ((demo_collection, "a JsonVectorCollection"), (demo_index, "an impact index"),
                       (demo_bm25, "a BM25 index"), (demo_run, "a run file")):
        assert main(["info", str(path)]) == 0
        out = capsys.readouterr().out
        assert out.splitlines()[0] == f"{path}: {head} " + out.splitlines()[0].split(f"{head} ", 1)[1]
    assert main(["info", str(demo_index), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["kind"] == "index" and facts["documents"] == 344 and facts["scale"] == 100
    assert facts["software"]["pyserini"] == "1.6.0"
    encoded = tmp_path / "q.jsonl"
    assert main(["encode-queries", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"), "--output",
                 str(encoded)]) == 0
    capsys.readouterr()
    assert main(["info", str(encoded), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["kind"] == "encoded-topics" and facts["queries"] == 40
    assert main(["info", str(DEMO / "corpus.jsonl")]) == 2
    assert "not an artifact of splade-anserini" in one_line_error(capsys)


def test_paired_t_test_equals_hand_computation():
    from splade_anserini.compare import compare_per_query
    # differences 0.1, 0.2, 0.2: mean 1/6, sd 0.0577, t = 5.0 with 2 degrees of freedom: p = 1 - 5 / sqrt(27)
    result = compare_per_query({"a": 0.1, "b": 0.2, "c": 0.3}, {"a": 0.2, "b": 0.4, "c": 0.5})
    assert result["p_value"] == pytest.approx(1 - 5 / 27 ** 0.5, abs=1e-9)
    assert (result["wins"], result["ties"], result["losses"]) == (3, 0, 0)
    assert result["difference"] == pytest.approx(1 / 6)


def test_compare_two_real_runs(demo_index, demo_bm25, tmp_path, capsys):
    from splade_anserini.lucene.bm25 import search_bm25
    bm25 = tmp_path / "bm25.trec"
    search_bm25(demo_bm25, DEMO / "queries.tsv", bm25, k=100)
    splade = tmp_path / "splade.trec"
    assert main(["search", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"), "--output",
                 str(splade), "--k", "100"]) == 0
    assert main(["compare", str(bm25), str(splade), "--qrels", str(DEMO / "qrels.txt"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    ndcg = result["measures"]["nDCG@10"]
    assert ndcg["wins"] + ndcg["ties"] + ndcg["losses"] == ndcg["queries"] == 40
    assert ndcg["run"] - ndcg["baseline"] == pytest.approx(ndcg["difference"])
    assert 0 < ndcg["p_value"] <= 1
    assert main(["compare", str(bm25), str(splade), "--qrels", str(DEMO / "qrels.txt")]) == 0
    assert "wins/ties/losses" in capsys.readouterr().out


@pytest.mark.parametrize("indexer", ["impact", "anserini"])
def test_indexing_keeps_anserinis_log_out_of_the_terminal(demo_collection, tmp_path, indexer):
    exe = shutil.which("splade-anserini", path=os.path.dirname(sys.executable)) or "splade-anserini"
    out = subprocess.run([exe, "index", "--collection", str(demo_collection), "--index", str(tmp_path / "i"),
                          "--indexer", indexer, "--quiet"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "INFO" not in out.stdout + out.stderr and len((out.stdout + out.stderr).strip().splitlines()) <= 2
    if indexer == "anserini":
        assert "IndexCollection" in (tmp_path / "i" / "index.log").read_text()


def test_help_shows_defaults():
    exe = shutil.which("splade-anserini", path=os.path.dirname(sys.executable)) or "splade-anserini"
    for command, expected in (("encode", "(default: 100)"), ("search", "(default: 1000)"),
                              ("eval", "(default: ['nDCG@10'")):
        out = subprocess.run([exe, command, "--help"], capture_output=True, text=True, timeout=120)
        assert expected in " ".join(out.stdout.split()), command
