"""CIFF export: a collection as the Common Index File Format, for PISA, JASS, BMP, Terrier and other engines.

CIFF (github.com/osirrc/ciff) is a stream of varint-length-delimited protobuf messages: one ``Header``, then one
``PostingsList`` per term (term, df, cf, postings as (docid gap, tf) pairs), then one ``DocRecord`` per document
(docid, collection docid, length). Here docids are the collection's order (0 = the first line of the first part
file), ``tf`` is the integer impact, terms come in sorted order, and a document's length is the sum of its impacts.

The messages are few and fixed, so they are encoded here directly (proto3 wire format: varint fields, fields at
their default value left out), postings many at a time with numpy; no protobuf package is needed. The file is
written while the inversion (:mod:`.postings`) streams, under a temporary name, and renamed when complete; a
sidecar ``<file>.manifest.json`` marks it as ours, so ``--overwrite`` replaces only a CIFF file we wrote.
"""

from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import numpy

from ..errors import InputError
from ..progress import bar_disabled
from .artifacts import (
    CIFF,
    DESCRIPTIONS,
    INDEX,
    PISA_INDEX,
    check_separate,
    follow_umask,
    read_manifest,
    write_atomically,
)
from .collection import load_collection
from .postings import (
    Inversion,
    average,
    check_bits,
    invert_collection,
    requantize_factor,
)

VERSION = 1
SIDECAR_SUFFIX = ".manifest.json"
# Postings encoded per numpy pass: large enough that numpy's per-call cost vanishes, small enough to stay a few MB.
ENCODE_BATCH = 1 << 20
VARINT_BYTES = 5  # the most bytes a 32-bit value takes as a varint
LEN, VARINT, FIXED64 = 2, 0, 1  # protobuf wire types


def _key(field: int, wire: int) -> int:
    return (field << 3) | wire


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field_varint(field: int, value: int) -> bytes:
    return varint(_key(field, VARINT)) + varint(value) if value else b""


def _field_bytes(field: int, data: bytes) -> bytes:
    return varint(_key(field, LEN)) + varint(len(data)) + data if data else b""


def header_message(postings_lists: int, documents: int, total_terms: int, average_length: float,
                   description: str) -> bytes:
    return b"".join((_field_varint(1, VERSION), _field_varint(2, postings_lists), _field_varint(3, documents),
                     _field_varint(4, postings_lists), _field_varint(5, documents), _field_varint(6, total_terms),
                     (varint(_key(7, FIXED64)) + struct.pack("<d", average_length)) if average_length else b"",
                     _field_bytes(8, description.encode("utf-8"))))


def doc_record_message(docid: int, collection_docid: str, length: int) -> bytes:
    return _field_varint(1, docid) + _field_bytes(2, collection_docid.encode("utf-8")) + _field_varint(3, length)


