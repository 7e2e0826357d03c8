"""Training examples: a query, its positive, its negatives, and (for distillation) teacher scores.

Sources:
- ``.tsv``: ``query<TAB>positive<TAB>negative[<TAB>negative ...]`` (triples);
- ``.jsonl``: ``{"query", "positive", "negatives": [...]}`` (or ``"negative"``), with optional ``"scores"``: the
  teacher's scores of the positive and each negative, in that order (scored pairs for margin-MSE / KL);
- ``irds:<id>`` of an ir_datasets dataset with document pairs, e.g. ``irds:msmarco-passage/train/triples-small``;
- :func:`pseudo_queries`: from a corpus alone, each document's title as a query for its own text, with BM25 hard
  negatives (or random ones), so a model can be adapted to a domain that has no queries;
- :func:`read_judged`: a train split as it comes (topics, qrels, corpus: files, a data directory with a ``train/``
  folder, or ``irds:`` ids), for supervised training with negatives mined as training goes (:mod:`.mining`).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..formats.readers import (
    IRDS_PREFIX,
    numbered_lines,
    parse_json_object,
    read_corpus,
    read_qrels,
    read_topics,
)

logger = logging.getLogger(__name__)


@dataclass
class Example:
    query: str
    positive: str
    negatives: list = field(default_factory=list)
    scores: list | None = None  # teacher scores of [positive, *negatives]
    ids: tuple | None = None    # where known: (query id, [positive's docid, *negatives' docids])


def _check(example: Example, where: str) -> Example:
    if not example.query.strip() or not example.positive.strip():
        raise InputError(f"{where}: empty query or positive")
    if example.scores is not None:
        if len(example.scores) != 1 + len(example.negatives):
            raise InputError(f"{where}: {len(example.scores)} teacher scores for {1 + len(example.negatives)} "
                             f"documents (give one per document: positive first, then each negative)")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in example.scores):
            raise InputError(f"{where}: teacher scores must be numbers")
    return example


def _tsv(path: Path):
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise InputError(f"{path}:{number}: expected 'query<TAB>positive<TAB>negative...', found "
                             f"{len(parts)} field(s)")
        yield _check(Example(parts[0], parts[1], parts[2:]), f"{path}:{number}")


def _jsonl(path: Path):
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        record = parse_json_object(line, where)
        if not isinstance(record.get("query"), str) or not isinstance(record.get("positive"), str):
            raise InputError(f"{where}: expected an object with string fields 'query' and 'positive'")
        negatives = record.get("negatives", [record["negative"]] if "negative" in record else [])
        if not isinstance(negatives, list) or not all(isinstance(n, str) for n in negatives):
            raise InputError(f"{where}: 'negatives' must be a list of strings")
        yield _check(Example(record["query"], record["positive"], negatives, record.get("scores")), where)


def _irds(source: str):
    from ..formats.readers import irds_dataset
    dataset = irds_dataset(source)
    if not dataset.has_docpairs():
        raise InputError(f"{source}: this ir_datasets id has no document pairs (training triples)")
    try:
        queries = {q.query_id: q.text for q in dataset.queries_iter()}
        store = dataset.docs_store()
        for pair in dataset.docpairs_iter():
            yield Example(queries[pair.query_id], store.get(pair.doc_id_a).text, [store.get(pair.doc_id_b).text])
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"{source}: ir_datasets could not provide the training pairs ({type(err).__name__}: "
                         f"{str(err)[:200]}); fetch the data where there is network access, or pass a file") from None


def read_examples(source: str | Path, limit: int | None = None) -> list[Example]:
    """Training examples from a triples TSV, a JSONL file or an ``irds:`` id (the first ``limit`` of them)."""
    text = str(source)
    if text.startswith("irds:"):
        examples = _irds(text)
    else:
        path = Path(text)
        if not path.is_file():
            raise InputError(f"{path}: no such training data file")
        if path.suffix in (".tsv", ".txt"):
            examples = _tsv(path)
        elif path.suffix in (".jsonl", ".json"):
            examples = _jsonl(path)
        else:
            raise InputError(f"{path}: unknown training data format; use .tsv (triples) or .jsonl")
    out = []
    for example in examples:
        out.append(example)
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise InputError(f"{source}: no training examples")
    return out


def pseudo_queries(corpus: str | Path, *, negatives: str = "bm25", per_query: int = 1, limit: int | None = None,
                   seed: int = 0) -> list[Example]:
    """A document's title as the query for its own text, with ``per_query`` negatives each: the best BM25 hits of
    the title among the other documents (``bm25``) or random documents (``random``). Documents without a title or
    a text are skipped and counted."""
    if negatives not in ("bm25", "random"):
        raise InputError(f"pseudo-query negatives must be 'bm25' or 'random', not {negatives!r}")
    titles = {d.id: d.text for d in read_corpus(corpus, ["title"])}
    bodies = {d.id: d.text for d in read_corpus(corpus, ["text"])}
    usable = [i for i in bodies if titles.get(i) and bodies[i]]
    skipped = len(bodies) - len(usable)
    if skipped:
        logger.info(f"pseudo-queries: skipped {skipped} of {len(bodies)} documents without a title or a text")
    if len(usable) < 2:
        raise InputError(f"{corpus}: pseudo-queries need at least two documents with a title and a text")
    rng = random.Random(seed)
    rng.shuffle(usable)
    if limit is not None:
        usable = usable[:limit]
    chosen = {i: [] for i in usable} if negatives == "random" else \
        _bm25_negatives(corpus, {i: titles[i] for i in usable}, per_query)
    # random documents where BM25 found too few (a title whose words occur nowhere else), or for 'random'
    ids, filled = list(bodies), 0
    for i in usable:
        if len(chosen[i]) < per_query:
            filled += negatives == "bm25"
            extra = [d for d in rng.sample(ids, min(len(ids), per_query + len(chosen[i]) + 1))
                     if d != i and d not in chosen[i]]
            chosen[i] += extra[:per_query - len(chosen[i])]
    if filled:
        logger.info(f"pseudo-queries: {filled} of {len(usable)} titles had fewer than {per_query} BM25 hits besides "
                    f"their own document; random documents fill in")
    return [Example(titles[i], bodies[i], [bodies[n] for n in chosen[i]]) for i in usable]


def _bm25_negatives(corpus, queries: dict, per_query: int) -> dict:
    """For each document id, the best BM25 hits of its title other than itself."""
    from ..lucene.bm25 import bm25_hits, scratch_bm25_index
    with scratch_bm25_index(corpus, "pseudo-queries-") as index:
        hits = bm25_hits(index, list(queries.values()), list(queries), per_query + 1, threads=2)
    return {i: [docid for docid, _ in hits.get(i, []) if docid != i][:per_query] for i in queries}


# A data directory for supervised training: the corpus at the top, the training split under train/, and the
# test topics at the top (kept out of training and validation, ids and texts).
TRAIN_FOLDER = "train"
DATA_DIRECTORY_FILES = {"corpus": "corpus.jsonl", "topics": f"{TRAIN_FOLDER}/queries.tsv",
                        "qrels": f"{TRAIN_FOLDER}/qrels.txt", "exclude_topics": "queries.tsv"}
# ir_datasets ids: the corpus is the dataset itself, the splits are sub-ids.
IRDS_SPLITS = {"topics": "train", "qrels": "train", "exclude_topics": "test"}


@dataclass
class Judged:
    """A training split as it comes: queries, their judged documents, the corpus, and what was left out."""
    queries: dict       # qid -> text, in file order
    qrels: dict         # qid -> {docid: grade}, positives only (grade > 0), for the queries kept
    corpus: dict        # docid -> text, in corpus order
    corpus_source: str
    excluded: dict      # qid -> why it was left out (no positive in the corpus, a test query's id or text)

    def positives(self, qid: str) -> list:
        return list(self.qrels[qid])


def judged_sources(data: dict) -> dict:
    """Corpus, topics, qrels and the topics to keep out, from ``data``'s ``dir`` (a directory with a ``train/``
    folder, or an ``irds:`` dataset id with a train split) and its explicit entries, which win."""
    out = {key: data.get(key) for key in DATA_DIRECTORY_FILES}
    directory = data.get("dir")
    if directory:
        directory = str(directory)
        if directory.startswith(IRDS_PREFIX):
            implied = {"corpus": directory, **{k: f"{directory}/{split}" for k, split in IRDS_SPLITS.items()}}
        else:
            if not Path(directory).is_dir():
                raise InputError(f"{directory}: data directory not found (expected corpus.jsonl and "
                                 f"{TRAIN_FOLDER}/queries.tsv, {TRAIN_FOLDER}/qrels.txt)")
            if not (Path(directory) / TRAIN_FOLDER).is_dir():
                raise InputError(f"{directory}: no {TRAIN_FOLDER}/ folder with the training topics and qrels; "
                                 f"supervised training never uses the test split")
            implied = {k: str(Path(directory) / name) for k, name in DATA_DIRECTORY_FILES.items()}
            if not Path(implied["exclude_topics"]).is_file():
                implied["exclude_topics"] = None
        out = {key: out[key] or implied[key] for key in out}
    missing = [key for key in ("corpus", "topics", "qrels") if not out[key]]
    if missing:
        raise InputError(f"supervised training data needs {', '.join(missing)} (or data.dir: a directory with a "
                         f"{TRAIN_FOLDER}/ folder, or an irds: id)")
    return out


def normalized_text(text: str) -> str:
    """A query's text for comparisons across splits: case and spacing do not make another query."""
    return " ".join(text.split()).casefold()


