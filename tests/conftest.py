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
    from splade_anserini.splade import Splade
    return Splade("splade-tiny", max_length=256)


@pytest.fixture(scope="session")
def demo_collection(tmp_path_factory, splade):
    from splade_anserini.encode import EncodeSettings, encode_corpus
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
    from splade_anserini.jvm import anserini_jar, find_java
    return [str(find_java().java), "-cp", str(anserini_jar()), "trec_eval"]
