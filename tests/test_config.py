from pathlib import Path

import pytest

from conftest import ROOT
from splade_anserini.config import load_experiment
from splade_anserini.errors import InputError

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_parses_and_validates(path, tmp_path):
    data = None
    raw = path.read_text()
    if "shared/data" in raw:
        data = tmp_path  # the shared collections may be absent here; any directory stands in for parsing
    experiment = load_experiment(path, data=data, workdir=tmp_path)
    assert experiment.name == path.stem
    assert experiment.collection == tmp_path / "collections" / f"{path.stem}.splade-tiny"
    assert experiment.run.name.endswith(".trec") and experiment.metrics.name.endswith(".metrics.json")


def test_overrides_and_artifact_names(tmp_path):
    demo = ROOT / "configs" / "demo.yaml"
    experiment = load_experiment(demo, ["encode.scale=50", "search.k=10", "model=naver/splade-v3",
                                        "expected.nDCG@10=0.5"], workdir=tmp_path)
    assert experiment.config["encode"]["scale"] == 50 and experiment.config["search"]["k"] == 10
    assert experiment.config["expected"] == {"nDCG@10": 0.5}
    assert experiment.index == tmp_path / "indexes" / "demo.splade-v3"
    assert Path(experiment.config["corpus"]).is_file()  # data: resolved relative to the config file
    for bad, message in [("encode.scal=5", "unknown setting"), ("noequals", "not key=value"),
                         ("encode.scale=-1", "must be a positive number"), ("measures=[MRR10]", "Unknown measure")]:
        with pytest.raises(InputError, match=message):
            load_experiment(demo, [bad])


def test_bad_config_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nencode: {scale: 100\n")
    with pytest.raises(InputError, match=r"bad.yaml:\d+: malformed YAML"):
        load_experiment(bad)
    bad.write_text("name: x\ncorpus: c.jsonl\ntopics: q.tsv\nqrels: r.txt\nsurprise: 1\n")
    with pytest.raises(InputError, match="unknown setting 'surprise'"):
        load_experiment(bad)
    bad.write_text("name: x\n")
    with pytest.raises(InputError, match="no 'corpus' given"):
        load_experiment(bad)
