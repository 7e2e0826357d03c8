"""Readers: corpora, topics and qrels from files, directories or ir_datasets, with errors that name file and line.

Sources:
- BEIR-style JSONL (``_id``, ``title``, ``text``), Pyserini JSONL (``id``, ``contents``), TSV (``id<TAB>text``),
  optionally gzipped, or a directory of such files (read in sorted name order);
- ``irds:<dataset id>`` through the ir_datasets API (e.g. ``irds:beir/scifact/test``).

A document's text is its text fields joined by one space and stripped; by default ``title`` + ``text`` for BEIR
files, ``contents`` for Pyserini files, and every text field of an ir_datasets record.

Every text file (corpus, topics, qrels, runs, pre-encoded topics) is read here, line by line, as UTF-8 with an
optional byte-order mark dropped (``utf-8-sig``), any line end (LF or CRLF), optionally gzipped; a gzipped file that
ends early is one error naming it. Every id (document, query; in corpora, topics, qrels and runs) follows one rule,
:func:`check_id`: a non-empty string without white space or control characters.
"""

from __future__ import annotations

import gzip
import itertools
import json
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import InputError

IRDS_PREFIX = "irds:"
ID_KEYS = ("_id", "id", "docid", "doc_id")
QUERY_ID_KEYS = ("_id", "id", "qid", "query_id")
QUERY_TEXT_KEYS = ("text", "query", "title", "contents")
JSON_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")
TSV_SUFFIXES = (".tsv", ".tsv.gz", ".txt", ".txt.gz")


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    where: str  # "file:line" or "irds:<id>#n", for error messages


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    where: str = ""  # "file:line" or "irds:<id>#n", for error messages


BOM = "\ufeff"
# what a gzipped file that ends early or is damaged raises while it is read
COMPRESSED_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


def raw_lines(path: Path, offset: int = 0) -> Iterator[bytes]:
    """The raw lines (bytes, newline kept) of a file, optionally gzipped, from byte ``offset`` of its (uncompressed)
    content; a compressed file that ends early or is damaged is an InputError naming it."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            handle.seek(offset)
            yield from handle
    except COMPRESSED_ERRORS as err:
        raise InputError(f"{path}: the compressed file ends early or is damaged ({type(err).__name__}: "
                         f"{str(err) or 'no detail'}); copy or download it again") from None


def decode_line(raw: bytes, first: bool = False) -> str:
    """One line as text: UTF-8, without its line end (LF or CRLF), and, on a file's first line, without a
    byte-order mark (``utf-8-sig``). Raises UnicodeDecodeError."""
    line = raw.decode("utf-8").rstrip("\r\n")
    return line[1:] if first and line.startswith(BOM) else line


def numbered_lines(path: Path, problems: list | None = None, offset: int = 0, first_line: int = 1) -> Iterator[tuple[int, str]]:
    """(line number, line) without the newline; invalid UTF-8 becomes an InputError naming the line, or, where a
    ``problems`` list is given, an entry there and a skipped line.

    Lines are decoded one by one (not through a buffered text stream) so the error names the right line."""
    for number, raw in enumerate(raw_lines(path, offset), start=first_line):
        try:
            line = decode_line(raw, first=offset == 0 and number == first_line)
        except UnicodeDecodeError as err:
            error = InputError(f"{path}:{number}: invalid UTF-8 ({err.reason} at byte {err.start})")
            skip_or_raise(error, problems)
            continue
        yield number, line


def id_problem(value: str) -> str | None:
    """Why ``value`` is not a valid id (None when it is): an id is a non-empty string without white space or
    control characters, so that it is one field in every TREC file (run, qrels) and means the same everywhere."""
    if not value:
        return "is empty"
    if value.isprintable() and " " not in value:  # the common case, in C: no white space, no control character
        return None
    for char in value:
        if char.isspace():
            return f"holds white space ({unicodedata.name(char, repr(char))})"
        if unicodedata.category(char) in ("Cc", "Cf", "Cs"):
            return f"holds a control character (U+{ord(char):04X})"
    return None


def check_id(value: str, where: str, what: str = "id") -> str:
    """``value`` if it is a valid id (see :func:`id_problem`), else an InputError naming ``where`` and the id."""
    problem = id_problem(value)
    if problem is not None:
        raise InputError(f"{where}: {what} {value!r} {problem}; an id is a non-empty string without white space "
                         f"or control characters")
    return value


def skip_or_raise(error: InputError, problems: list | None, doc_id: str | None = None) -> None:
    """Raise ``error`` when no ``problems`` list is given (stop at the first bad input); else append the skipped input
    as the manifest lists it: where, why, and the id when one was read."""
    if problems is None:
        raise error from None
    where, _, reason = str(error).partition(": ")
    problems.append({"where": where, "id": doc_id, "reason": reason})


def _suffix_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(JSON_SUFFIXES):
        return "json"
    if name.endswith(TSV_SUFFIXES):
        return "tsv"
    return None


def source_files(source: str | Path, what: str = "corpus") -> list[Path]:
    """The files behind a path: the file itself, or a directory's corpus files in sorted order."""
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _suffix_kind(p))
        if not files:
            raise InputError(f"{path}: directory holds no {what} files (*.jsonl, *.json, *.tsv, *.txt, optionally .gz)")
        return files
    if not path.exists():
        raise InputError(f"{path}: no such file or directory (expected a {what} file, a directory of them, or irds:<id>)")
    if _suffix_kind(path) is None:
        raise InputError(f"{path}: unknown {what} format; expected .jsonl/.json (JSON lines) or .tsv/.txt "
                         f"(tab-separated), optionally gzipped, or irds:<ir_datasets id>")
    return [path]


