"""The package's requirements fit a researcher's environment (issue 28): version ranges in pyproject.toml, so pip keeps
the torch an environment already has; the exact versions of this project's machines in constraints.txt."""

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
import venv

import pytest
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
DEPENDENCIES = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
OPTIONAL = {extra: [Requirement(r) for r in reqs]
            for extra, reqs in PYPROJECT["project"]["optional-dependencies"].items()}
OTHER_TORCH = "2.15.0"  # a release newer than this project's machines' 2.13.0, as a GPU user may have


def constraints() -> dict:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            specs = list(requirement.specifier)
            assert len(specs) == 1 and specs[0].operator == "==", f"constraints.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(requirement.name)] = specs[0].version
    return pins


def test_requirements_are_ranges_and_constraints_pin_the_tested_set():
    pins = constraints()
    for requirement in DEPENDENCIES + [r for reqs in OPTIONAL.values() for r in reqs]:
        assert not any(s.operator in ("==", "===") for s in requirement.specifier), \
            f"pyproject.toml pins {requirement}; exact versions belong in constraints.txt"
        name = canonicalize_name(requirement.name)
        assert name in pins, f"constraints.txt does not pin {requirement.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject.toml's {requirement}"
    assert pins["torch"] == "2.13.0"  # the CPU wheel of this project's machines
    assert {r.name for r in OPTIONAL["st"]} <= {r.name for r in OPTIONAL["test"]}
    # make setup installs with them
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"pip install .*-c constraints.txt .*-e '\.\[test\]'", makefile)


def _fake_environment(root):
    """A virtual environment whose site-packages holds only metadata: this environment's distributions as they are,
    except torch, which is another release. Nothing in it can be imported; pip reads what is installed."""
    venv.create(root, with_pip=False)
    site = next(root.glob("lib/python*/site-packages"))
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if canonicalize_name(name) in ("torch", "splade-anserini"):
            continue
        folder = site / f"{re.sub(r'[-.]+', '_', name)}-{dist.version}.dist-info"
        folder.mkdir(exist_ok=True)
        (folder / "METADATA").write_text(dist.read_text("METADATA") or f"Name: {name}\nVersion: {dist.version}\n",
                                         encoding="utf-8")
    torch = site / f"torch-{OTHER_TORCH}.dist-info"
    torch.mkdir()
    (torch / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {OTHER_TORCH}\n", encoding="utf-8")
    return root / "bin" / "python"


def _dry_run(python, requirements, report):
    """``pip install --dry-run --report`` into the environment of ``python``, offline, without pip's configuration
    of this machine (its constraints and wheel folders would decide instead of the project's requirements)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1")
    command = [sys.executable, "-m", "pip", "--python", str(python), "install", "--dry-run", "--no-index",
               "--quiet", "--report", str(report), *map(str, requirements)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_installing_the_project_keeps_the_environments_torch(tmp_path):
    python = _fake_environment(tmp_path / "env")
    report = tmp_path / "report.json"
    result = _dry_run(python, DEPENDENCIES, report)
    if "no such option: --python" in result.stderr:
        pytest.skip("this pip cannot install into another environment (--python needs pip 22.3)")
    assert result.returncode == 0, result.stderr[-2000:]
    installs = {canonicalize_name(item["metadata"]["name"]) for item in json.loads(report.read_text())["install"]}
    assert "torch" not in installs and not installs, installs
    # the check can fail: a requirement the environment's torch does not meet makes pip replace it (here: look for
    # another torch, which an offline pip cannot find)
    result = _dry_run(python, [*DEPENDENCIES, "torch<2.15"], tmp_path / "other.json")
    assert result.returncode != 0 and "torch" in result.stderr
