"""Training examples: a query, its positive, its negatives, and (for distillation) teacher scores.

Sources:
- ``.tsv``: ``query<TAB>positive<TAB>negative[<TAB>negative ...]`` (triples);
- ``.jsonl``: ``{"query", "positive", "negatives": [...]}`` (or ``"negative"``), with optional ``"scores"``: the
  teacher's scores of the positive and each negative, in that order (scored pairs for margin-MSE / KL);
- ``irds:<id>`` of an ir_datasets dataset with document pairs, e.g. ``irds:msmarco-passage/train/triples-small``;
- :func:`pseudo_queries`: from a corpus alone, each document's title as a query for its own text, with BM25 hard
  negatives (or random ones), so a model can be adapted to a domain that has no queries.
"""

from __future__ import annotations

import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..formats.readers import numbered_lines, parse_json_object, read_corpus


@dataclass
class Example:
    query: str
    positive: str
    negatives: list = field(default_factory=list)
    scores: list | None = None  # teacher scores of [positive, *negatives]


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
        print(f"pseudo-queries: skipped {skipped} of {len(bodies)} documents without a title or a text",
              file=sys.stderr)
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
        print(f"pseudo-queries: {filled} of {len(usable)} titles had fewer than {per_query} BM25 hits besides their "
              f"own document; random documents fill in", file=sys.stderr)
    return [Example(titles[i], bodies[i], [bodies[n] for n in chosen[i]]) for i in usable]


def _bm25_negatives(corpus, queries: dict, per_query: int) -> dict:
    """For each document id, the best BM25 hits of its title other than itself."""
    from ..lucene.bm25 import build_bm25_index
    from ..lucene.jvm import start_jvm
    start_jvm()
    from pyserini.search.lucene import LuceneSearcher
    with tempfile.TemporaryDirectory(prefix="pseudo-queries-") as scratch:
        index = Path(scratch) / "bm25"
        build_bm25_index(corpus, index)
        searcher = LuceneSearcher(str(index))
        hits = searcher.batch_search(list(queries.values()), list(queries), k=per_query + 1, threads=2)
        chosen = {i: [h.docid for h in hits.get(i, []) if h.docid != i][:per_query] for i in queries}
        searcher.close()
    return chosen
