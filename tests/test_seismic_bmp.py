"""The Seismic and BMP engines, and document reordering: built from the same collection as Lucene's index, searched
with the same queries (real splade-tiny), compared with Lucene's run and with a brute-force scorer."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy
import pytest
from conftest import DEMO

from splade_anserini.errors import InputError
from splade_anserini.formats.artifacts import read_manifest
from splade_anserini.index import build_index
from splade_anserini.search import search_topics
from splade_anserini.settings import ENGINE_BUILD_KNOBS, ENGINE_SEARCH_KNOBS, IndexSettings, SearchSettings

pytest.importorskip("seismic", reason="needs pyseismic-lsr (pip install 'splade-anserini[seismic]')")
pytest.importorskip("bmp", reason="needs bmp (pip install 'splade-anserini[bmp]')")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "splade_anserini", *args], capture_output=True, text=True,
                          timeout=600)


def hits_of(run) -> dict:
    hits: dict = {}
    for line in run.read_text().splitlines():
        qid, _, docid, _, score, _ = line.split()
        hits.setdefault(qid, []).append((docid, score))
    return hits


@pytest.fixture(scope="module")
def encoder(demo_index):
    from splade_anserini.lucene.queries import SpladeQueryEncoder
    return SpladeQueryEncoder(index=demo_index)


@pytest.fixture(scope="module")
def lucene_runs(demo_index, encoder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lucene-runs")
    runs = {}
    for k in (10, 100):
        runs[k] = folder / f"lucene-{k}.trec"
        search_topics(demo_index, runs[k], SearchSettings(k=k, threads=1), topics=DEMO / "queries.tsv", encoder=encoder)
    return runs


@pytest.fixture(scope="module")
def demo_bmp(demo_collection, tmp_path_factory):
    index = tmp_path_factory.mktemp("bmp") / "index"
    build_index(demo_collection, index, IndexSettings(engine="bmp"), progress=False)
    return index


@pytest.fixture(scope="module")
def demo_seismic(demo_collection, tmp_path_factory):
    index = tmp_path_factory.mktemp("seismic") / "index"
    build_index(demo_collection, index, IndexSettings(engine="seismic"), progress=False)
    return index


def test_bmp_safe_mode_is_a_brute_force_scorer_with_bmps_rounding(demo_bmp, encoder):
    """alpha = beta = 1, BMP's own scores: on every demo query, at k = 10 and 100, the hits and scores of an exhaustive
    scorer that applies BMP's rounding (query weights ceil(w x 32 / max w) in float32, impacts re-quantized into 8
    bits). This pins the rounding the rescoring bound relies on, and the padding block's work-around (without it,
    bmp 0.2.8 leaves out a block of every query)."""
    from splade_anserini.bmp import BmpSearch, bmp_query_weights
    from splade_anserini.bmp.searcher import BmpSearcher
    from splade_anserini.formats.forward import exact_scores
    from splade_anserini.formats.postings import requantize
    from splade_anserini.formats.readers import read_topics
    from splade_anserini.formats.runs import adjust_ties, rank_hits
    vectors = encoder.encode_batch([q.text for q in read_topics(DEMO / "queries.tsv")])
    with BmpSearcher(demo_bmp, settings=BmpSearch(rescore=False)) as searcher:
        forward = searcher._forward
        factor = read_manifest(demo_bmp)["bmp"]["requantize_factor"]
        assert factor is not None and factor < 1  # the demo's impacts go above 255: re-quantized
        rounded = dataclasses.replace(forward, impacts=requantize(numpy.asarray(forward.impacts), factor))
        everyone = numpy.arange(forward.documents)
        for k in (10, 100):
            got = searcher.batch_search(vectors, k)
            for vector, hits in zip(vectors, got):
                terms = searcher.kept_terms(vector)
                weights = bmp_query_weights(terms, searcher.scale_weight(terms))
                scores = exact_scores(rounded, everyone, weights, searcher._statistics.term_ids)
                ranked = rank_hits([(forward.ids[i], s) for i, s in enumerate(scores.tolist()) if s > 0])[:k]
                assert hits == list(zip([d for d, _ in ranked], adjust_ties([s for _, s in ranked])))
    assert bmp_query_weights({"a": 3.0, "b": 1.0, "c": 0.01}) == {"a": 32, "b": 11, "c": 1}
    assert bmp_query_weights({"a": 3.0, "b": 1.0}, 6.0) == {"a": 16, "b": 6}


def test_bmp_rescored_run_is_lucenes_run(demo_bmp, lucene_runs, encoder, tmp_path):
    """The default (safe, rescored): byte-identical to Lucene's run at k = 10 and 100, and evaluated alike."""
    from splade_anserini import evaluate_run
    for k, lucene in lucene_runs.items():
        run = tmp_path / f"bmp-{k}.trec"
        facts = search_topics(demo_bmp, run, SearchSettings(k=k, threads=1, engine="bmp"), topics=DEMO / "queries.tsv",
                              encoder=encoder)
        assert facts["engine"] == "bmp" and facts["exact"] == "safe"
        assert facts["engine_settings"] == {"alpha": 1.0, "beta": 1.0, "rescore": True}
        assert run.read_bytes() == lucene.read_bytes()
    metrics = evaluate_run(run, DEMO / "qrels.txt")["metrics"]
    assert metrics == evaluate_run(lucene_runs[100], DEMO / "qrels.txt")["metrics"]
    from splade_anserini.formats.runs import metrics_path
    facts = json.loads(metrics_path(run).read_text())
    assert facts["search"]["exact"] == "safe"


