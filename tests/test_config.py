from pathlib import Path

import pytest
from conftest import ROOT

from splade_anserini.errors import InputError
from splade_anserini.experiment.config import load_experiment

CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if not p.name.startswith("train-"))
TRAIN_CONFIGS = sorted((ROOT / "configs").glob("train-*.yaml"))


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=lambda p: p.stem)
def test_every_training_config_parses_and_validates(path):
    from splade_anserini.train.trainer import load_settings
    settings = load_settings(path)  # data paths are checked when training starts, not here
    assert settings.name == path.stem and settings.output


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_parses_and_validates(path, tmp_path):
    data = None
    raw = path.read_text()
    if "shared/data" in raw:
        data = tmp_path  # the shared collections may be absent here; any directory stands in for parsing
    experiment = load_experiment(path, data=data, workdir=tmp_path)
    assert experiment.name == path.stem
    assert experiment.collection == tmp_path / "collections" / f"{experiment.corpus_name}.{experiment.model_tag}"
    assert experiment.index.name == experiment.collection.name
    for topic_set in experiment.topic_sets:
        assert topic_set.qrels and (topic_set.topics or topic_set.encoded_topics)
        assert topic_set.run == tmp_path / "runs" / f"{topic_set.name}.{experiment.model_tag}.trec"
        assert topic_set.metrics.name.endswith(".metrics.json") and topic_set.bm25_run.name.endswith(".bm25.trec")
        assert set(topic_set.expected) <= set(topic_set.all_measures)
    if experiment.config["expected"] or any(t.expected for t in experiment.topic_sets):
        assert experiment.config["tolerance"] <= 0.005
    import ir_datasets  # every ir_datasets id must exist (checked in its registry; nothing is downloaded)
    sources = [(experiment.config["corpus"], "docs")] + [(s, kind) for t in experiment.topic_sets
                                                         for s, kind in ((t.topics, "queries"), (t.qrels, "qrels"))]
    for source, kind in sources:
        if source and source.startswith("irds:"):
            assert getattr(ir_datasets.load(source[len("irds:"):]), f"has_{kind}")(), (source, kind)


def test_a_changed_setting_gets_its_own_artifacts(tmp_path):
    demo = ROOT / "configs" / "demo.yaml"
    base = load_experiment(demo, workdir=tmp_path)
    names = {base.index.name}
    for override in ("encode.scale=50", "encode.max_length=128", "encode.pooling=sum", "model=naver/splade-v3",
                     "fields=[text]"):
        changed = load_experiment(demo, [override], workdir=tmp_path)
        assert changed.index.name not in names, override
        assert changed.collection.name == changed.index.name
        names.add(changed.index.name)
    assert load_experiment(demo, ["encode.scale=50", "encode.max_length=512"]).model_tag == "splade-tiny.scale50.len512"
    trained = load_experiment(demo, ["model=checkpoints/splade-tiny.train-scifact/final"], workdir=tmp_path)
    assert trained.index.name == "demo.splade-tiny.train-scifact-final"  # a checkpoint keeps its run's name
    # settings that do not change the index keep its name
    assert load_experiment(demo, ["encode.batch_size=8", "search.k=5"], workdir=tmp_path).index == base.index


TOPIC_SETS = ("name: x\ncorpus_name: corp\ncorpus: irds:msmarco-passage\nmeasures: [RR@10]\ntopic_sets:\n"
              "  - {name: dev, topics: irds:a, qrels: irds:a, expected: {RR@10: 0.3}}\n"
              "  - {name: dl19, topics: q.tsv, qrels: qrels.txt, measures: [nDCG@10]}\n")


def test_topic_sets(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(TOPIC_SETS)
    experiment = load_experiment(config, workdir=tmp_path)
    dev, dl19 = experiment.topic_sets
    assert (dev.measures, dev.expected, dl19.measures, dl19.expected) == (["RR@10"], {"RR@10": 0.3}, ["nDCG@10"], {})
    assert dl19.topics == str(tmp_path / "q.tsv")  # relative to the config file
    assert dev.run == tmp_path / "runs" / "dev.splade-tiny.trec"
    assert experiment.index == tmp_path / "indexes" / "corp.splade-tiny"


@pytest.mark.parametrize("old, new, message", [
    ("measures: [RR@10]\n", "measures: [RR@10]\ntopics: q.tsv\n", "not both"),
    ("name: dl19", "name: dev", "used twice"),
    ("measures: [nDCG@10]", "measure: [nDCG@10]", "unknown setting"),
    ("expected: {RR@10: 0.3}", "expected: 0.3", "must be a mapping"),
    ("qrels: qrels.txt, ", "", "no 'qrels' given"),
    ("name: dl19", "name: 'dl 19'", "file-name-safe"),
])
def test_bad_topic_sets(tmp_path, old, new, message):
    config = tmp_path / "c.yaml"
    assert old in TOPIC_SETS
    config.write_text(TOPIC_SETS.replace(old, new))
    with pytest.raises(InputError, match=message):
        load_experiment(config)


def test_overrides_and_artifact_names(tmp_path):
    demo = ROOT / "configs" / "demo.yaml"
    experiment = load_experiment(demo, ["encode.scale=50", "search.k=10", "model=naver/splade-v3",
                                        "expected.nDCG@10=0.5"], workdir=tmp_path)
    assert experiment.config["encode"]["scale"] == 50 and experiment.config["search"]["k"] == 10
    assert experiment.config["expected"] == {"nDCG@10": 0.5}
    assert experiment.index == tmp_path / "indexes" / "demo.splade-v3.scale50"
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
