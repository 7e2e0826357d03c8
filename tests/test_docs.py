"""The docs are checked: README.md and docs/*.md link only to what exists, every `splade-anserini ...` command they
show parses through the real argparse definitions, docs/commands.md is what the parser gives, the Python examples
run, and each section of the former long README has a home. The check itself is shown to fail on broken pages."""

import ast
import re
import shutil
import subprocess
import sys

import pytest
from conftest import DEMO, ROOT
from docs_check import (
    anchors,
    check_commands,
    check_links,
    check_paths,
    github_slug,
    pages,
    python_examples,
    split,
)

DOCS = ROOT / "docs"
# The headings of README.md at commit 44aac24, before it was split into docs/ (issue 31).
FORMER_README_SECTIONS = [
    "splade-anserini", "The flow", "Your files are safe", "Output formats", "Queries", "Query encoders", "Measures",
    "Experiments: configs and Make verbs", "Reproduced numbers", "Speed, memory and large corpora",
    "Same document, same vector", "Search", "Large corpora", "On a GPU", "Scale: MS MARCO size on one machine",
    "Sparsity, cost and the trade-off", "Engines", "Python API", "Pyserini", "Training",
    "What went wrong with the first supervised attempt, and what fixed it", "Measured: `make train-scifact-supervised`",
    "Measured: distillation from the BM25 + splade-tiny ensemble against contrastive training",
    "Title-as-query adaptation (`configs/train-scifact.yaml`): experimental", "Models", "Java", "Layout",
]


def page_ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def test_commands_page_is_current():
    from splade_anserini.cli_docs import commands_markdown
    assert (DOCS / "commands.md").read_text(encoding="utf-8") == commands_markdown(), \
        "docs/commands.md is not current: run `make docs`"


def test_commands_page_lists_every_subcommand_and_option():
    from splade_anserini.cli import build_parser
    from splade_anserini.cli_docs import subparsers
    page = (DOCS / "commands.md").read_text(encoding="utf-8")
    every = next(line for line in page.splitlines() if line.startswith("Every command takes "))
    for name, sub in subparsers(build_parser()).items():
        section = page[page.index(f"## splade-anserini {name}\n"):]
        section = section[:section.find("\n## ", 1) if "\n## " in section[1:] else len(section)]
        for action in sub._actions:
            for option in action.option_strings:
                assert f"`{option}`" in section or f"`{option}`" in every, (name, option)


@pytest.mark.parametrize("page", pages(), ids=page_ids(pages()))
def test_links_and_anchors_resolve(page):
    assert check_links(page) == []


@pytest.mark.parametrize("page", pages(), ids=page_ids(pages()))
def test_commands_shown_parse_and_make_goals_exist(page):
    assert check_commands(page) == []


@pytest.mark.parametrize("page", pages(), ids=page_ids(pages()))
def test_repository_paths_named_exist(page):
    assert check_paths(page) == []


def test_the_check_reports_broken_links_anchors_options_and_goals(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "Makefile").write_text("demo: setup\n\tdo it\nverify-%: setup\n\tdo it\n")
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## A section\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# A page\n\n"
        "Fine: [other](other.md), [its section](other.md#a-section), [here](#a-page), [web](https://example.org).\n"
        "Broken: [gone](missing.md), [no anchor](other.md#no-such-section).\n"
        "Prose: `splade-anserini search --no-such-flag` and `configs/no-such-config.yaml`.\n\n"
        "```bash\n"
        "splade-anserini search --index idx/ --topics q.tsv --output run.trec --k 10   # fine\n"
        "splade-anserini index --collection coll/ --index idx/ \\\n    --threadz 4\n"
        "splade-anserini encode --corpus c.jsonl --output coll/ --pooling mean\n"
        "splade-anserini search --topics q.tsv --output run.trec\n"
        "splade-anserini serch --index idx/\n"
        "splade-anserini eval --qrels q.txt --run r.trec [--measurez nDCG@10]\n"
        "make demo verify-scifact-local && make no-such-goal\n"
        "```\n")
    links = check_links(page)
    assert links == ["page.md:4: link to missing.md: missing.md does not exist",
                     ("page.md:4: link to other.md#no-such-section: no heading with anchor #no-such-section in "
                      "other.md")]
    commands = check_commands(page, root=tmp_path)
    assert [p.split(": ", 1)[0] for p in commands] == ["page.md:9", "page.md:11", "page.md:12", "page.md:13",
                                                       "page.md:14", "page.md:15", "page.md:5"]
    assert "unknown option --threadz" in commands[0]
    assert "invalid choice: 'mean'" in commands[1]
    assert "required: --index" in commands[2]
    assert "no subcommand 'serch'" in commands[3]
    assert "unknown option --measurez" in commands[4]
    assert "no goal 'no-such-goal'" in commands[5]
    assert "unknown option --no-such-flag" in commands[6]
    marked = tmp_path / "docs" / "marked.md"
    marked.write_text("# Marked\n\n<!-- docs-check: not run: needs a trained checkpoint -->\n```python\nx = 1\n```\n\n"
                      "```python\ny = 2\n```\n")
    assert [(b.text, b.not_run) for b in python_examples(marked)] == [("x = 1", "needs a trained checkpoint"),
                                                                      ("y = 2", None)]
    assert check_paths(page, root=tmp_path) == ["page.md:5: configs/no-such-config.yaml does not exist in the repository"]