def test_bmp_approximate_setting_says_so(demo_bmp, encoder, tmp_path):
    facts = search_topics(demo_bmp, tmp_path / "fast.trec",
                          SearchSettings(k=10, threads=1, engine="bmp", bmp_alpha=0.5),
                          topics=DEMO / "queries.tsv", encoder=encoder)
    assert facts["exact"] == "no" and facts["lines"] == 400


def test_seismic_exhaustive_is_lucenes_hits(demo_collection, lucene_runs, encoder, tmp_path):
    """Every posting kept, full summaries, every query term, every block: Seismic's top k are Lucene's, with
    Lucene's scores (integer query weights, exact sums)."""
    from splade_anserini.seismic import exhaustive
    build, search = exhaustive(read_manifest(demo_collection)["documents"])
    index = tmp_path / "seismic-all"
    knobs = {name: getattr(build, own) for name, own in ENGINE_BUILD_KNOBS["seismic"].items()}
    build_index(demo_collection, index, IndexSettings(engine="seismic", **knobs), progress=False)
    for k, lucene in lucene_runs.items():
        run = tmp_path / f"seismic-{k}.trec"
        knobs = {name: getattr(search, own) for name, own in ENGINE_SEARCH_KNOBS["seismic"].items()}
        facts = search_topics(index, run, SearchSettings(k=k, threads=1, engine="seismic", **knobs),
                              topics=DEMO / "queries.tsv", encoder=encoder)
        assert facts["exact"] == "no"  # Seismic is approximate by design, whatever the setting
        assert run.read_bytes() == lucene.read_bytes()


def test_seismic_default_run_evaluates_and_is_close(demo_seismic, lucene_runs, encoder, tmp_path):
    from splade_anserini import evaluate_run
    from splade_anserini.seismic import SeismicSearch
    run = tmp_path / "seismic.trec"
    facts = search_topics(demo_seismic, run, SearchSettings(k=10, threads=1, engine="seismic"),
                          topics=DEMO / "queries.tsv", encoder=encoder)
    assert facts["engine_settings"] == dataclasses.asdict(SeismicSearch()) and facts["exact"] == "no"
    ours, lucene = hits_of(run), hits_of(lucene_runs[10])
    overlap = numpy.mean([len({d for d, _ in ours[q]} & {d for d, _ in lucene[q]}) / 10 for q in lucene])
    assert overlap >= 0.9  # measured 1.0 on the demo (344 documents)
    for qid, hits in ours.items():  # the scores of what it finds are Lucene's
        theirs = dict(lucene[qid])
        assert all(theirs[d] == s for d, s in hits if d in theirs)
    assert evaluate_run(run, DEMO / "qrels.txt")["metrics"]["nDCG@10"] > 0


def test_reordered_indexes_write_the_same_runs(demo_collection, lucene_runs, encoder, tmp_path):
    """--reorder bp: a permutation recorded in the manifest, the same for both engines; BMP's run unchanged."""
    from splade_anserini.formats.forward import read_forward_index, read_order
    from splade_anserini.reorder import bp_order
    index = tmp_path / "bmp-bp"
    build_index(demo_collection, index, IndexSettings(engine="bmp", reorder="bp"), progress=False)
    manifest = read_manifest(index)
    assert manifest["reorder"]["method"] == "bp"
    order = read_order(index, manifest["index_documents"])
    assert sorted(order.tolist()) == list(range(manifest["index_documents"])) and order.tolist() != sorted(order)
    assert numpy.array_equal(order, bp_order(read_forward_index(index), progress=False)[0])  # deterministic
    run = tmp_path / "bmp-bp.trec"
    search_topics(index, run, SearchSettings(k=100, threads=1, engine="bmp"), topics=DEMO / "queries.tsv",
                  encoder=encoder)
    assert run.read_bytes() == lucene_runs[100].read_bytes()


def test_threads_write_the_same_runs(demo_bmp, demo_seismic, encoder, tmp_path):
    """Seismic and BMP search several queries at once with threads > 1: the runs are those of one thread."""
    for engine, index in (("bmp", demo_bmp), ("seismic", demo_seismic)):
        runs = []
        for threads in (1, 2):
            run = tmp_path / f"{engine}-{threads}.trec"
            search_topics(index, run, SearchSettings(k=100, threads=threads, engine=engine),
                          topics=DEMO / "queries.tsv", encoder=encoder)
            runs.append(run.read_bytes())
        assert runs[0] == runs[1] and runs[0]


def test_bp_lowers_the_log_gap_cost(demo_collection, demo_bmp):
    """What BP optimizes, measured: the posting lists' log2-gap cost (reorder.log_gap_bits, checked here against a
    computation of its own). The demo's collection order is already by topic (measured: 130.6k bits against 153.7k
    for a random order); BP's order is lower still (127.5k), and BP finds as good an order again from a shuffled
    collection (130.6k)."""
    from splade_anserini.formats.forward import ForwardIndex, read_forward_index
    from splade_anserini.reorder import bp_order, log_gap_bits
    forward = read_forward_index(demo_bmp)

    def cost(order):
        position = numpy.empty_like(order)
        position[order] = numpy.arange(len(order))
        owner = numpy.repeat(numpy.arange(forward.documents), numpy.diff(forward.offsets))
        keys = numpy.lexsort((position[owner], forward.terms))
        docs, terms = position[owner][keys], numpy.asarray(forward.terms)[keys]
        gaps = numpy.diff(docs)[terms[1:] == terms[:-1]]
        return numpy.log2(gaps + 1).sum()

    order, facts = bp_order(forward, progress=False)
    random = numpy.random.default_rng(0).permutation(forward.documents)
    collection = numpy.arange(forward.documents)
    assert log_gap_bits(forward, order) == pytest.approx(cost(order)) and log_gap_bits(forward) == pytest.approx(
        cost(collection))
    assert cost(order) < cost(collection) and cost(order) < 0.9 * cost(random)
    assert facts["iterations"] == 20 and facts["passes"] <= 20 * facts["depth"]
    # the same documents, shuffled: BP's order of them is about as good as BP's order of the collection
    rows = [forward.row(r)[0] for r in random]
    shuffled = ForwardIndex(terms=numpy.concatenate(rows), impacts=numpy.concatenate(rows),
                            offsets=numpy.concatenate([[0], numpy.cumsum([len(r) for r in rows])]),
                            vocabulary=forward.vocabulary, ids=[forward.ids[r] for r in random])
    again, _ = bp_order(shuffled, progress=False)
    assert log_gap_bits(shuffled, again) < 0.9 * log_gap_bits(shuffled)
    assert log_gap_bits(shuffled, again) < 1.05 * log_gap_bits(forward, order)


def test_artifact_rules(demo_collection, demo_index, demo_bmp, demo_seismic, tmp_path):
    with pytest.raises(InputError, match="Seismic index.*--engine seismic"):  # Lucene's search refuses, with a hint
        search_topics(demo_seismic, tmp_path / "run.trec", SearchSettings(k=10), topics=DEMO / "queries.tsv")
    with pytest.raises(InputError, match="BMP index.*--engine bmp"):
        search_topics(demo_bmp, tmp_path / "run.trec", SearchSettings(k=10, engine="pisa"), topics=DEMO / "queries.tsv")
    with pytest.raises(InputError, match="BMP index.*needs a Seismic index"):
        search_topics(demo_bmp, tmp_path / "run.trec", SearchSettings(k=10, engine="seismic"),
                      topics=DEMO / "queries.tsv")
    with pytest.raises(InputError, match="not a BMP index"):  # --overwrite replaces only its own kind
        build_index(demo_collection, demo_seismic, IndexSettings(engine="bmp"), overwrite=True, progress=False)
    with pytest.raises(InputError, match="not a Seismic index"):
        build_index(demo_collection, demo_index, IndexSettings(engine="seismic"), overwrite=True, progress=False)
    with pytest.raises(InputError, match="bmp_block_size is a setting of --engine bmp"):  # --reorder: any engine
        build_index(demo_collection, tmp_path / "lucene", IndexSettings(bmp_block_size=32))
    for index, log in ((demo_seismic, "seismic.log"), (demo_bmp, None)):
        manifest = read_manifest(index)
        assert (index / "docids.json").is_file() and manifest["index_documents"] == 344
        assert log is None or "Building the index" in (index / log).read_text()
    refused = cli("search", "--index", str(demo_bmp), "--engine", "bmp", "--topics", str(DEMO / "queries.tsv"),
                  "--output", str(tmp_path / "x.trec"), "--seismic-query-cut", "5")
    assert refused.returncode == 2 and "--seismic-query-cut is a setting of --engine seismic" in refused.stderr
    info = cli("info", str(demo_seismic))
    assert info.returncode == 0 and "exact: no" in info.stdout


@pytest.mark.parametrize("engine, package, extra", [("seismic", "seismic", "[seismic]"), ("bmp", "bmp", "[bmp]")])
def test_missing_extra_says_what_to_install(demo_collection, tmp_path, engine, package, extra):
    script = (f"import sys; sys.modules[{package!r}] = None\n"  # as if the package were not installed
              f"from splade_anserini.cli import main\n"
              f"sys.exit(main(['index', '--collection', {str(demo_collection)!r}, '--index', "
              f"{str(tmp_path / 'x')!r}, '--engine', {engine!r}, '--quiet']))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert f"pip install 'splade-anserini{extra}'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.shared
@pytest.mark.slow
def test_scifact_bmp_gives_lucenes_run_and_seismic_comes_close(reproduced, tmp_path):
    """SciFact, splade-tiny, k = 1000 (the reproduction's collection and run): BMP (safe, rescored) writes Lucene's run
    byte for byte; Seismic at its defaults keeps nDCG@10 within 0.005 of Lucene's."""
    from splade_anserini import evaluate_run
    experiment, results = reproduced("scifact-local", "beir-scifact")
    topic_set = experiment.topic_sets[0]
    lucene = results[topic_set.name]["splade"]
    for engine in ("bmp", "seismic"):
        build_index(experiment.collection, tmp_path / engine, IndexSettings(engine=engine), progress=False)
        run = tmp_path / f"{engine}.trec"
        search_topics(tmp_path / engine, run, experiment.search_settings.replace(threads=1, engine=engine),
                      topics=topic_set.topics, topic_fields=topic_set.topic_fields or None)
        metrics = evaluate_run(run, topic_set.qrels, ["nDCG@10", "R@1000"])["metrics"]
        if engine == "bmp":
            assert run.read_bytes() == topic_set.run.read_bytes()
            assert metrics == {m: lucene[m] for m in metrics}
        else:
            assert abs(metrics["nDCG@10"] - lucene["nDCG@10"]) <= 0.005


def test_bmp_query_scale_keeps_scores_in_16_bits():
    """bmp 0.2.8 sums scores in 16 bits: the scale term's weight is chosen so that no document can pass 65,535."""
    from splade_anserini.bmp import SCORE_LIMIT, bmp_query_weights, query_scale
    light = {"a": 10.0, "b": 5.0}
    assert query_scale(light, {"a": 255, "b": 255}) == 10.0  # 32 x 255 + 16 x 255 fits: BMP's own scale
    heavy = {f"t{i}": float(100 - i) for i in range(40)}
    largest = {t: 255 for t in heavy}
    assert sum(w * 255 for w in bmp_query_weights(heavy).values()) > SCORE_LIMIT  # BMP's own scale would wrap
    weight = query_scale(heavy, largest)
    assert weight > 100
    worst = sum(w * 255 for w in bmp_query_weights(heavy, weight).values())
    assert SCORE_LIMIT - 255 * len(heavy) < worst <= SCORE_LIMIT  # as large a scale as is safe, about
    assert query_scale({f"t{i}": 1.0 for i in range(300)}, {f"t{i}": 255 for i in range(300)}) is None