def read_judged(data: dict, fields=None) -> Judged:
    """The training split named by ``data`` (see :func:`judged_sources`). Queries without a positive in the corpus
    are left out, and so is every query whose id or text is one of the excluded (test) topics'."""
    sources = judged_sources(data)
    corpus = {d.id: d.text for d in read_corpus(sources["corpus"], fields or None)}
    qrels = read_qrels(sources["qrels"])
    excluded: dict = {}
    banned_ids, banned_texts = set(), set()
    if sources["exclude_topics"]:
        for query in read_topics(sources["exclude_topics"]):
            banned_ids.add(query.id)
            banned_texts.add(normalized_text(query.text))
    queries, positives = {}, {}
    for query in read_topics(sources["topics"]):
        judged = {d: g for d, g in qrels.get(query.id, {}).items() if g > 0 and d in corpus}
        if query.id in banned_ids or normalized_text(query.text) in banned_texts:
            excluded[query.id] = "a test query's id or text"
        elif not judged:
            excluded[query.id] = "no relevant document in the corpus"
        else:
            queries[query.id], positives[query.id] = query.text, judged
    if excluded:
        reasons: dict = {}
        for reason in excluded.values():
            reasons[reason] = reasons.get(reason, 0) + 1
        logger.info("train: left out " + ", ".join(f"{n} queries ({reason})" for reason, n in reasons.items()))
    if not queries:
        raise InputError(f"{sources['topics']}: no training query with a relevant document in the corpus")
    return Judged(queries, positives, corpus, str(sources["corpus"]), excluded)
