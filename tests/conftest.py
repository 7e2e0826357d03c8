"""Shared fixtures: the real splade-tiny model, the demo collection encoded and indexed once per session,
and the shared test collections (tests that need them skip where ../shared is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "splade_anserini" / "data" / "demo"
SHARED = ROOT.parent / "shared" / "data"


def shared_collection(name: str) -> Path:
    path = SHARED / name
    if not (path / "corpus.jsonl").is_file():
        pytest.skip(f"needs the shared test collection {path} (../shared is absent on this machine)")
    return path


@pytest.fixture(scope="session")
def splade():
    from splade_anserini.model.splade import Splade
    return Splade("splade-tiny", max_length=256)


@pytest.fixture(scope="session")
def demo_collection(tmp_path_factory, splade):
    from splade_anserini import EncodeSettings, encode_corpus
    out = tmp_path_factory.mktemp("demo") / "collection"
    # small part files so the multi-file path is exercised
    encode_corpus(DEMO / "corpus.jsonl", out, EncodeSettings(docs_per_file=150), progress=False, model=splade)
    return out


@pytest.fixture(scope="session")
def demo_index(demo_collection):
    from splade_anserini.index import build_index
    out = demo_collection.parent / "index"
    build_index(demo_collection, out)
    return out


@pytest.fixture(scope="session")
def trec_eval_cmd():
    """The real trec_eval (shipped in Anserini's jar), run with the Java this package selected."""
    from splade_anserini.lucene.jvm import anserini_jar, find_java
    return [str(find_java().java), "-cp", str(anserini_jar()), "trec_eval"]


# The demo corpus encoded in a subprocess into 9 part files of 40 documents: the reference bytes for the resume
# and Ray tests, which interrupt the same encoding and compare.
PARTS_ENCODE = ["encode", "--corpus", str(DEMO / "corpus.jsonl"), "--docs-per-file", "40", "--batch-size", "8",
                "--quiet"]


def encode_command(output, *extra) -> list:
    import sys
    return [sys.executable, "-m", "splade_anserini", *PARTS_ENCODE, "--output", str(output), *extra]


@pytest.fixture(scope="session")
def parts_collection(tmp_path_factory):
    import subprocess
    output = tmp_path_factory.mktemp("parts") / "collection"
    subprocess.run(encode_command(output), check=True, capture_output=True, timeout=600)
    return output


def kill_after_parts(command: list, staging: Path, parts: int = 2, timeout: float = 600) -> int:
    """Start ``command`` and SIGKILL it, with everything it started, once ``parts`` part files are finished;
    returns how many were finished then."""
    import json
    import os
    import signal
    import subprocess
    import time

    from splade_anserini.formats.collection import PROGRESS
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + timeout
    done = 0
    while time.time() < deadline and process.poll() is None and done < parts:
        try:
            done = len(json.loads((staging / PROGRESS).read_text())["parts"])
        except (OSError, ValueError):
            done = 0
        time.sleep(0.02)
    assert process.poll() is None, "the encoding finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return done


def assert_same_parts(ours: Path, theirs: Path) -> None:
    from splade_anserini.formats.collection import part_files
    mine, reference = part_files(ours), part_files(theirs)
    assert [p.name for p in mine] == [p.name for p in reference] and len(mine) == 9
    for a, b in zip(mine, reference):
        assert a.read_bytes() == b.read_bytes(), a.name


_REPRODUCED: dict = {}


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory):
    """``reproduced(config, collection)``: the config run through the whole pipeline on a shared collection (once
    per session): (experiment, results)."""
    def run(name: str, collection: str):
        if name not in _REPRODUCED:
            from splade_anserini.experiment.config import load_experiment
            from splade_anserini.experiment.pipeline import run_steps
            data = shared_collection(collection)
            experiment = load_experiment(ROOT / "configs" / f"{name}.yaml", data=data,
                                         workdir=tmp_path_factory.mktemp(name))
            _REPRODUCED[name] = experiment, run_steps(experiment, progress=False)
        return _REPRODUCED[name]
    return run
