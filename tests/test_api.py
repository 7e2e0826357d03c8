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


def test_library_modules_report_through_logging_not_print():
    """cli.py owns the terminal; the library logs (splade_anserini.*) and warns."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_the_library_is_silent_unless_configured_and_the_cli_speaks(demo_index, tmp_path, caplog, capsys):
    import logging
    import warnings

    from splade_anserini import SearchSettings, evaluate_run, search_topics
    from splade_anserini.cli import main
    from splade_anserini.errors import SpladeAnseriniWarning
    run = tmp_path / "run.trec"
    with caplog.at_level(logging.INFO, logger="splade_anserini"):
        search_topics(demo_index, run, SearchSettings(k=10), topics=DEMO / "queries.tsv", overwrite=True)
    assert any(r.name == "splade_anserini.search" and r.getMessage().startswith("searched 40 queries")
               for r in caplog.records)
    assert capsys.readouterr().err == ""  # a library caller who configured nothing sees nothing
    half = tmp_path / "half.trec"
    half.write_text("".join(run.read_text().splitlines(keepends=True)[:50]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate_run(half, DEMO / "qrels.txt", ["nDCG@10"], tmp_path / "half.metrics.json")
    assert [w.category for w in caught] == [SpladeAnseriniWarning] and "judged queries" in str(caught[0].message)
    assert capsys.readouterr().err == ""
    # the command line: notes on stderr by default, none with -qq; warnings in one line either way
    search = ["search", "--index", str(demo_index), "--topics", str(DEMO / "queries.tsv"), "--k", "10",
              "--overwrite", "--output", str(run)]
    assert main(search) == 0 and "searched 40 queries" in capsys.readouterr().err
    assert main(search + ["-qq"]) == 0 and capsys.readouterr().err == ""
    assert main(["eval", "--qrels", str(DEMO / "qrels.txt"), "--run", str(half), "-qq"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("warning: only 5 of the 40 judged queries have hits"), err


def _module_imports(tree) -> set:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_java_only_in_lucene_and_pisas_native_code_only_in_pisa():
    """Outside lucene/: no jnius, no pyserini, no start_jvm; outside pisa/: no pyterrier-pisa (its compiled module)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        where = path.relative_to(PACKAGE).parts[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = _module_imports(tree)
        if where != "lucene":
            offenders += [f"{path.relative_to(ROOT)}: imports {name}" for name in imported & {"jnius", "pyserini",
                                                                                             "jnius_config"}]
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno}: start_jvm" for node in ast.walk(tree)
                          if (isinstance(node, ast.Name) and node.id == "start_jvm")
                          or (isinstance(node, ast.Attribute) and node.attr == "start_jvm")
                          or (isinstance(node, ast.alias) and node.name == "start_jvm")]
        if where != "pisa":
            offenders += [f"{path.relative_to(ROOT)}: imports {name}" for name in imported & {"pyterrier_pisa",
                                                                                             "pyterrier"}]
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}" for node in ast.walk(tree)
                          if isinstance(node, ast.Constant) and node.value in ("pyterrier_pisa", "_pisathon")]
    assert offenders == []


def test_no_module_reaches_into_another_objects_private_attributes():
    """``x._name`` only on ``self``/``cls``/``super()`` (and a namedtuple's public ``_fields``): e.g. training uses
    ``Splade.hidden_states``, not a private method of the model."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
                continue
            owner = node.value
            if (isinstance(owner, ast.Name) and owner.id in ("self", "cls")) or node.attr == "_fields" or (
                    isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super"):
                continue
            offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []
