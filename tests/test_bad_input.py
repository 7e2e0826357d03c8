"""Bad input, round two (issue 27): ids, encodings, numbers and concurrent writers. Each case here gave a silently
wrong result, a file other tools misread, or a traceback; now it is the right result, or one sentence and exit 2."""

import gzip
import json
import shutil
import signal
import subprocess
import sys

import pytest
from conftest import DEMO

from splade_anserini.cli import main
from splade_anserini.errors import InputError
from splade_anserini.formats.readers import read_corpus, read_qrels, read_topics
from splade_anserini.formats.runs import read_run
from splade_anserini.formats.topics import read_encoded_topics


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def small_corpus(path, documents: int = 12):
    """The first ``documents`` documents of the demo corpus."""
    lines = (DEMO / "corpus.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)[:documents]
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run_and_qrels(demo_index, tmp_path_factory):
    run = tmp_path_factory.mktemp("bad-input") / "demo.trec"
    assert main(["search", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"), "--output", str(run),
                 "--k", "50"]) == 0
    return run, DEMO / "qrels.txt"


# 1. ids with white space -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, content, where", [
    ("c.jsonl", '{"_id": "d1", "text": "fine"}\n{"_id": "doc 2", "text": "spaced"}\n', ":2: document id 'doc 2'"),
    ("c.jsonl", '{"_id": "d1", "text": "fine"}\n{"_id": "doc\\t2", "text": "tab"}\n', ":2: document id 'doc\\t2'"),
    ("c.jsonl", '{"_id": "doc\\n2", "text": "newline"}\n', ":1: document id 'doc\\n2'"),
    ("c.tsv", "d1\tfine\ndoc 2\tspaced\n", ":2: document id 'doc 2'"),
    ("c.tsv", "d\x001\tcontrol character\n", ":1: document id 'd\\x001' holds a control character"),
])
def test_document_ids_with_white_space_or_control_characters_are_refused(tmp_path, name, content, where):
    corpus = tmp_path / name
    corpus.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        list(read_corpus(corpus))
    assert str(caught.value).startswith(f"{corpus}{where}")
    assert "an id is a non-empty string without white space or control characters" in str(caught.value)
    problems: list = []
    try:
        list(read_corpus(corpus, problems=problems))
    except InputError:
        pass  # nothing left: an empty corpus
    assert len(problems) == 1 and "document id" in problems[0]["reason"]


