"""Settings, choices and defaults are written once (splade_anserini/settings.py): the command line's choices and
defaults, the config's sections and the stages' signatures are read against them, and every out-of-range number
ends in one sentence with exit status 2."""

import ast
import inspect
from dataclasses import fields

import pytest
from conftest import DEMO, ROOT

from splade_anserini import settings as S
from splade_anserini.cli import build_parser, main
from splade_anserini.errors import InputError
from splade_anserini.experiment.config import DEFAULTS

PACKAGE = ROOT / "splade_anserini"
CONSTANTS = {"POOLINGS": S.POOLINGS, "DTYPES": S.DTYPES, "ON_ERROR": S.ON_ERROR, "ENGINES": S.ENGINES,
             "INDEXERS": S.INDEXERS, "RUN_FORMATS": S.RUN_FORMATS, "MEASURES": S.MEASURES}
# subcommand -> the settings dataclass its options fill
STAGES = {"encode": S.EncodeSettings, "inspect": S.EncodeSettings, "index": S.IndexSettings,
          "search": S.SearchSettings, "encode-queries": S.SearchSettings}


def subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def test_cli_choices_and_defaults_are_the_constants_and_the_dataclasses():
    commands = subparsers()
    expected_choices = {("encode", "pooling"): S.POOLINGS, ("encode", "dtype"): S.DTYPES,
                        ("encode", "on_error"): S.ON_ERROR, ("index", "engine"): S.ENGINES,
                        ("search", "engine"): S.ENGINES, ("index", "indexer"): S.INDEXERS,
                        ("search", "format"): S.RUN_FORMATS}
    for (command, dest), constant in expected_choices.items():
        action = next(a for a in commands[command]._actions if a.dest == dest)
        assert tuple(action.choices) == constant, (command, dest)
    for command, stage in STAGES.items():
        defaults = stage()
        names = {f.name for f in fields(stage)}
        for action in commands[command]._actions:
            if action.dest in names:
                assert action.default == getattr(defaults, action.dest), (command, action.dest)
    # every search setting has its flag, under the field's name: SearchSettings.from_args needs no glue
    search_dests = {a.dest for a in commands["search"]._actions}
    assert {f.name for f in fields(S.SearchSettings)} <= search_dests
    assert {f.name for f in fields(S.IndexSettings)} <= {a.dest for a in commands["index"]._actions}
    for command in ("eval", "compare"):
        action = next(a for a in commands[command]._actions if a.dest == "measures")
        assert tuple(action.default) == S.MEASURES


def test_config_defaults_are_the_dataclasses():
    assert DEFAULTS["encode"] == S.EncodeSettings.section_defaults()
    assert DEFAULTS["index"] == S.IndexSettings.section_defaults()
    assert {k: v for k, v in DEFAULTS["search"].items() if k != "encoded_topics"} == \
        S.SearchSettings.section_defaults()
    assert DEFAULTS["bm25"] == S.Bm25Settings.section_defaults() == {"enabled": False, "k1": 0.9, "b": 0.4,
                                                                     "threads": None}
    assert tuple(DEFAULTS["measures"]) == S.MEASURES
    assert (DEFAULTS["model"], DEFAULTS["query_model"]) == (S.ENCODE.model, S.ENCODE.query_model)


def _string_collections(tree):
    for node in ast.walk(tree):
        elements = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else \
            node.keys if isinstance(node, ast.Dict) else None
        if elements and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in elements):
            yield node.lineno, {e.value for e in elements}


