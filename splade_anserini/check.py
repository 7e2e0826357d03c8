"""Consistency checks of finished artifacts: a collection against its manifest, an index against its manifest.

A collection passes when every part file has the checksum and document count its manifest records, every line is
a JSON object with a valid id (non-empty, no white space or control characters) and a vector of positive integer
weights, no id occurs twice, and the counts add up. An index passes when Lucene holds the number of documents its
manifest says and its docid table matches. Problems are reported with the file (and line) they are in.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .formats.artifacts import BM25_INDEX, INDEX, MANIFEST, read_manifest, sha256_file
from .formats.collection import load_collection
from .formats.readers import id_problem, parse_json_object

MAX_REPORTED = 20


def _line_problem(line: str, where: str) -> tuple[str | None, str | None]:
    """(doc id, problem) of one collection line; the problem starts with ``where``."""
    try:
        record = parse_json_object(line, where)
    except InputError as err:
        return None, str(err)
    doc_id = record.get("id")
    if not isinstance(doc_id, str) or not doc_id.strip():
        return None, f"{where}: missing or empty id"
    problem = id_problem(doc_id)
    if problem is not None:  # a run would hold it as two fields, or split across lines
        return doc_id, f"{where}: document id {doc_id!r} {problem}"
    vector = record.get("vector")
    if not isinstance(vector, dict):
        return doc_id, f"{where}: no 'vector' object"
    for token, weight in vector.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or weight <= 0:
            return doc_id, f"{where}: weight {weight!r} of {token!r} is not a positive integer"
    return doc_id, None


def check_collection(directory: str | Path) -> list[str]:
    """Problems found in a collection (or a directory of its shards); empty when it is sound."""
    directory = Path(directory)
    manifest, parts = load_collection(directory)
    problems: list[str] = []
    recorded = {entry["name"]: entry for entry in manifest.get("files", [])}
    seen: set = set()
    total = 0
    for part in parts:
        name = str(part.relative_to(directory))
        entry = recorded.pop(name, None)
        if entry is None:
            problems.append(f"{part}: not listed in the manifest")
        elif entry.get("sha256") and sha256_file(part) != entry["sha256"]:
            problems.append(f"{part}: checksum differs from the manifest's (the file changed or is damaged)")
        count = 0
        with open(part, encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                count += 1
                doc_id, problem = _line_problem(line, f"{part}:{number}")
                if problem:
                    problems.append(problem)
                elif doc_id in seen:
                    problems.append(f"{part}:{number}: document id {doc_id!r} occurs more than once")
                seen.add(doc_id)
        if entry is not None and entry.get("documents") != count:
            problems.append(f"{part}: {count} documents, the manifest says {entry.get('documents')}")
        total += count
    for name in recorded:
        problems.append(f"{directory / name}: listed in the manifest but missing")
    if total != manifest.get("documents"):
        problems.append(f"{directory}: {total} documents in the part files, the manifest says {manifest.get('documents')}")
    return _capped(problems)


def check_index(directory: str | Path) -> list[str]:
    """Problems found in an index built by splade-anserini; empty when it is sound."""
    from .lucene.reader import DOCIDS, DocidTable, close_reader, open_reader
    directory = Path(directory)
    manifest = read_manifest(directory, (INDEX, BM25_INDEX), "check --index")
    problems = []
    if not any(directory.glob("segments_*")):
        return [f"{directory}: no Lucene segments file; not an index"]
    reader = open_reader(directory)
    try:
        count, size = reader.numDocs(), reader.maxDoc()
        commit = reader.getIndexCommit().getSegmentsFileName()
    finally:
        close_reader(reader)
    for key in ("documents", "index_documents"):
        if manifest.get(key) is not None and manifest[key] != count:
            problems.append(f"{directory}: Lucene holds {count} documents, the manifest's {key} says {manifest[key]}")
    table = directory / DOCIDS
    if table.is_file() and DocidTable.load(table, commit, size) is None:
        problems.append(f"{table}: damaged or of another commit of the index (it is rebuilt on the next search)")
    collection = manifest.get("collection")
    if collection and (Path(collection) / MANIFEST).is_file():
        documents = read_manifest(collection).get("documents")
        if documents != count:
            problems.append(f"{directory}: {count} documents, its collection {collection} has {documents}")
    return problems


def _capped(problems: list[str]) -> list[str]:
    if len(problems) > MAX_REPORTED:
        return problems[:MAX_REPORTED] + [f"... and {len(problems) - MAX_REPORTED} more problems"]
    return problems
