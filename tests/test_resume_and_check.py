"""Nothing lost, nothing silently wrong: killed encodings resume to the same bytes, and `check` finds damage."""

import json
import subprocess

import pytest
from conftest import PARTS_ENCODE as ENCODE
from conftest import assert_same_parts, encode_command, kill_after_parts

from splade_anserini.check import check_collection
from splade_anserini.cli import main
from splade_anserini.formats.collection import PROGRESS, part_files


def test_a_killed_encoding_resumes_to_the_same_bytes(parts_collection, tmp_path):
    output = tmp_path / "collection"
    staging = tmp_path / ".collection.partial"
    parts = kill_after_parts(encode_command(output), staging, timeout=300)
    assert not output.exists() and parts >= 2
    rerun = subprocess.run(encode_command(output), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming" in rerun.stderr
    assert_same_parts(output, parts_collection)
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["documents"] == 344 and [f["first_document"] for f in manifest["files"]] == list(range(0, 344, 40))
    assert not staging.exists() and check_collection(output) == []


def test_a_changed_setting_refuses_to_resume(tmp_path, capsys):
    output = tmp_path / "collection"
    staging = tmp_path / ".collection.partial"
    staging.mkdir()
    (staging / "part-00000.jsonl").write_text('{"id": "d001", "contents": "", "vector": {"a": 1}}\n')
    (staging / PROGRESS).write_text(json.dumps({"identity": {"corpus": "elsewhere", "docs_per_file": 40},
                                                "parts": [{"name": "part-00000.jsonl", "documents": 1,
                                                           "postings": 1, "first_document": 0}]}))
    assert main([*ENCODE, "--output", str(output)]) == 2
    assert "cannot be resumed" in capsys.readouterr().err and not output.exists()
    assert main([*ENCODE, "--output", str(output), "--overwrite", "--scale", "50"]) == 0
    assert json.loads((output / "manifest.json").read_text())["documents"] == 344


def test_check_reports_the_damaged_part(parts_collection, tmp_path):
    import shutil
    copy = tmp_path / "collection"
    shutil.copytree(parts_collection, copy)
    assert main(["check", "--collection", str(copy)]) == 0
    third = part_files(copy)[2]
    data = bytearray(third.read_bytes())
    position = data.index(b'"vector"') + 20
    data[position] = ord("7") if data[position] != ord("7") else ord("8")
    third.write_bytes(bytes(data))
    problems = check_collection(copy)
    assert problems and problems[0] == f"{third}: checksum differs from the manifest's (the file changed or is damaged)"
    assert main(["check", "--collection", str(copy)]) == 1


def test_check_finds_bad_weights_and_counts(parts_collection, tmp_path):
    import shutil
    copy = tmp_path / "collection"
    shutil.copytree(parts_collection, copy)
    first = part_files(copy)[0]
    lines = first.read_text().splitlines(keepends=True)
    record = json.loads(lines[3])
    record["vector"][next(iter(record["vector"]))] = 0
    lines[3] = json.dumps(record) + "\n"
    first.write_text("".join(lines[:-1]))  # one weight of zero, and the part's last document gone
    problems = check_collection(copy)
    assert any(p.startswith(f"{first}:4: weight 0 of") for p in problems)
    assert f"{first}: 39 documents, the manifest says 40" in problems


def test_check_index_matches_its_manifest(demo_index, capsys):
    assert main(["check", "--index", str(demo_index)]) == 0
    assert capsys.readouterr().out.strip().endswith("OK")


def bad_corpus(path):
    lines = [b'{"_id": "a", "text": "honey bees make honey"}',
             b'{"_id": "b", "text": oops}',                        # 2: malformed JSON
             b'{"text": "no id here"}',                            # 3: missing id
             b'{"_id": " ", "text": "blank id"}',                  # 4: empty id
             b'{"_id": "a", "text": "the same id again"}',         # 5: duplicate id
             b'{"_id": "c", "title": "", "text": "  "}',           # 6: empty text
             b'{"_id": "d", "text": "bad \xff byte"}',             # 7: invalid UTF-8
             b'{"_id": "e", "text": "' + b"volcano " * 400 + b'"}',  # 8: far longer than 256 tokens
             b'{"_id": "f", "text": "tides follow the moon"}']
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("line, message", [
    (2, "malformed JSON"), (3, "missing id"), (4, "empty or invalid id"), (5, "duplicate document id 'a'"),
    (6, "empty text (document 'c')"), (7, "invalid UTF-8")])
def test_each_kind_of_bad_input_stops_with_file_and_line(tmp_path, capsys, line, message):
    full = bad_corpus(tmp_path / "full.jsonl").read_bytes().split(b"\n")
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(b"\n".join(full[:1] + full[line - 1:line]) + b"\n")  # the good first line, then the bad one
    assert main(["encode", "--corpus", str(corpus), "--output", str(tmp_path / "out"), "--quiet"]) == 2
    assert f"{corpus}:2: {message}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_on_error_skip_counts_and_lists_what_it_skipped(tmp_path, capsys):
    corpus = bad_corpus(tmp_path / "c.jsonl")
    out = tmp_path / "out"
    assert main(["encode", "--corpus", str(corpus), "--output", str(out), "--quiet", "--on-error", "skip"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["documents"] == 3 and manifest["truncated_documents"] == 1
    skipped = manifest["skipped"]
    assert skipped["count"] == 6
    assert [(entry["where"], entry["id"]) for entry in skipped["documents"]] == [
        (f"{corpus}:2", None), (f"{corpus}:3", None), (f"{corpus}:4", None), (f"{corpus}:5", "a"),
        (f"{corpus}:6", "c"), (f"{corpus}:7", None)]  # in file order
    assert "skipped 6 bad documents" in capsys.readouterr().err
    ids = [json.loads(line)["id"] for line in (out / "part-00000.jsonl").read_text().splitlines()]
    assert ids == ["a", "e", "f"]