def parse_json_object(line: str, where: str) -> dict:
    """One JSON-lines record, which must be an object; errors start with ``where`` (file:line)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise InputError(f"{where}: malformed JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
    return record


def _record_id(record: dict, keys: Sequence[str], where: str, what: str = "document id") -> str:
    """The id of a JSON record (white space around it dropped), checked by :func:`check_id`."""
    for key in keys:
        if key in record:
            value = record[key]
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
                return check_id(str(value).strip(), where, what)
            raise InputError(f"{where}: empty or invalid id in field {key!r}")
    raise InputError(f"{where}: missing id (expected one of the fields {', '.join(keys)})")


def default_fields(record: dict) -> tuple:
    if "contents" in record and "text" not in record:
        return ("contents",)
    return tuple(f for f in ("title", "text") if f in record) or ("contents",)


def join_fields(values) -> str:
    return " ".join(str(v) for v in values if v is not None).strip()


def _json_document(path: Path, number: int, line: str, fields: Sequence[str] | None) -> Document:
    where = f"{path}:{number}"
    record = parse_json_object(line, where)
    doc_id = _record_id(record, ID_KEYS, where)
    use = fields or default_fields(record)
    if not any(f in record for f in use):
        if fields:
            raise InputError(f"{where}: none of the text fields {list(use)} is present (fields here: {sorted(record)})")
        raise InputError(f"{where}: no text field (expected 'title'/'text' or 'contents')")
    return Document(doc_id, join_fields(record.get(f) for f in use), where)


# A TSV file whose first line starts with one of these names has a header row naming its columns.
TSV_HEADER_IDS = ("id", "_id", "docid", "doc_id", "did", "pid", "qid", "query_id")


def tsv_header(path: Path) -> list[str] | None:
    """The column names of a TSV file with a header row (first column named like an id), else None."""
    for number, raw in enumerate(raw_lines(path)):
        if raw.strip():
            columns = raw.decode("utf-8", errors="replace").rstrip("\r\n").removeprefix(BOM).split("\t")
            return [c.strip() for c in columns] if columns[0].strip().lower() in TSV_HEADER_IDS else None
    return None


def _tsv_parser(path: Path, fields: Sequence[str] | None, what: str = "document id"):
    """A line parser for one TSV file. Without a header row a line is ``id<TAB>text``, exactly two columns; with
    one, the columns are named, the first is the id, and the text is ``fields`` (default: every other column)."""
    header = tsv_header(path)
    if header is None:
        if fields:
            raise InputError(f"{path}: --fields names columns, but this TSV file has no header row (its first line "
                             f"would start with a column name such as 'id')")
        use = None
    else:
        missing = [f for f in fields or () if f not in header]
        if missing:
            raise InputError(f"{path}:1: the header has no column {missing[0]!r} (columns: {', '.join(header)})")
        use = [header.index(f) for f in fields] if fields else list(range(1, len(header)))

    def parse(number: int, line: str) -> Document:
        where = f"{path}:{number}"
        columns = line.split("\t")
        if header is None:
            if len(columns) != 2:
                raise InputError(f"{where}: expected 'id<TAB>text', found {len(columns)} tab-separated columns" + (
                    "" if len(columns) < 2 else "; name the columns in a header row (e.g. id<TAB>title<TAB>text) "
                    "or use JSONL"))
        elif len(columns) != len(header):
            raise InputError(f"{where}: {len(columns)} tab-separated columns, the header names {len(header)}")
        doc_id = columns[0].strip()
        if not doc_id:
            raise InputError(f"{where}: missing id before the tab")
        check_id(doc_id, where, what)
        return Document(doc_id, join_fields(columns[1:] if use is None else [columns[i] for i in use]), where)

    return parse, header is not None


def _file_documents(files: Sequence[Path], fields, start: int, stop: int | None,
                    problems: list | None = None, position: "Position | None" = None,
                    what: str = "document id") -> Iterator[Document]:
    """Documents number ``start`` to ``stop - 1`` (counting non-blank lines); lines before ``start`` are not parsed,
    and with a ``position`` (from :func:`plan_parts`) not even read. With a ``problems`` list, a malformed line is
    recorded there and skipped instead of stopping the read."""
    ordinal = 0
    for index, path in enumerate(files):
        offset, first_line = 0, 1
        if position is not None:
            if index < position.file:
                continue
            if index == position.file:
                offset, first_line, ordinal = position.offset, position.line, start
        if _suffix_kind(path) == "json":
            parse, header = (lambda n, text, path=path: _json_document(path, n, text, fields)), False
        else:
            parse, header = _tsv_parser(path, fields, what)
        for number, line in numbered_lines(path, problems, offset, first_line):
            if not line.strip():
                continue
            if header:  # the header row is no document (and a part's position never points at it)
                header = False
                if offset == 0:
                    continue
            if stop is not None and ordinal >= stop:
                return
            if ordinal >= start:
                try:
                    doc = parse(number, line)
                except InputError as err:
                    skip_or_raise(err, problems)
                else:
                    yield doc
            ordinal += 1


@dataclass(frozen=True)
class Position:
    """Where document number ``start`` of a part begins: file index, byte offset and line number in that file."""
    file: int
    offset: int
    line: int


def plan_parts(source: str | Path, part_size: int) -> list[tuple[int, int, Position | None]]:
    """(start, stop, position) of consecutive parts of ``part_size`` documents: one pass over the raw bytes
    (nothing parsed) finds where each part begins, so a worker reads only its own part. ir_datasets sources get no
    position (their parts are sliced from the dataset)."""
    if str(source).startswith(IRDS_PREFIX):
        total = count_documents(source)
        return [(a, min(a + part_size, total), None) for a in range(0, total, part_size)]
    starts: list = []
    ordinal = 0
    for index, path in enumerate(source_files(source)):
        header = _suffix_kind(path) == "tsv" and tsv_header(path) is not None
        offset = 0
        for number, raw in enumerate(raw_lines(path), start=1):
            if raw.strip() and header:
                header = False
            elif raw.strip():
                if ordinal % part_size == 0:
                    starts.append(Position(index, offset, number))
                ordinal += 1
            offset += len(raw)
    return [(k * part_size, min((k + 1) * part_size, ordinal), position) for k, position in enumerate(starts)]


def count_documents(source: str | Path) -> int:
    """How many documents a corpus has (non-blank lines of its files, or the ir_datasets count), without parsing."""
    if str(source).startswith(IRDS_PREFIX):
        return irds_dataset(str(source)).docs_count()
    total = 0
    for path in source_files(source):
        total += sum(1 for line in raw_lines(path) if line.strip())
        if _suffix_kind(path) == "tsv" and tsv_header(path) is not None:
            total -= 1  # the header row
    return total


def irds_dataset(source: str):
    import ir_datasets
    name = source[len(IRDS_PREFIX):]
    try:
        return ir_datasets.load(name)
    except KeyError:
        raise InputError(f"{source}: unknown ir_datasets id {name!r} (see https://ir-datasets.com)") from None


def _irds_records(source: str, kind: str, start: int = 0, stop: int | None = None):
    """Records of an ir_datasets dataset (documents ``start`` to ``stop - 1``: sliced where the dataset can, so a
    worker does not read what comes before its part); a failed download becomes one clear error."""
    dataset = irds_dataset(source)
    if not getattr(dataset, f"has_{kind}")():
        raise InputError(f"{source}: this ir_datasets id has no {kind}")
    iterator = None
    while True:
        try:
            if iterator is None:  # some datasets download already when the iterator is created
                records = getattr(dataset, f"{kind}_iter")()
                if start or stop is not None:
                    try:
                        records = records[start:stop]
                    except (TypeError, NotImplementedError, AttributeError):
                        records = itertools.islice(records, start, stop)
                iterator = iter(records)
            record = next(iterator)
        except StopIteration:
            return
        except InputError:
            raise
        except Exception as err:
            raise InputError(
                f"{source}: ir_datasets could not provide the {kind} ({type(err).__name__}: {str(err)[:200]}). "
                f"Where the data cannot be downloaded, fetch it on a machine with network access (ir_datasets keeps "
                f"it in ~/.ir_datasets) or pass a local file instead (JSONL/TSV, or --data DIR)") from None
        yield record


def _irds_text(record, fields: Sequence[str] | None, id_field: str) -> str:
    names = fields or [f for f in record._fields if f != id_field and isinstance(getattr(record, f), str)]
    return join_fields(getattr(record, f, None) for f in names)


def read_corpus(source: str | Path, fields: Sequence[str] | None = None, start: int = 0,
                stop: int | None = None, problems: list | None = None,
                position: Position | None = None) -> Iterator[Document]:
    """Documents of a corpus in file order, optionally only numbers ``start`` to ``stop - 1`` (a shard);
    raises InputError on anything malformed (or, given a ``problems`` list, records it there and skips the line)
    and on an empty corpus."""
    fields = tuple(fields) if fields else None
    count = 0
    if str(source).startswith(IRDS_PREFIX):
        records = _irds_records(str(source), "docs", start, stop)
        for n, doc in enumerate(records, start=start):
            where = f"{source}#{n}"
            try:
                doc_id = check_id(str(doc.doc_id), where, "document id")
            except InputError as err:
                skip_or_raise(err, problems)
                continue
            count += 1
            yield Document(doc_id, _irds_text(doc, fields, "doc_id"), where)
    else:
        for doc in _file_documents(source_files(source), fields, start, stop, problems, position):
            count += 1
            yield doc
    if count == 0 and start == 0:
        skipped = f" ({len(problems)} malformed lines skipped)" if problems else ""
        raise InputError(f"{source}: the corpus is empty (no documents){skipped}")


def _topic_lines(source: str | Path, fields: Sequence[str] | None, problems: list | None) -> Iterator[Query]:
    """Every query of a topics source as read, before empty texts and repeated ids are looked at."""
    if str(source).startswith(IRDS_PREFIX):
        for n, query in enumerate(_irds_records(str(source), "queries"), start=1):
            where = f"{source}#{n}"
            yield Query(check_id(str(query.query_id), where, "query id"), _irds_text(query, fields, "query_id"),
                        where)
        return
    for path in source_files(source, "topics"):
        if _suffix_kind(path) != "json":
            yield from (Query(d.id, d.text, d.where)
                        for d in _file_documents([path], None, 0, None, problems, what="query id"))
            continue
        for number, line in numbered_lines(path, problems):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = parse_json_object(line, where)
                qid = _record_id(record, QUERY_ID_KEYS, where, "query id")
            except InputError as err:
                skip_or_raise(err, problems)
                continue
            use = fields or [next((k for k in QUERY_TEXT_KEYS if k in record), QUERY_TEXT_KEYS[0])]
            yield Query(qid, join_fields(record.get(f) for f in use), where)


def read_topics(source: str | Path, fields: Sequence[str] | None = None, problems: list | None = None) -> list[Query]:
    """Queries from a TSV (qid<TAB>text), a JSONL file, or irds:<id>; in file order. A malformed line, an invalid
    or repeated id, or an empty query text is an InputError naming the line; given a ``problems`` list, it is
    recorded there (see :func:`skip_or_raise`) and the query skipped instead."""
    queries, seen = [], {}
    for query in _topic_lines(source, fields, problems):
        problem = None
        if query.id in seen:
            problem = InputError(f"{query.where}: query id {query.id!r} occurs more than once (first at "
                                 f"{seen[query.id]})")
        elif not query.text.strip():
            problem = InputError(f"{query.where}: empty query text (query {query.id!r})")
        if problem is not None:
            skip_or_raise(problem, problems, query.id)
            continue
        seen[query.id] = query.where
        queries.append(query)
    if not queries:
        skipped = f" ({len(problems)} skipped)" if problems else ""
        raise InputError(f"{source}: no queries found{skipped}")
    return queries


def read_qrels(source: str | Path) -> dict:
    """TREC qrels (``qid iter docid grade``) or irds:<id> as {qid: {docid: grade}}."""
    qrels: dict = {}
    if str(source).startswith(IRDS_PREFIX):
        for n, qrel in enumerate(_irds_records(str(source), "qrels"), start=1):
            where = f"{source}#{n}"
            qid = check_id(str(qrel.query_id), where, "query id")
            qrels.setdefault(qid, {})[check_id(str(qrel.doc_id), where, "document id")] = int(qrel.relevance)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise InputError(f"{path}: no such qrels file")
        for number, line in numbered_lines(path):
            parts = line.split()
            if not parts:
                continue
            where = f"{path}:{number}"
            if len(parts) != 4:
                raise InputError(f"{where}: expected 'qid iteration docid relevance', got {len(parts)} fields")
            try:
                grade = int(parts[3])
            except ValueError:
                raise InputError(f"{where}: relevance {parts[3]!r} is not an integer") from None
            qid, docid = check_id(parts[0], where, "query id"), check_id(parts[2], where, "document id")
            qrels.setdefault(qid, {})[docid] = grade
    if not qrels:
        raise InputError(f"{source}: no judgements found")
    return qrels
