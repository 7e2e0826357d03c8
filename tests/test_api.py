"""The public API and the architecture's boundaries: a cheap import, no JVM where no
Lucene is needed, no torch in the file formats, and no module reaching into another's private names."""

import ast
import json
import os
import subprocess
import sys

from conftest import DEMO, ROOT

PACKAGE = ROOT / "splade_anserini"


def run_python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def test_importing_the_package_loads_neither_torch_nor_java():
    import splade_anserini
    out = run_python("import sys, splade_anserini as sa\n"
                     "print(sorted(sa.__all__) == sorted(set(sa.__all__)), 'torch' in sys.modules, "
                     "'jnius' in sys.modules, 'transformers' in sys.modules)")
    assert out.stdout.split() == ["True", "False", "False", "False"], out.stderr
    for name in ("Splade", "EncodeSettings", "encode_corpus", "build_index", "ImpactSearcher", "SpladeQueryEncoder",
                 "search_topics", "evaluate_run", "load_experiment", "run_steps"):
        assert name in splade_anserini.__all__


def test_file_formats_and_evaluation_need_neither_torch_nor_java():
    modules = ["splade_anserini.formats." + p.stem for p in (PACKAGE / "formats").glob("*.py")]
    modules += ["splade_anserini.evaluate", "splade_anserini.compare", "splade_anserini.info", "splade_anserini.stats",
                "splade_anserini.experiment.report", "splade_anserini.experiment.config", "splade_anserini.cli",
                "splade_anserini.model.models", "splade_anserini.model.batching", "splade_anserini.encode"]
    out = run_python("import importlib, sys\n"
                     f"for name in {modules!r}: importlib.import_module(name)\n"
                     "print('torch' in sys.modules, 'jnius' in sys.modules)")
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_eval_report_and_stats_run_where_java_cannot_start(demo_collection, demo_index, tmp_path):
    """JAVA_HOME points at an empty directory: anything that started the JVM would fail."""
    from splade_anserini.cli import main
    run = tmp_path / "run.trec"
    assert main(["search", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"), "--output", str(run),
                 "--k", "20"]) == 0
    topics = tmp_path / "q.tsv"
    assert main(["encode-queries", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"),
                 "--output", str(topics)]) == 0
    empty = tmp_path / "no-java"
    empty.mkdir()
    commands = [["eval", "--qrels", str(DEMO / "qrels.txt"), "--run", str(run)], ["report", str(tmp_path)],
                ["stats", "--collection", str(demo_collection), "--topics", str(topics), "--json"],
                ["info", str(run)], ["compare", str(run), str(run), "--qrels", str(DEMO / "qrels.txt")]]
    code = ("import sys\nfrom splade_anserini.cli import main\n"
            f"codes = [main(args) for args in {commands!r}]\n"
            "print(json.dumps({'codes': codes, 'jnius': 'jnius' in sys.modules}))")
    out = run_python("import json\n" + code, env={"JAVA_HOME": str(empty), "PATH": "/usr/bin:/bin"})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"codes": [0, 0, 0, 0, 0], "jnius": False}, out.stderr


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("splade_anserini")):
                offenders += [f"{path.relative_to(ROOT)}: {alias.name}" for alias in node.names
                              if alias.name.startswith("_") and alias.name != "__version__"]
    assert offenders == []