def test_github_anchors(tmp_path):
    assert github_slug("Measured: `make train-scifact-supervised`") == "measured-make-train-scifact-supervised"
    assert github_slug("Speed, memory and large corpora") == "speed-memory-and-large-corpora"
    assert github_slug("Measured: distillation from the BM25 + splade-tiny ensemble against contrastive training") \
        == "measured-distillation-from-the-bm25--splade-tiny-ensemble-against-contrastive-training"
    page = tmp_path / "p.md"
    page.write_text("# Flow\n\n## Flow\n\n```bash\n# not a heading\n```\n")
    assert anchors(page) == {"flow", "flow-1"}


def test_every_section_of_the_former_readme_has_a_home():
    """docs/README.md lists each heading of the README before the split, with a link that resolves."""
    out = subprocess.run(["git", "show", "44aac24:README.md"], cwd=ROOT, capture_output=True, text=True,
                         check=False) if shutil.which("git") else None
    if out is not None and out.returncode == 0:  # where the history is there, the frozen list must be the real one
        prose, _ = split(out.stdout)
        assert [line.lstrip("#").strip() for _, line in prose if line.startswith("#")] == FORMER_README_SECTIONS
    rows = {}
    page = (DOCS / "README.md").read_text(encoding="utf-8")
    listing = page[page.index("## Where the former README's sections went"):]
    listing = listing[:listing.index("\n## ")] if "\n## " in listing else listing
    for _, line in split(listing)[0]:
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) == 2 and "](" in cells[1]:
            rows[cells[0]] = cells[1]
    assert sorted(rows) == sorted(FORMER_README_SECTIONS)
    assert check_links(DOCS / "README.md") == []


def test_readme_is_short_starts_with_demo_and_test_and_maps_every_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    first = next(block for block in split(readme)[1] if block.language == "bash")
    assert [line.split("#")[0].strip() for line in first.text.splitlines()] == ["make demo", "make test"]
    for page in sorted(DOCS.glob("*.md")):
        if page.name != "README.md":
            assert f"(docs/{page.name})" in readme, f"README.md does not link to docs/{page.name}"
            lines = page.read_text(encoding="utf-8").splitlines()
            assert lines[0].startswith("# ") and lines[2].startswith("What this page is for:"), page.name


def test_readme_quick_start_is_the_whole_flow_on_ones_own_files():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Quick start"):]
    block = next(block for block in split(section)[1] if block.language == "bash")
    commands = [line.split()[1] for line in block.text.splitlines()]
    assert commands == ["encode", "index", "search", "eval", "compare"]
    assert "--model path/to/my-splade-model" in block.text


def test_python_examples_run(tmp_path, demo_index):
    """Each Python block of the docs runs as it is, in a fresh interpreter (the blocks of a page in order, in one
    directory, as a reader would run them), with the demo's paths pointing into this checkout."""
    replacements = {'"splade_anserini/data/demo"': repr(str(DEMO)), '"configs/': f'"{ROOT / "configs"}/',
                    "indexes/demo.splade-tiny": str(demo_index)}
    ran = {}
    for page in pages():
        for block in python_examples(page):
            code = block.text
            for old, new in replacements.items():
                code = code.replace(old, new)
            compile(code, f"{page.relative_to(ROOT)}:{block.line}", "exec")  # every example at least compiles
            if block.not_run is not None:
                assert block.not_run, f"{page.relative_to(ROOT)}:{block.line}: say why the example is not run"
                continue
            out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                                 timeout=900, check=False)
            where = f"{page.relative_to(ROOT)}:{block.line}"
            assert out.returncode == 0, f"{where}: {out.stderr}"
            # the library shows no progress bar where it is not asked to (nor on a pipe), and no 'Loading weights'
            assert "Loading weights" not in out.stderr and not re.search(r"\d+%\|", out.stderr), f"{where}: {out.stderr}"
            ran[where] = out.stdout.splitlines()
    # docs/python-api.md: the flow, the public names, Pyserini
    flow, names, pyserini = (lines for where, lines in ran.items() if where.startswith("docs/python-api.md:"))
    metrics = ast.literal_eval(flow[0])  # the dict printed by the example
    assert metrics["nDCG@10"] > 0.8 and set(metrics) == {"nDCG@10", "R@100"}
    assert "'octopus'" in flow[1] and flow[2].startswith("[(")
    assert (tmp_path / "runs" / "api-demo.trec").is_file()
    assert names[:4] == ["344 40 40 40", "[{'octopus': 2, 'blood': 1}]", "index", "0.0"]
    assert names[4:6] == ["100 1000", "10"] and "runs/missing.trec" in names[6]
    assert len(pyserini) == 6 and pyserini[-1].startswith("{'q1': [")


def test_make_docs_writes_the_page_and_its_check_fails_on_a_stale_one(tmp_path):
    from splade_anserini.cli_docs import commands_markdown, main
    page = tmp_path / "commands.md"
    assert main(["--output", str(page)]) == 0 and page.read_text(encoding="utf-8") == commands_markdown()
    assert main(["--check", "--output", str(page)]) == 0
    page.write_text(commands_markdown().replace("`--max-length`", "`--max-len`"), encoding="utf-8")
    assert main(["--check", "--output", str(page)]) == f"{page} is not current: run `make docs`"
    out = subprocess.run([sys.executable, "-m", "splade_anserini.cli_docs", "--check", "--output", str(page)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 1 and "is not current: run `make docs`" in out.stderr


def test_every_public_name_is_in_the_python_api_page():
    import splade_anserini
    page = (DOCS / "python-api.md").read_text(encoding="utf-8")
    table = page[page.index("## The public names, one example each"):page.index("### Pyserini")]
    rows = [line.split(" | ")[0] for line in table.splitlines() if line.startswith("| `")]
    listed = {name for row in rows for name in re.findall(r"`(\w+)`", row)}
    assert set(splade_anserini.__all__) <= listed, set(splade_anserini.__all__) - listed
