"""The docs check: relative links and anchors resolve, every `splade-anserini ...` command shown parses through the
real argparse definitions (without running), every `make` goal shown exists, every repository path named in code
exists, and the Python examples can be pulled out to be run. Each check returns a list of problems, one string
"page:line: what" each, so a test can show that a broken page is reported (tests/test_docs.py)."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = "splade-anserini"
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# Synopsis notation ([optional], a|b, ...): such a line is checked option by option, not parsed as a whole.
SYNOPSIS = re.compile(r"[\[\]|]|\.\.\.")
REPO_DIRS = ("configs/", "benchmarks/", "tests/", "splade_anserini/", "docs/")


def _name(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return path.name


def pages(root: Path = ROOT) -> list[Path]:
    """The README and every page under docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


NOT_RUN = re.compile(r"^<!--\s*docs-check:\s*not run\b:?\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    language: str
    line: int  # of the first line of code, 1-based
    text: str
    not_run: str | None = None  # why, where the line before the fence says `<!-- docs-check: not run: why -->`


def split(text: str) -> tuple[list[tuple[int, str]], list[Block]]:
    """A page's prose lines (number, text) outside fenced code, and its fenced code blocks."""
    prose, blocks, fence, lines, previous = [], [], None, [], ""
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence, language, start, lines = match.group(2), match.group(3).lower(), number + 1, []
                marker = NOT_RUN.match(previous.strip())
                not_run = marker.group(1) if marker else None
            else:
                prose.append((number, line))
            previous = line
        elif match and match.group(2).startswith(fence) and not match.group(3):
            blocks.append(Block(language, start, "\n".join(lines), not_run))
            fence = None
        else:
            lines.append(line)
    return prose, blocks


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces -> hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").replace("*", "").strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for _, line in split(path.read_text(encoding="utf-8"))[0]:
        match = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = github_slug(match.group(2))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def check_links(path: Path) -> list[str]:
    """Every relative link of the page leads to an existing file, and its #anchor to a heading there."""
    problems = []
    for number, line in split(path.read_text(encoding="utf-8"))[0]:
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not checked (no network)
                continue
            file_part, _, anchor = target.partition("#")
            destination = (path.parent / file_part).resolve() if file_part else path
            if not destination.exists():
                problems.append(f"{_name(path)}:{number}: link to {target}: {file_part} does not exist")
            elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                problems.append(f"{_name(path)}:{number}: link to {target}: no heading with anchor #{anchor} "
                                f"in {destination.name}")
    return problems


def _logical_lines(block: Block):
    """A shell block's lines with backslash continuations joined, each with its first line's number."""
    pending, start = "", None
    for offset, line in enumerate(block.text.splitlines()):
        if start is None:
            start = block.line + offset
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield start, pending + line
        pending, start = "", None
    if pending:
        yield start, pending


def _words(text: str) -> list[str] | None:
    try:
        return shlex.split(text, comments=True)
    except ValueError:
        return None


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def check_command(words: list[str], parser: argparse.ArgumentParser | None = None, whole: bool = True) -> list[str]:
    """Problems with one `splade-anserini ...` command (its words after the program name): an unknown subcommand,
    an unknown option, and, where the command is written out in full (no [optional] or a|b notation), whatever
    argparse itself refuses (a missing required option, a value outside the choices; only when ``whole``: a
    command named in prose may be a fragment). Nothing is run."""
    from splade_anserini.cli import build_parser
    parser = parser or build_parser()
    top = {o for a in parser._actions for o in a.option_strings}
    subs = _subparsers(parser)
    if not words or words[0].startswith("-"):  # the program's own options: --version, --help
        unknown = [w for w in words if w.startswith("-") and w not in top]
        return [f"{PROGRAM}: unknown option {w}" for w in unknown] if words else [f"{PROGRAM}: no subcommand"]
    command = words[0]
    if command in ("...", "COMMAND"):  # the synopsis of any command
        return []
    if command not in subs:
        return [f"{PROGRAM}: no subcommand {command!r}"]
    sub = subs[command]
    known = {o for a in sub._actions for o in a.option_strings}
    problems = []
    for word in words[words.index(command) + 1:]:
        option = word.strip("[]").split("=", 1)[0]
        if option.startswith("-") and not re.match(r"^-\d", option) and option not in known:
            problems.append(f"{PROGRAM} {command}: unknown option {option}")
    if problems or not whole or any(SYNOPSIS.search(w) for w in words) \
            or {"-h", "--help", "-V", "--version"} & set(words):
        return problems
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args(words)
        except SystemExit:
            message = errors.getvalue().strip().splitlines()
            return [f"{PROGRAM} {command}: argparse refuses it: {message[-1] if message else '?'}"]
    return []


def make_goals(root: Path = ROOT) -> tuple[set[str], list[str]]:
    """The Makefile's targets, and its pattern targets' prefixes (encode-%: 'encode-')."""
    goals, patterns = set(), []
    for line in (root / "Makefile").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.%/ -]+?)\s*:(?![=:])", line)
        if match and not line.startswith("\t"):
            for name in match.group(1).split():
                if "%" in name:
                    patterns.append(name.split("%")[0])
                else:
                    goals.add(name)
    return goals, patterns


def check_commands(path: Path, root: Path = ROOT) -> list[str]:
    """Every `splade-anserini ...` and `make ...` line in the page's code blocks, and every inline
    `splade-anserini ...` span of its prose, names a subcommand, options and Make goals that exist."""
    from splade_anserini.cli import build_parser
    parser = build_parser()
    goals, patterns = make_goals(root)
    prose, blocks = split(path.read_text(encoding="utf-8"))
    commands = []
    for block in blocks:
        if block.language in ("", "bash", "sh", "shell", "console"):
            commands += [(n, line.strip().removeprefix("$ "), True) for n, line in _logical_lines(block)]
    for number, line in prose:
        commands += [(number, span[1], False) for span in INLINE_CODE.findall(line)
                     if span[1].startswith(PROGRAM + " ")]
    problems = []
    for number, line, whole in commands:
        for part in re.split(r"\s*(?:&&|;)\s*", line):
            words = _words(part)
            if not words:
                continue
            if words[0] == PROGRAM:
                problems += [f"{_name(path)}:{number}: {p}" for p in check_command(words[1:], parser, whole)]
            elif words[0] == "make":
                for goal in words[1:]:
                    if "=" in goal or goal.startswith("-"):
                        continue
                    if goal not in goals and not any(goal.startswith(p) and goal != p for p in patterns):
                        problems.append(f"{_name(path)}:{number}: make: no goal {goal!r} in the Makefile")
    return problems


def check_paths(path: Path, root: Path = ROOT) -> list[str]:
    """Every repository path named in inline code (`configs/...`, `benchmarks/...`, `tests/...`, ...) exists."""
    problems = []
    for number, line in split(path.read_text(encoding="utf-8"))[0]:
        for _, span in INLINE_CODE.findall(line):
            name = span.split()[0] if span.split() else ""
            if not name.startswith(REPO_DIRS) or "<" in name:
                continue
            if not (any(root.glob(name.rstrip("/"))) if "*" in name else (root / name).exists()):
                problems.append(f"{_name(path)}:{number}: {name} does not exist in the repository")
    return problems


def python_examples(path: Path) -> list[Block]:
    """The page's Python blocks; those marked `<!-- docs-check: not run: why -->` (on the line before the fence:
    they need what the suite does not have, e.g. a trained checkpoint) are compiled, not run."""
    return [block for block in split(path.read_text(encoding="utf-8"))[1] if block.language == "python"]