def test_encode_refuses_a_spaced_id_and_skip_lists_it(tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"_id": "d1", "text": "honey bees dance"}\n{"_id": "doc 2", "text": "octopus blood"}\n'
                      '{"_id": "d3", "text": "tides follow the moon"}\n', encoding="utf-8")
    out = tmp_path / "out"
    assert main(["encode", "--corpus", str(corpus), "--output", str(out), "--quiet"]) == 2
    assert f"{corpus}:2: document id 'doc 2' holds white space" in one_line_error(capsys)
    assert not out.exists()
    assert main(["encode", "--corpus", str(corpus), "--output", str(out), "--quiet", "--on-error", "skip"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["documents"] == 2 and manifest["skipped"]["count"] == 1
    assert manifest["skipped"]["documents"][0]["where"] == f"{corpus}:2"
    ids = [json.loads(line)["id"] for line in (out / "part-00000.jsonl").read_text().splitlines()]
    assert ids == ["d1", "d3"]


def test_ids_in_topics_qrels_runs_and_encoded_topics_follow_the_same_rule(tmp_path):
    cases = [
        (read_topics, "t.tsv", "q1\tfine\nq 2\tspaced\n", ":2: query id 'q 2'"),
        (read_topics, "t.jsonl", '{"_id": "q1", "text": "a"}\n{"_id": "q\\u00a02", "text": "b"}\n', ":2: query id"),
        (read_qrels, "q.txt", "q1 0 d1 1\nq2 0 d\x002 1\n", ":2: document id 'd\\x002'"),
        (read_run, "r.trec", "q1 Q0 d1 1 2.0 t\nq\u200b2 Q0 d2 1 1.0 t\n", ":2: query id 'q\\u200b2'"),
        (read_encoded_topics, "e.tsv", "q1\tbee bee\nq\u00a02\tbee bee\n", ":2: query id 'q\\xa02'"),
        (read_encoded_topics, "e.jsonl", '{"id": "q 1", "vector": {"bee": 2}}\n', ":1: query id 'q 1'"),
    ]
    for read, name, content, where in cases:
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(InputError) as caught:
            read(path)
        assert str(caught.value).startswith(f"{path}{where}"), (name, str(caught.value))


def test_check_finds_a_spaced_id_in_a_collection(tmp_path):
    from splade_anserini.check import check_collection
    corpus = small_corpus(tmp_path / "c.jsonl", 3)
    out = tmp_path / "out"
    assert main(["encode", "--corpus", str(corpus), "--output", str(out), "--quiet"]) == 0
    part = out / "part-00000.jsonl"
    part.write_text(part.read_text().replace('"id": "d002"', '"id": "d 002"', 1))
    assert any(p.startswith(f"{part}:2: document id 'd 002' holds white space") for p in check_collection(out))


# 2. a UTF-8 byte-order mark ----------------------------------------------------------------------------------------

def test_a_byte_order_mark_is_dropped_by_every_reader(tmp_path):
    bom = "\ufeff"
    corpus = tmp_path / "c.tsv"
    corpus.write_text(bom + "id\ttext\nCACM-168\tfirst\nCACM-169\tsecond\n", encoding="utf-8")
    assert [(d.id, d.text) for d in read_corpus(corpus)] == [("CACM-168", "first"), ("CACM-169", "second")]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text(bom + '{"_id": "d1", "text": "bees"}\n', encoding="utf-8")
    assert [d.id for d in read_corpus(jsonl)] == ["d1"]
    topics = tmp_path / "t.tsv"
    topics.write_text(bom + "1\tfirst query\n", encoding="utf-8")
    assert [q.id for q in read_topics(topics)] == ["1"]
    qrels = tmp_path / "q.txt"
    qrels.write_text(bom + "1 0 d1 2\n", encoding="utf-8")
    assert read_qrels(qrels) == {"1": {"d1": 2}}
    run = tmp_path / "r.trec"
    run.write_text(bom + "1 Q0 d1 1 2.5 t\n", encoding="utf-8")
    assert read_run(run) == {"1": {"d1": 2.5}}
    encoded = tmp_path / "e.tsv"
    encoded.write_text(bom + "1\tbee bee\n", encoding="utf-8")
    assert read_encoded_topics(encoded).ids == ["1"]


def test_eval_with_a_byte_order_mark_gives_the_same_metrics(run_and_qrels, tmp_path, capsys):
    run, qrels = run_and_qrels
    assert main(["eval", "--qrels", str(qrels), "--run", str(run), "--output", str(tmp_path / "clean.json")]) == 0
    clean = json.loads((tmp_path / "clean.json").read_text())["metrics"]
    bom_qrels, bom_run = tmp_path / "qrels.txt", tmp_path / "run.trec"
    bom_qrels.write_bytes(b"\xef\xbb\xbf" + qrels.read_bytes())
    bom_run.write_bytes(b"\xef\xbb\xbf" + run.read_bytes().replace(b"\n", b"\r\n"))
    assert main(["eval", "--qrels", str(bom_qrels), "--run", str(bom_run), "--output", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["metrics"] == clean


# 3. --max-length beyond the model's positions ----------------------------------------------------------------------

def test_a_max_length_beyond_the_models_positions_is_refused_at_load(demo_index, splade, tmp_path, capsys):
    from splade_anserini.model.splade import position_limit
    limit = position_limit(splade.mlm.config, splade.tokenizer)
    corpus = small_corpus(tmp_path / "c.jsonl", 2)
    assert main(["encode", "--corpus", str(corpus), "--output", str(tmp_path / "out"), "--quiet", "--max-length",
                 str(limit + 1)]) == 2
    line = one_line_error(capsys)
    assert f"max length {limit + 1} is more than the {limit} token positions of model" in line
    assert not (tmp_path / "out").exists()
    assert main(["search", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"), "--output",
                 str(tmp_path / "r.trec"), "--query-max-length", str(limit * 4)]) == 2
    assert f"max length {limit * 4} is more than the {limit} token positions" in one_line_error(capsys)
    assert not (tmp_path / "r.trec").exists()


# 4. compressed input that ends early -------------------------------------------------------------------------------

def truncated_gzip(path, text: str):
    data = gzip.compress(text.encode("utf-8"))
    path.write_bytes(data[:len(data) * 2 // 3])
    return path


def test_a_truncated_gzip_is_one_sentence_naming_the_file(tmp_path, capsys):
    body = "".join(f'{{"_id": "d{n}", "text": "document number {n} about bees"}}\n' for n in range(400))
    corpus = truncated_gzip(tmp_path / "c.jsonl.gz", body)
    assert main(["encode", "--corpus", str(corpus), "--output", str(tmp_path / "out"), "--quiet"]) == 2
    line = one_line_error(capsys)
    assert line.startswith(f"splade-anserini: error: {corpus}: the compressed file ends early or is damaged")
    for read, name, text in ((read_topics, "t.tsv.gz", "".join(f"q{n}\tquery {n}\n" for n in range(400))),
                             (read_qrels, "q.txt.gz", "".join(f"q{n} 0 d{n} 1\n" for n in range(400))),
                             (read_run, "r.trec.gz", "".join(f"q{n} Q0 d{n} 1 1.0 t\n" for n in range(400))),
                             (read_encoded_topics, "e.tsv.gz", "".join(f"q{n}\tbee bee\n" for n in range(400)))):
        path = truncated_gzip(tmp_path / name, text)
        with pytest.raises(InputError, match="the compressed file ends early or is damaged") as caught:
            read(path)
        assert str(caught.value).startswith(f"{path}: ")


# 5. scores that are not finite numbers -----------------------------------------------------------------------------

@pytest.mark.parametrize("score", ["nan", "inf", "-inf", "1e999"])
def test_a_run_score_that_is_not_finite_is_refused(run_and_qrels, tmp_path, capsys, score):
    run, qrels = run_and_qrels
    lines = run.read_text().splitlines(keepends=True)
    fields = lines[2].split()
    fields[4] = score
    lines[2] = " ".join(fields) + "\n"
    bad = tmp_path / "bad.trec"
    bad.write_text("".join(lines))
    assert main(["eval", "--qrels", str(qrels), "--run", str(bad)]) == 2
    assert one_line_error(capsys) == f"splade-anserini: error: {bad}:3: score {score!r} is not a finite number"
    assert not bad.with_name("bad.metrics.json").exists()
    assert main(["compare", str(run), str(bad), "--qrels", str(qrels)]) == 2
    assert f"{bad}:3: score" in one_line_error(capsys)


# 6. resume: refusals name each setting; settings that change no vector do not block ---------------------------------

def interrupted_copy(finished, corpus, staging, parts: int, settings) -> None:
    """A staging directory as an encoding killed after ``parts`` part files leaves it: the finished collection's
    first part files with the progress record the writer keeps."""
    from splade_anserini.encode import encoding_identity
    from splade_anserini.formats.collection import save_progress
    manifest = json.loads((finished / "manifest.json").read_text())
    staging.mkdir()
    for part in manifest["files"][:parts]:
        shutil.copy(finished / part["name"], staging / part["name"])
    identity = dict(encoding_identity(str(corpus), settings), docs_per_file=settings.docs_per_file)
    save_progress(staging, identity, manifest["files"][:parts])


def test_resume_ignores_the_batch_size_and_names_each_changed_setting(tmp_path, capsys):
    from splade_anserini.settings import EncodeSettings
    corpus = small_corpus(tmp_path / "c.jsonl", 12)
    whole = tmp_path / "whole"
    base = ["encode", "--corpus", str(corpus), "--docs-per-file", "4", "--quiet"]
    assert main([*base, "--output", str(whole), "--batch-size", "8"]) == 0
    settings = EncodeSettings(docs_per_file=4, batch_size=8)
    output, staging = tmp_path / "resumed", tmp_path / ".resumed.partial"
    interrupted_copy(whole, corpus, staging, 2, settings)
    assert main([*base, "--output", str(output), "--scale", "50", "--max-length", "128"]) == 2
    line = one_line_error(capsys)
    assert "--max-length 256 before, 128 now" in line and "--scale 100 before, 50 now" in line
    assert (staging / "part-00001.jsonl").is_file() and not output.exists()
    # another batch size changes no vector: the run resumes, and the bytes are those of the uninterrupted run
    assert main([*base, "--output", str(output), "--batch-size", "3"]) == 0
    assert "resuming" in capsys.readouterr().err
    for name in ("part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"):
        assert (output / name).read_bytes() == (whole / name).read_bytes(), name


# 7. one writer per output ------------------------------------------------------------------------------------------

HOLD = ("import sys, time\nfrom splade_anserini.formats.artifacts import output_lock\n"
        "with output_lock(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(600)\n")


def hold_lock(output):
    """Another process writing ``output``: it holds the lock until it is killed."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(output)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_encode_into_one_output_is_refused_and_changes_nothing(tmp_path, capsys):
    corpus = small_corpus(tmp_path / "c.jsonl", 6)
    output = tmp_path / "coll"
    staging = tmp_path / ".coll.partial"
    staging.mkdir()
    (staging / "part-00000.jsonl.tmp").write_text("the first run's part in progress\n")
    holder = hold_lock(output)
    try:
        assert main(["encode", "--corpus", str(corpus), "--output", str(output), "--quiet", "--overwrite"]) == 2
        line = one_line_error(capsys)
        assert f"{output} is being written by another process (pid {holder.pid}" in line
        assert (staging / "part-00000.jsonl.tmp").read_text() == "the first run's part in progress\n"
        assert not output.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the operating system released the dead holder's lock: the next run goes ahead
    assert main(["encode", "--corpus", str(corpus), "--output", str(output), "--quiet"]) == 0
    assert json.loads((output / "manifest.json").read_text())["documents"] == 6
    assert not (tmp_path / ".coll.lock").exists() and not staging.exists()


def test_a_second_search_into_one_run_is_refused(demo_index, tmp_path, capsys):
    run = tmp_path / "r.trec"
    args = ["search", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"), "--output", str(run),
            "--k", "5"]
    holder = hold_lock(run)
    try:
        assert main(args) == 2
        assert f"{run} is being written by another process (pid {holder.pid}" in one_line_error(capsys)
        assert not run.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert main(args) == 0 and run.is_file()
    before = run.read_bytes()
    holder = hold_lock(run)
    try:
        assert main(args + ["--overwrite"]) == 2
        assert run.read_bytes() == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


# 8. empty query texts ----------------------------------------------------------------------------------------------

def test_an_empty_query_text_is_an_error_or_skipped_and_listed(demo_index, tmp_path, capsys):
    topics = tmp_path / "q.tsv"
    topics.write_text("q01\thow do honeybees tell nestmates where food is\n99\t\nq02\t   \n", encoding="utf-8")
    run = tmp_path / "r.trec"
    args = ["search", "--index", str(demo_index), "--topics", str(topics), "--output", str(run), "--k", "5"]
    assert main(args) == 2
    assert one_line_error(capsys).endswith(f"{topics}:2: empty query text (query '99')")
    assert not run.exists()
    assert main(args + ["--on-error", "skip"]) == 0
    assert {line.split()[0] for line in run.read_text().splitlines()} == {"q01"}
    skipped = json.loads(run.with_name("r.trec.search.json").read_text())["skipped_queries"]
    assert skipped["count"] == 2 and [e["where"] for e in skipped["queries"]] == [f"{topics}:2", f"{topics}:3"]
    assert "skipped 2 bad topic lines" in capsys.readouterr().err  # what the terminal shows
    encoded = tmp_path / "q.jsonl"
    args = ["encode-queries", "--index", str(demo_index), "--topics", str(topics), "--output", str(encoded)]
    assert main(args) == 2 and not encoded.exists()
    assert one_line_error(capsys).endswith(f"{topics}:2: empty query text (query '99')")
    assert main(args + ["--on-error", "skip"]) == 0
    assert [json.loads(line)["id"] for line in encoded.read_text().splitlines()] == ["q01"]
    sidecar = json.loads((tmp_path / "q.jsonl.manifest.json").read_text())
    assert sidecar["skipped_queries"]["count"] == 2


def test_a_repeated_query_id_names_both_lines(tmp_path):
    topics = tmp_path / "q.tsv"
    topics.write_text("1\ta\n2\tb\n1\tc\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{topics}:3: query id '1' occurs more than once \(first at {topics}:1\)"):
        read_topics(topics)


# 9. --version ------------------------------------------------------------------------------------------------------

def test_version_prints_what_it_runs_on(capsys):
    from importlib.metadata import version
    for argv in (["--version"], ["-V"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert out.splitlines()[0] == f"splade-anserini {version('splade-anserini')}"
        assert f"pyserini {version('pyserini')}" in out and "anserini 1.7.1" in out and "lucene 9.9.1" in out
        assert f"torch {version('torch')}" in out and f"transformers {version('transformers')}" in out
    assert main(["version"]) == 0
    assert "lucene 9.9.1" in capsys.readouterr().out


# 10. qrels of another collection -----------------------------------------------------------------------------------

def test_eval_and_compare_refuse_qrels_that_judge_none_of_the_runs_documents(run_and_qrels, tmp_path, capsys):
    run, qrels = run_and_qrels
    other = tmp_path / "scifact-qrels.txt"
    other.write_text("q01 0 31715818 1\nq02 0 13734012 1\nq03 0 22942787 1\n")  # the run's query ids, other docs
    metrics = tmp_path / "m.json"
    assert main(["eval", "--qrels", str(other), "--run", str(run), "--output", str(metrics)]) == 2
    line = one_line_error(capsys)
    assert f"no document id of {run} occurs in {other}" in line and not metrics.exists()
    assert main(["compare", str(run), str(run), "--qrels", str(other)]) == 2
    assert f"no document id of {run} occurs in {other}" in one_line_error(capsys)
    assert main(["eval", "--qrels", str(qrels), "--run", str(run), "--output", str(metrics)]) == 0
    shared = json.loads(metrics.read_text())["shared"]
    assert shared["queries"] == shared["run_queries"] == 40 and 0 < shared["documents"] < shared["run_documents"]
    assert (f"{run} and {qrels} share 40 of the run's 40 queries and {shared['documents']} of its "
            f"{shared['run_documents']} document ids") in capsys.readouterr().err


# 11. the smaller ones ----------------------------------------------------------------------------------------------

def test_encode_queries_refuses_its_own_earlier_output_without_overwrite(demo_index, tmp_path, capsys):
    out = tmp_path / "q.jsonl"
    args = ["encode-queries", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"), "--output", str(out)]
    assert main(args) == 0
    before = out.read_bytes()
    assert main(args) == 2
    assert f"{out} already exists; pass --overwrite" in one_line_error(capsys)
    assert main(args + ["--overwrite"]) == 0 and out.read_bytes() == before


def test_a_scale_that_rounds_every_weight_to_zero_is_refused(tmp_path, capsys):
    corpus = small_corpus(tmp_path / "c.jsonl", 3)
    out = tmp_path / "out"
    assert main(["encode", "--corpus", str(corpus), "--output", str(out), "--quiet", "--scale", "1e-9"]) == 2
    assert "rounds to 0 at scale 1e-09" in one_line_error(capsys)
    assert not out.exists() and not (tmp_path / ".out.partial").exists()


@pytest.mark.parametrize("argv", [["search", "--min-idf", "nan"], ["encode", "--scale", "inf"],
                                  ["compare", "a", "b", "--alpha", "nan"], ["encode", "--gpus-per-worker", "nan"]])
def test_numbers_that_are_not_finite_are_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    assert "finite number" in capsys.readouterr().err


def test_report_with_an_unknown_baseline_says_so(run_and_qrels, tmp_path, capsys):
    run, qrels = run_and_qrels
    metrics = tmp_path / "demo.splade.metrics.json"
    assert main(["eval", "--qrels", str(qrels), "--run", str(run), "--output", str(metrics)]) == 0
    assert main(["report", str(metrics), "--baseline", "bm2"]) == 2
    assert "--baseline 'bm2' is the system of none of these runs" in one_line_error(capsys)
    assert main(["report", str(metrics)]) == 0  # the default baseline, where there is none, says nothing


def test_info_never_prints_none(run_and_qrels, capsys):
    run, _ = run_and_qrels
    assert main(["info", str(run)]) == 0
    out = capsys.readouterr().out
    assert "query top k: -" in out and "None" not in out


def test_a_path_under_a_regular_file_names_that_file(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    corpus = small_corpus(tmp_path / "c.jsonl", 2)
    assert main(["encode", "--corpus", str(corpus), "--output", str(blocker / "coll"), "--quiet"]) == 2
    assert one_line_error(capsys).endswith(f"{blocker} is a file, not a directory")
    assert blocker.read_text() == "mine"


def test_help_shows_the_defaults_the_issue_missed():
    from splade_anserini.cli import build_parser
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    search, encode = commands["search"].format_help(), commands["encode"].format_help()
    assert "(default: 0.0)" in " ".join(search.split()) and "the first of text, query, title" in search
    assert "GPUs per Ray worker (0: CPU workers) (default: 0)" in " ".join(encode.split())
    assert "(Lucene; PISA with --engine pisa)" in " ".join(parser.format_help().split())


# the sweep: every reader, the same malformed files -----------------------------------------------------------------

CLEAN = {  # reader: (file name, content, what it reads as)
    "corpus": ("c.tsv", "d1\tbees dance\nd2\tNaN is a word here\n",
               [("d1", "bees dance"), ("d2", "NaN is a word here")]),
    "corpus-jsonl": ("c.jsonl", '{"_id": "d1", "text": "bees dance"}\n{"_id": "d2", "text": "tides"}\n',
                     [("d1", "bees dance"), ("d2", "tides")]),
    "topics": ("t.tsv", "q1\thoney bees\nq2\tvolcano\n", [("q1", "honey bees"), ("q2", "volcano")]),
    "qrels": ("q.txt", "q1 0 d1 1\nq2 0 d2 2\n", {"q1": {"d1": 1}, "q2": {"d2": 2}}),
    "run": ("r.trec", "q1 Q0 d1 1 2.5 t\nq2 Q0 d2 1 1.5 t\n", {"q1": {"d1": 2.5}, "q2": {"d2": 1.5}}),
    "encoded-topics": ("e.tsv", "q1\tbee bee hive\nq2\tlava lava\n", [("q1", {"bee": 2, "hive": 1}),
                                                                       ("q2", {"lava": 2})]),
}
READERS = {
    "corpus": lambda p: [(d.id, d.text) for d in read_corpus(p)],
    "corpus-jsonl": lambda p: [(d.id, d.text) for d in read_corpus(p)],
    "topics": lambda p: [(q.id, q.text) for q in read_topics(p)],
    "qrels": read_qrels,
    "run": read_run,
    "encoded-topics": lambda p: list(zip(read_encoded_topics(p).ids, read_encoded_topics(p).vectors)),
}


def malformed(kind: str, content: str) -> dict:
    """The malformed versions of a clean file: name suffix, bytes, and the result expected (None: an error)."""
    first, second = content.splitlines(keepends=True)
    first_id = first.split("\t")[0].split()[0] if kind != "corpus-jsonl" else None
    spaced = (first.replace('"d1"', '"d 1"') if kind == "corpus-jsonl" else first.replace(first_id, "x y", 1))
    nan = {"run": second.replace("1.5", "nan"), "qrels": second.replace(" 2\n", " nan\n"),
           "encoded-topics": second, "corpus": second, "corpus-jsonl": second, "topics": second}[kind]
    data = gzip.compress(content.encode("utf-8"))
    clean = CLEAN[kind][2]
    return {
        "bom": ("", b"\xef\xbb\xbf" + content.encode("utf-8"), clean),
        "crlf": ("", content.replace("\n", "\r\n").encode("utf-8"), clean),
        "spaced-id": ("", (spaced + second).encode("utf-8"), None),
        "truncated-gzip": (".gz", data[:len(data) - 12], None),
        "invalid-utf8": ("", first.encode("utf-8") + second.encode("utf-8").replace(b"2", b"\xff", 1), None),
        "empty": ("", b"", {} if kind == "run" else None),  # an empty run is a run (eval refuses to score it)
        "nan": ("", (first + nan).encode("utf-8"), None if kind in ("run", "qrels") else clean),
    }


@pytest.mark.parametrize("kind", list(CLEAN))
def test_sweep_every_reader_gets_the_same_malformed_files(tmp_path, kind):
    name, content, _ = CLEAN[kind]
    for case, (suffix, data, expected) in malformed(kind, content).items():
        path = tmp_path / f"{case}-{name}{suffix}"
        path.write_bytes(data)
        try:
            result = READERS[kind](path)
        except InputError as err:
            message = str(err)
            assert expected is None, f"{kind}/{case}: {message}"
            assert "\n" not in message and str(path) in message, f"{kind}/{case}: {message}"
        else:  # any other exception fails the test with its traceback
            assert expected is not None and result == expected, f"{kind}/{case}: read as {result!r}"


@pytest.mark.parametrize("which", ["run", "qrels"])
def test_sweep_through_eval_exit_status(tmp_path, capsys, which):
    """The same files through the command line (run and qrels: eval loads no model): exit 0 with the clean
    metrics, or exit 2 with one sentence naming the file; never a traceback."""
    files = {kind: tmp_path / CLEAN[kind][0] for kind in ("run", "qrels")}
    for kind, path in files.items():
        path.write_text(CLEAN[kind][1], encoding="utf-8")
    assert main(["eval", "--qrels", str(files["qrels"]), "--run", str(files["run"]), "--output",
                 str(tmp_path / "clean.json")]) == 0
    clean = json.loads((tmp_path / "clean.json").read_text())["metrics"]
    for case, (suffix, data, expected) in malformed(which, CLEAN[which][1]).items():
        same = expected == CLEAN[which][2]
        bad = tmp_path / f"{case}-{CLEAN[which][0]}{suffix}"
        bad.write_bytes(data)
        given = dict(files, **{which: bad})
        out = tmp_path / f"{case}.json"
        capsys.readouterr()
        status = main(["eval", "--qrels", str(given["qrels"]), "--run", str(given["run"]), "--output", str(out)])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if same:
            assert status == 0 and json.loads(out.read_text())["metrics"] == clean, (case, err)
        else:
            assert status == 2 and not out.exists(), (case, err)
            line = err.strip().splitlines()[-1]
            assert line.startswith("splade-anserini: error: ") and str(bad) in line, (case, line)


def test_sweep_through_search_with_encoded_topics(demo_index, tmp_path, capsys):
    """Pre-encoded topics through the command line (no model is loaded): exit 0 with the clean run, or exit 2 with
    one sentence naming the file; never a traceback."""
    name, content, _ = CLEAN["encoded-topics"]
    clean = tmp_path / name
    clean.write_text(content, encoding="utf-8")
    base = ["search", "--index", str(demo_index), "--k", "10"]
    assert main([*base, "--encoded-topics", str(clean), "--output", str(tmp_path / "clean.trec")]) == 0
    for case, (suffix, data, expected) in malformed("encoded-topics", content).items():
        bad = tmp_path / f"{case}-{name}{suffix}"
        bad.write_bytes(data)
        run = tmp_path / f"{case}.trec"
        capsys.readouterr()
        status = main([*base, "--encoded-topics", str(bad), "--output", str(run)])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if expected is not None:
            assert status == 0 and run.read_bytes() == (tmp_path / "clean.trec").read_bytes(), (case, err)
        else:
            assert status == 2 and not run.exists(), (case, err)
            line = err.strip().splitlines()[-1]
            assert line.startswith("splade-anserini: error: ") and str(bad) in line, (case, line)
