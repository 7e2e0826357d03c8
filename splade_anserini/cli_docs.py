"""docs/commands.md, written from the argparse definitions in cli.py, so the page cannot drift from the command.

``python -m splade_anserini.cli_docs`` (or ``make docs``) rewrites docs/commands.md; ``--check`` exits 1 when the
file differs from what the parser gives (silent when it is current) (``tests/test_docs.py`` checks the same). No torch, no JVM: only the parser
is built.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .cli import COMMANDS, HelpFormatter, build_parser

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "commands.md"
# A fixed width, so the usage lines do not depend on the terminal the page was generated in.
USAGE_WIDTH = 100

HEADER = """# Commands

What this page is for: every `splade-anserini` subcommand with all its options and their defaults, and the keys of
an experiment config with theirs ([below](#experiment-config-keys)). It is generated from the argparse definitions
in `splade_anserini/cli.py` and the config loader's defaults by `make docs` (`python -m splade_anserini.cli_docs`),
and `tests/test_docs.py` fails when it is not current, so it says what the installed command accepts. What the
stages do and what they write: [flow.md](flow.md); experiment configs: [experiments.md](experiments.md).
"""


def actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """A parser's actions, as argparse hands them to its help formatter (it has no public list of them)."""
    found: list[argparse.Action] = []

    class Collect(argparse.HelpFormatter):
        def add_usage(self, usage, actions, groups, prefix=None):
            found.extend(actions)

    original = parser.formatter_class
    parser.formatter_class = Collect
    try:
        parser.format_help()
    finally:
        parser.formatter_class = original
    return found


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands' parsers by name."""
    return dict(next(a for a in actions(parser) if a.nargs == argparse.PARSER).choices)


def _cell(text: str) -> str:
    """Table-safe: a | would end the cell, a <name> would read as an HTML tag."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def _option_row(action: argparse.Action) -> str:
    names = ", ".join(f"`{name}`" for name in action.option_strings) if action.option_strings \
        else f"`{action.metavar or action.dest}`"
    if action.nargs == 0:
        value = ""
    elif action.choices is not None:
        value = "`" + "|".join(str(choice) for choice in action.choices) + "`"
    else:
        value = f"`{action.metavar or action.dest.upper()}`" if action.option_strings else ""
        if action.nargs in ("+", "*"):
            value += " ..."
    help_text = (action.help or "") % {"default": action.default, "prog": "splade-anserini"}
    default = "required" if action.required else (f"`{action.default}`" if HelpFormatter.shows_default(action) else "")
    return f"| {names} | {_cell(value)} | {_cell(default)} | {_cell(help_text)} |"


def _usage_items(usage: str) -> list[str]:
    """argparse's usage line cut into its items ([--k K], (--topics T | --encoded-topics E), --index INDEX ...)."""
    items, depth, current = [], 0, ""
    for char in usage:
        if char == " " and depth == 0:
            if current:
                items.append(current)
            current = ""
            continue
        depth += (char in "[(") - (char in "])")
        current += char
    items = [*items, current] if current else items
    joined: list[str] = []
    for item in items:  # a required option with its value, a repeated positional with its repetition
        if joined and ((joined[-1].startswith("-") and " " not in joined[-1] and item[0] not in "-[(")
                       or item == f"[{joined[-1].split()[-1]} ...]"):
            joined[-1] += " " + item
        else:
            joined.append(item)
    return joined


def _usage(sub: argparse.ArgumentParser, shared: set) -> str:
    """argparse's own synopsis (with a fixed width, so the terminal does not matter), the options every command
    takes left out, wrapped between items, never inside one."""
    original = sub.formatter_class
    sub.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=100_000)
    try:
        usage = " ".join(sub.format_usage().split()).removeprefix("usage: ")
    finally:
        sub.formatter_class = original
    common = {f"[{option}]" for options in shared for option in options}
    words = [item for item in _usage_items(usage.removeprefix(sub.prog).strip()) if item not in common]
    lines, line = [], sub.prog
    for word in words:
        if len(line) + 1 + len(word) > USAGE_WIDTH:
            lines.append(line)
            line = " " * 4 + word
        else:
            line += " " + word
    return "\n".join([*lines, line])


def _common(subs: dict[str, argparse.ArgumentParser]) -> list[argparse.Action]:
    """The options every subcommand takes (--help, --debug ...), listed once rather than under each command."""
    parsers = list(subs.values())
    shared = set.intersection(*({tuple(a.option_strings) for a in actions(p) if a.option_strings} for p in parsers))
    return [a for a in actions(parsers[0]) if a.option_strings and tuple(a.option_strings) in shared]


def commands_markdown(parser: argparse.ArgumentParser | None = None) -> str:
    parser = parser or build_parser()
    subs = subparsers(parser)
    common = _common(subs)
    shared = {tuple(a.option_strings) for a in common}
    lines = [HEADER, "Every command takes " + "; ".join(
        f"{', '.join(f'`{o}`' for o in a.option_strings)} ({a.help})" for a in common) + ".", "",
        "| command | what it does |", "|---|---|"]
    lines += [f"| [`{name}`](#splade-anserini-{name}) | {_cell(COMMANDS[name][0])} |" for name in subs]
    top = [a for a in actions(parser) if a.option_strings and a.dest != "help"]
    lines += ["", "Options of `splade-anserini` itself: " +
              "; ".join(f"{', '.join(f'`{o}`' for o in a.option_strings)}: {a.help}" for a in top) + "."]
    for name, sub in subs.items():
        own = [a for a in actions(sub) if tuple(a.option_strings) not in shared]
        lines += ["", f"## splade-anserini {name}", "", sub.description or "", "", "```text", _usage(sub, shared), "```"]
        if own:
            lines += ["", "| option | value | default | what it does |", "|---|---|---|---|"]
            lines += [_option_row(action) for action in own]
    lines += ["", *_config_keys()]
    return "\n".join(lines) + "\n"


def _config_keys() -> list[str]:
    """The keys of an experiment config (`run`, `verify`, `key=value` overrides) with their defaults, from the
    defaults the config loader itself applies."""
    from .experiment.config import DEFAULTS
    rows = []
    for key, value in DEFAULTS.items():
        items = value.items() if isinstance(value, dict) and value else [(None, value)]
        rows += [(f"{key}.{sub}" if sub else key, default) for sub, default in items]
    return ["## Experiment config keys", "",
            ("The keys of a config for `run` and `verify` (and of their `key=value` overrides; dotted keys reach "
             "into a section), with the defaults the loader applies; what each means: [experiments.md](experiments.md)."),
            "", "| key | default |", "|---|---|",
            *(f"| `{key}` | `{_cell(json.dumps(default))}` |" for key, default in rows)]


def main(argv=None) -> int | str:
    args = argparse.ArgumentParser(prog="python -m splade_anserini.cli_docs", description=__doc__.split("\n\n")[0])
    args.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the page to write")
    args.add_argument("--check", action="store_true", help="write nothing; exit 1 when the page is not current")
    options = args.parse_args(argv)
    text = commands_markdown()
    current = options.output.read_text(encoding="utf-8") if options.output.is_file() else None
    if options.check:
        # the message goes to stderr through SystemExit: cli.py is the only module that prints
        return f"{options.output} is not current: run `make docs`" if current != text else 0
    if current != text:
        options.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
