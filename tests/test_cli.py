"""The command line as users run it: subprocesses of the installed console script."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO, ROOT


def cli(*args, cwd=None):
    exe = shutil.which("splade-anserini", path=os.path.dirname(sys.executable)) or "splade-anserini"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=900)


def test_flow_through_the_subcommands(tmp_path):
    out = cli("encode", "--corpus", DEMO / "corpus.jsonl", "--output", tmp_path / "coll", "--quiet")
    assert out.returncode == 0, out.stderr
    assert "encoded 344 documents" in out.stdout
    assert cli("index", "--collection", tmp_path / "coll", "--index", tmp_path / "idx").returncode == 0
    out = cli("search", "--index", tmp_path / "idx", "--topics", DEMO / "queries.tsv", "--output",
              tmp_path / "run.trec", "--k", "100")
    assert out.returncode == 0, out.stderr
    out = cli("eval", "--qrels", DEMO / "qrels.txt", "--run", tmp_path / "run.trec", "--measures", "nDCG@10",
              "RR(rel=2)@10")
    assert out.returncode == 0, out.stderr
    metrics = json.loads((tmp_path / "run.metrics.json").read_text())["metrics"]
    assert set(metrics) == {"nDCG@10", "RR(rel=2)@10"}
    assert f"{metrics['nDCG@10']:.4f}" in out.stdout
    # SPLADE on passages written for these queries finds what they ask for
    assert metrics["nDCG@10"] > 0.5


def test_errors_are_one_line_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "a", "text": "fine"}\n{"_id": "b", "text": }\n')
    out = cli("encode", "--corpus", bad, "--output", tmp_path / "out", "--quiet")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == f"splade-anserini: error: {bad}:2: malformed JSON (Expecting value at column 22)"
    assert "Traceback" not in out.stderr and not (tmp_path / "out").exists()
    out = cli("encode", "--corpus", DEMO / "corpus.jsonl", "--output", tmp_path / "o", "--model", tmp_path / "nope")
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_config_run_reuses_finished_artifacts(tmp_path):
    config = ROOT / "configs" / "demo.yaml"
    first = cli("run", "--config", config, "--workdir", tmp_path, "--quiet", "search.k=20")
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "collections" / "demo.splade-tiny" / "manifest.json").is_file()
    assert (tmp_path / "runs" / "demo.splade-tiny.metrics.json").is_file()
    assert "nDCG@10" in first.stdout
    second = cli("run", "--config", config, "--workdir", tmp_path, "--steps", "encode,index", "--quiet")
    assert "encode: reusing" in second.stderr and "index: reusing" in second.stderr
    # another scale is another collection, never the one built with scale 100
    changed = cli("run", "--config", config, "--workdir", tmp_path, "--steps", "encode", "encode.scale=50", "--quiet")
    assert changed.returncode == 0 and "reusing" not in changed.stderr
    assert (tmp_path / "collections" / "demo.splade-tiny.scale50" / "manifest.json").is_file()
    # the same name made from another corpus is refused, not reused
    other = tmp_path / "other.jsonl"
    other.write_text('{"_id": "x", "text": "another corpus"}\n')
    stale = cli("run", "--config", config, "--workdir", tmp_path, "--steps", "encode", f"corpus={other}")
    assert stale.returncode == 2 and "made with other settings" in stale.stderr


def test_verify_prints_bm25_beside_splade_and_report_collects_them(tmp_path):
    config = tmp_path / "demo-verify.yaml"
    config.write_text((ROOT / "configs" / "demo.yaml").read_text().replace("../splade_anserini", str(ROOT / "splade_anserini"))
                      + "expected: {nDCG@10: 0.8343}\nexpected_bm25: {nDCG@10: 0.8013}\n")
    out = cli("verify", "--config", config, "--workdir", tmp_path, "--quiet")
    assert out.returncode == 0, out.stderr
    header = next(line for line in out.stdout.splitlines() if line.startswith("measure"))
    assert header.split() == ["measure", "BM25", "expected", "splade-tiny", "expected"]
    assert "verify: PASSED" in out.stdout
    assert (tmp_path / "runs" / "demo.splade-tiny.config.yaml").is_file()
    assert (tmp_path / "indexes" / "demo.bm25" / "manifest.json").is_file()
    failing = cli("verify", "--config", config, "--workdir", tmp_path, "--quiet", "expected.nDCG@10=0.9")
    assert failing.returncode == 1 and "OUTSIDE TOLERANCE" in failing.stdout and "verify: FAILED" in failing.stdout
    report = cli("report", tmp_path / "runs")
    lines = [line for line in report.stdout.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| topics | system | queries | nDCG@10")
    assert [line.split("|")[2].strip() for line in lines[2:]] == ["bm25", "splade-tiny"]
    assert "0.8343" in lines[3] and "0.8013" in lines[2]
    csv = cli("report", tmp_path / "runs", "--format", "csv", "--output", tmp_path / "table.csv")
    assert csv.returncode == 0 and (tmp_path / "table.csv").read_text().startswith("topics,system,queries,nDCG@10")


def test_make_verbs_follow_the_encode_goal(tmp_path):
    venv = Path(sys.prefix)
    if not (venv / ".installed").is_file():
        pytest.skip("the Makefile verbs need the environment `make setup` builds; run the suite through `make test`")
    out = subprocess.run(["make", "-s", f"VENV={venv}", "encode-demo", "index", "search", "eval",
                          f"ARGS=--workdir {tmp_path} --quiet search.k=10"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "indexes" / "demo.splade-tiny" / "manifest.json").is_file()
    run = (tmp_path / "runs" / "demo.splade-tiny.trec").read_text().splitlines()
    assert len(run) == 10 * 40 and "nDCG@10" in out.stdout


def test_each_library_message_is_printed_once_after_pyserini_configures_the_root_logger(demo_index, tmp_path):
    """Pyserini's search module calls logging.basicConfig on import; the CLI's lines must not come out twice."""
    run = tmp_path / "run.trec"
    code = ("import logging, sys\nfrom splade_anserini.lucene.jvm import start_jvm\nstart_jvm()\n"
            "import pyserini.search.lucene\nfrom splade_anserini.cli import main\n"
            "assert logging.getLogger().handlers, 'pyserini no longer configures the root logger'\n"
            f"sys.exit(main(['search', '--index', {str(demo_index)!r}, '--topics', {str(DEMO / 'queries.tsv')!r}, "
            f"'--output', {str(run)!r}]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    searched = [line for line in out.stderr.splitlines() if "searched " in line and " queries in " in line]
    assert len(searched) == 1, out.stderr