def test_no_choice_list_or_bm25_default_is_written_twice():
    """A literal collection of the same names as a constant, or a literal k1/b default, outside settings.py."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "settings.py" or path == PACKAGE / "formats" / "artifacts.py":  # artifacts: engine -> kind
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, names in _string_collections(tree):
            offenders += [f"{path.relative_to(ROOT)}:{line}: {name}" for name, constant in CONSTANTS.items()
                          if names == set(constant)]
        for node in ast.walk(tree):
            if isinstance(node, ast.arguments):
                params = node.posonlyargs + node.args + node.kwonlyargs
                defaults = [None] * (len(node.posonlyargs + node.args) - len(node.defaults)) + list(node.defaults) \
                    + list(node.kw_defaults)
                offenders += [f"{path.relative_to(ROOT)}:{p.lineno}: {p.arg}={d.value}"
                              for p, d in zip(params, defaults)
                              if p.arg in ("k1", "b") and isinstance(d, ast.Constant) and d.value is not None]
    assert offenders == []


def test_search_topics_takes_the_settings_object():
    from splade_anserini.search import search_topics
    parameters = inspect.signature(search_topics).parameters
    assert len(parameters) <= 8 and "settings" in parameters


@pytest.mark.parametrize("settings, message", [
    (S.SearchSettings(k=0), "k must be at least 1, not 0"),
    (S.SearchSettings(query_max_length=2), "query_max_length must be at least 3"),
    (S.SearchSettings(min_idf=float("nan")), "min_idf must be a number"),
    (S.SearchSettings(engine="elastic"), "engine must be one of lucene, pisa"),
    (S.EncodeSettings(max_length=2), "max_length must be at least 3"),
    (S.EncodeSettings(scale=float("inf")), "scale must be a positive number"),
    (S.IndexSettings(threads=0), "threads must be a positive integer"),
    (S.Bm25Settings(k1=-1), "k1 must be a non-negative number"),
])
def test_validate_says_what_is_out_of_range(settings, message):
    with pytest.raises(InputError, match=message):
        settings.validate()


@pytest.mark.parametrize("args, message", [
    (["inspect", "x", "--max-length", "2"], "--max-length must be at least 3, not 2"),
    (["search", "--index", "nowhere", "--topics", "q.tsv", "--output", "r.trec", "--k", "0"],
     "argument --k: must be a positive integer, not 0"),
    (["search", "--index", "nowhere", "--topics", "q.tsv", "--output", "r.trec", "--query-max-length", "2"],
     "--query-max-length must be at least 3, not 2"),
    (["search", "--index", "nowhere", "--topics", "q.tsv", "--output", "r.trec", "--min-idf", "nan"],
     "argument --min-idf: must be a finite number, not nan"),
    (["encode-queries", "--topics", "q.tsv", "--output", "q.jsonl", "--query-max-length", "1"],
     "--query-max-length must be at least 3, not 1"),
    (["encode", "--corpus", "c.jsonl", "--output", "out", "--scale", "inf"], "argument --scale: must be a finite number"),
    (["encode", "--corpus", "c.jsonl", "--output", "out", "--max-length", "2"], "--max-length must be at least 3"),
    (["encode", "--corpus", "c.jsonl", "--output", "out", "--num-shards", "2", "--shard-id", "2"],
     "--shard-id must be in 0..1"),
    (["compare", "a.trec", "b.trec", "--qrels", "q.txt", "--alpha", "2"], "argument --alpha: must be between 0 and 1"),
    (["index", "--collection", "c", "--index", "i", "--threads", "0"], "argument --threads: must be a positive"),
])
def test_out_of_range_numbers_are_one_sentence_and_exit_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(args)
    except SystemExit as exit:  # argparse's own type checks
        code = exit.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0] and "Traceback" not in err[0], err
    assert not any(tmp_path.iterdir())  # nothing was written


def test_from_args_and_from_section_build_the_same_settings(tmp_path):
    args = build_parser().parse_args(["search", "--index", "i", "--topics", str(DEMO / "queries.tsv"), "--output",
                                      "r", "--k", "10", "--query-top-k", "4", "--format", "msmarco"])
    from_cli = S.SearchSettings.from_args(args)
    from_config = S.SearchSettings.from_section({"k": 10, "query_top_k": 4, "format": "msmarco"})
    assert from_cli == from_config
    with pytest.raises(InputError, match=r"^x.yaml: search.k must be at least 1"):
        S.SearchSettings.from_section({"k": 0}, "x.yaml", "search.")


def test_one_quantization_rule():
    """round(scale * w), half to even, zeros dropped: the same integers from a number, a vector and a tensor."""
    import torch

    from splade_anserini.formats.quantization import quantize, quantize_vector
    from splade_anserini.model.splade import quantize as quantize_tensor
    weights = {"a": 0.125, "b": 0.375, "c": 0.004, "d": 1.2345, "e": 0.005}
    assert quantize_vector(weights, 100) == {"a": 12, "b": 38, "d": 123}  # 12.5 -> 12, 37.5 -> 38 (to even)
    assert [quantize(w, 100) for w in weights.values()] == \
        quantize_tensor(torch.tensor(list(weights.values()), dtype=torch.float64), 100).tolist()