def _varint_columns(values: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Varint bytes of each value as a (n, 5) matrix, and the mask of the bytes each one uses."""
    values = values.astype(numpy.uint64)
    position = numpy.arange(VARINT_BYTES, dtype=numpy.uint64)
    groups = (values[:, None] >> (numpy.uint64(7) * position)) & numpy.uint64(0x7F)
    used = numpy.ones(len(values), dtype=numpy.int64)
    for byte in range(1, VARINT_BYTES):
        used += values >= (1 << (7 * byte))
    more = position[None, :].astype(numpy.int64) < (used[:, None] - 1)
    return (groups | (more.astype(numpy.uint64) << numpy.uint64(7))).astype(numpy.uint8), \
        position[None, :].astype(numpy.int64) < used[:, None]


def encode_postings(gaps: numpy.ndarray, tfs: numpy.ndarray) -> tuple[bytes, numpy.ndarray]:
    """The ``postings`` field (4) of a PostingsList for many postings at once: each posting is
    ``key(4) len key(1) gap key(2) tf`` (a zero gap left out, as proto3 does). Returns the bytes and each posting's
    end offset in them, so the bytes can be cut per term."""
    gap_bytes, gap_used = _varint_columns(gaps)
    tf_bytes, tf_used = _varint_columns(tfs)
    gap_used &= (gaps > 0)[:, None]
    message = (gap_used.sum(1) + (gaps > 0)) + (tf_used.sum(1) + 1)  # < 128: one length byte
    n = len(gaps)
    columns = numpy.empty((n, 3 + VARINT_BYTES + 1 + VARINT_BYTES), dtype=numpy.uint8)
    present = numpy.zeros(columns.shape, dtype=bool)
    columns[:, 0], columns[:, 1], columns[:, 2] = _key(4, LEN), message, _key(1, VARINT)
    columns[:, 3:3 + VARINT_BYTES] = gap_bytes
    columns[:, 3 + VARINT_BYTES] = _key(2, VARINT)
    columns[:, 4 + VARINT_BYTES:] = tf_bytes
    present[:, 0:2] = True
    present[:, 2] = gaps > 0
    present[:, 3:3 + VARINT_BYTES] = gap_used
    present[:, 3 + VARINT_BYTES] = True
    present[:, 4 + VARINT_BYTES:] = tf_used
    return columns[present].tobytes(), numpy.cumsum(message + 2)


def sidecar_path(path: str | Path) -> Path:
    return Path(str(path) + SIDECAR_SUFFIX)


def _is_our_ciff(path: Path) -> bool:
    try:
        return json.loads(sidecar_path(path).read_text(encoding="utf-8")).get("kind") == CIFF
    except (OSError, ValueError, AttributeError):
        return False


def resolve_source(collection: str | Path | None, index: str | Path | None) -> Path:
    """The collection to export: given, or the one an index of ours was built from (its manifest records it),
    provided it is still the same (same part files and checksums)."""
    if (collection is None) == (index is None):
        raise InputError("give either a collection or an index to export, not both")
    if collection is not None:
        return Path(collection)
    manifest = read_manifest(index, (INDEX, PISA_INDEX), "export")
    source = manifest.get("collection")
    if not source or not Path(source).exists():
        raise InputError(f"{index} was built from the collection {source}, which is no longer there; export reads "
                         f"the collection's vectors, so pass --collection with a copy of it")
    current, _ = load_collection(source)
    if current.get("files") != manifest.get("files"):
        raise InputError(f"{source} has changed since {index} was built from it (other part files or checksums); "
                         f"export the collection itself with --collection, or rebuild the index")
    return Path(source)


def export_ciff(output: str | Path, *, collection: str | Path | None = None, index: str | Path | None = None,
                bits: int | None = None, description: str | None = None, overwrite: bool = False,
                progress: bool | None = None) -> dict:
    """Write ``collection`` (or the collection ``index`` was built from) to ``output`` as CIFF; with ``bits``,
    impacts above 2**bits - 1 are re-quantized into 1..2**bits - 1 (see :func:`.postings.requantize`). Returns the
    facts also written to the sidecar."""
    check_bits(bits)
    source = resolve_source(collection, index)
    output = Path(output)
    check_separate([source, index], output)
    if output.is_dir():
        raise InputError(f"{output} is a directory; give the CIFF file's path")
    if output.exists():
        if not overwrite:
            raise InputError(f"{output} already exists; pass --overwrite to replace it, or choose another output")
        if not _is_our_ciff(output):
            raise InputError(f"{output} is not {DESCRIPTIONS[CIFF]} written by splade-anserini (no "
                             f"{sidecar_path(output).name} beside it), so --overwrite will not replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    tmp = output.with_name(output.name + ".tmp")
    with invert_collection(source, output.parent, progress=progress) as inversion:
        factor = requantize_factor(inversion.max_impact, bits)
        text = description or (f"splade-anserini export of {source.name}: {inversion.manifest.get('model')} at "
                               f"scale {inversion.manifest.get('scale')}" + (f", impacts re-quantized to {bits} bits"
                                                                             if factor else ""))
        try:
            with open(tmp, "wb") as out:
                written = _write(out, inversion, factor, text, progress)
            os.replace(tmp, output)
        finally:
            Path(tmp).unlink(missing_ok=True)
        follow_umask(output)
        facts = {"kind": CIFF, "collection": str(source.resolve()), "documents": inversion.documents_total,
                 "terms": len(inversion.terms), "postings": inversion.postings_total,
                 "max_impact": inversion.max_impact, "bits": bits, "requantize_factor": factor,
                 "max_impact_written": written["max_impact"], "description": text, "bytes": output.stat().st_size,
                 "export_seconds": round(time.time() - started, 2),
                 **{key: inversion.manifest.get(key) for key in ("corpus", "model", "model_identity", "scale",
                                                                  "max_length", "pooling", "fields")}}
    write_atomically(sidecar_path(output), json.dumps(facts, indent=2, ensure_ascii=False) + "\n")
    return facts


def _delimited(out, message: bytes) -> None:
    out.write(varint(len(message)))
    out.write(message)


def _write(out, inversion: Inversion, factor: float | None, description: str, progress: bool | None) -> dict:
    from tqdm import tqdm
    lengths = inversion.lengths
    if factor is not None:  # a document's length is the sum of the impacts written
        lengths = numpy.zeros(len(lengths), dtype=numpy.uint64)
    top = 0
    pending: list = []  # (term, docids, impacts) waiting for the next numpy pass
    pending_size = 0

    def flush() -> None:
        nonlocal pending_size, top
        gaps = numpy.concatenate([numpy.diff(d, prepend=numpy.uint32(0)) for _, d, _ in pending])
        tfs = numpy.concatenate([i for _, _, i in pending])
        data, ends = encode_postings(gaps, tfs)
        start, offset = 0, 0
        for term, docids, impacts in pending:
            stop = offset + len(docids)
            end = int(ends[stop - 1])
            head = (_field_bytes(1, term.encode("utf-8")) + _field_varint(2, len(docids))
                    + _field_varint(3, int(impacts.sum(dtype=numpy.uint64))))
            _delimited(out, head + data[start:end])
            start, offset = end, stop
        pending.clear()
        pending_size = 0

    # The header comes first, and every count in it is known once the collection is inverted; re-quantized
    # impacts change the documents' lengths, which then take one more pass over the postings.
    if factor is not None:
        for _, docids, impacts in inversion.postings(factor):
            numpy.add.at(lengths, docids, impacts.astype(numpy.uint64))
    _delimited(out, header_message(len(inversion.terms), inversion.documents_total, int(lengths.sum()),
                                   average(lengths), description))
    for term, docids, impacts in tqdm(inversion.postings(factor), total=len(inversion.terms), desc="postings",
                                      unit="term", disable=bar_disabled(progress), mininterval=1.0):
        top = max(top, int(impacts.max()))
        pending.append((term, docids, impacts))
        pending_size += len(docids)
        if pending_size >= ENCODE_BATCH:
            flush()
    if pending:
        flush()
    for docid, doc_id, _ in inversion.documents():
        _delimited(out, doc_record_message(docid, doc_id, int(lengths[docid])))
    return {"max_impact": top}


def describe_export(facts: dict) -> str:
    size = facts["bytes"] / 2 ** 20
    note = (f", impacts x {facts['requantize_factor']:.4f} into {facts['bits']} bits (max {facts['max_impact']} -> "
            f"{facts['max_impact_written']})" if facts.get("requantize_factor") else "")
    return (f"exported {facts['documents']} documents, {facts['terms']} terms, {facts['postings']} postings "
            f"({size:.1f} MiB) in {facts['export_seconds']} s{note}")
