import gzip
import json

import pytest

from splade_anserini.errors import InputError
from splade_anserini.formats.readers import read_corpus, read_qrels, read_topics


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_beir_jsonl_joins_title_and_text(tmp_path):
    src = write(tmp_path / "c.jsonl", '{"_id": "a", "title": "Bees", "text": " make honey "}\n'
                                      '{"_id": 7, "title": "", "text": "only text"}\n')
    docs = list(read_corpus(src))
    # title + " " + text, stripped as a whole (the reference runs' definition): inner spaces stay
    assert [(d.id, d.text) for d in docs] == [("a", "Bees  make honey"), ("7", "only text")]
    assert docs[0].where == f"{src}:1"


def test_pyserini_jsonl_tsv_gzip_and_directory(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    write(folder / "a.jsonl", '{"id": "p1", "contents": "pyserini style"}\n')
    write(folder / "b.tsv", "t1\ttab separated\n\nt2\ttitle and text\n")
    with gzip.open(folder / "c.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"_id": "g1", "title": "gz", "text": "file"}) + "\n")
    write(folder / "notes.md", "ignored: not a corpus file")
    docs = [(d.id, d.text) for d in read_corpus(folder)]
    assert docs == [("p1", "pyserini style"), ("t1", "tab separated"), ("t2", "title and text"), ("g1", "gz file")]


def test_configurable_fields(tmp_path):
    src = write(tmp_path / "c.jsonl", '{"_id": "a", "title": "T", "text": "body", "extra": "more"}\n')
    assert next(read_corpus(src, ["text", "extra"])).text == "body more"
    with pytest.raises(InputError, match=r"c.jsonl:1: none of the text fields \['nope'\]"):
        list(read_corpus(src, ["nope"]))


@pytest.mark.parametrize("content, message", [
    ('{"_id": "a", "text": "ok"}\n{"_id": "b", "text": broken}\n', r"c.jsonl:2: malformed JSON"),
    ('{"_id": "a", "text": "ok"}\n\n{"title": "no id", "text": "x"}\n', r"c.jsonl:3: missing id"),
    ('{"_id": "", "text": "x"}\n', r"c.jsonl:1: empty or invalid id"),
    ('["a", "list"]\n', r"c.jsonl:1: expected a JSON object"),
    ('{"_id": "a", "body": "x"}\n', r"c.jsonl:1: no text field"),
    ('\n\n', r"c.jsonl: the corpus is empty"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, content, message):
    src = write(tmp_path / "c.jsonl", content)
    with pytest.raises(InputError, match=message):
        list(read_corpus(src))


def test_bad_tsv_and_unknown_format(tmp_path):
    with pytest.raises(InputError, match=r"c.tsv:2: expected 'id<TAB>text'"):
        list(read_corpus(write(tmp_path / "c.tsv", "a\tfine\nno tab here\n")))
    with pytest.raises(InputError, match=r"unknown corpus format"):
        list(read_corpus(write(tmp_path / "c.csv", "a,b\n")))
    with pytest.raises(InputError, match=r"no such file or directory"):
        list(read_corpus(tmp_path / "missing.jsonl"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"holds no corpus files"):
        list(read_corpus(empty))


def test_invalid_utf8_names_line(tmp_path):
    src = tmp_path / "c.tsv"
    src.write_bytes(b"a\tfine\nb\tbad \xff byte\n")
    with pytest.raises(InputError, match=r"c.tsv:2: invalid UTF-8"):
        list(read_corpus(src))


def test_topics_and_qrels(tmp_path):
    tsv = write(tmp_path / "q.tsv", "1\tfirst query\n2\tsecond\n")
    assert [(q.id, q.text) for q in read_topics(tsv)] == [("1", "first query"), ("2", "second")]
    jsonl = write(tmp_path / "q.jsonl", '{"_id": "x", "text": "json query"}\n')
    assert read_topics(jsonl)[0].text == "json query"
    with pytest.raises(InputError, match="occurs more than once"):
        read_topics(write(tmp_path / "d.tsv", "1\ta\n1\tb\n"))
    qrels = write(tmp_path / "qrels.txt", "1 0 d1 2\n1 0 d2 0\n2 Q0 d3 1\n")
    assert read_qrels(qrels) == {"1": {"d1": 2, "d2": 0}, "2": {"d3": 1}}
    with pytest.raises(InputError, match=r"bad.txt:1: expected 'qid iteration docid relevance'"):
        read_qrels(write(tmp_path / "bad.txt", "1 d1 2\n"))


def test_an_irds_source_that_cannot_be_fetched_fails_within_seconds(tmp_path):
    """No download possible (an empty ir_datasets home, every proxy pointing at a closed port): one clear error."""
    import os
    import subprocess
    import sys
    import time
    env = dict(os.environ, IR_DATASETS_HOME=str(tmp_path / "irds"), HTTPS_PROXY="http://127.0.0.1:9",
               HTTP_PROXY="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9")
    started = time.time()
    out = subprocess.run([sys.executable, "-m", "splade_anserini", "encode", "--corpus", "irds:beir/nfcorpus",
                          "--output", str(tmp_path / "out"), "--quiet"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 2, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("splade-anserini: error: irds:beir/nfcorpus: ir_datasets could not provide the docs")
    assert "pass a local file instead" in last and "Traceback" not in out.stderr
    assert time.time() - started < 60 and not (tmp_path / "out").exists()
