"""The Ray backend: a local Ray instance with 2 CPU workers writes the single-process encoder's bytes, and a killed
job rerun finishes with the same bytes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import DEMO
from splade_anserini.collection import PROGRESS, part_files

pytest.importorskip("ray", reason="the Ray backend is an extra: pip install 'splade-anserini[ray]'")
pytestmark = pytest.mark.slow

ENCODE = ["encode", "--corpus", str(DEMO / "corpus.jsonl"), "--docs-per-file", "40", "--batch-size", "8", "--quiet"]
RAY = ["--backend", "ray", "--workers", "2"]


def command(output, *extra):
    return [sys.executable, "-m", "splade_anserini", *ENCODE, "--output", str(output), *extra]


def same_parts(a, b):
    ours, theirs = part_files(a), part_files(b)
    assert [p.name for p in ours] == [p.name for p in theirs] and len(ours) == 9
    for mine, other in zip(ours, theirs):
        assert mine.read_bytes() == other.read_bytes(), mine.name


@pytest.fixture(scope="module")
def single_process(tmp_path_factory):
    output = tmp_path_factory.mktemp("single") / "collection"
    subprocess.run(command(output), check=True, capture_output=True, timeout=600)
    return output


def test_ray_writes_the_single_process_bytes(single_process, tmp_path):
    output = tmp_path / "collection"
    out = subprocess.run(command(output, *RAY), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    same_parts(output, single_process)
    ours = json.loads((output / "manifest.json").read_text())
    theirs = json.loads((single_process / "manifest.json").read_text())
    assert [f["sha256"] for f in ours["files"]] == [f["sha256"] for f in theirs["files"]]
    assert (ours["documents"], ours["postings"], ours["backend"]["name"]) == (theirs["documents"], theirs["postings"], "ray")


def ray_workers_alive() -> bool:
    return subprocess.run(["pgrep", "-f", "ray::PartEncoder"], capture_output=True).returncode == 0


def test_a_killed_ray_job_reruns_to_the_same_bytes(single_process, tmp_path):
    output = tmp_path / "collection"
    staging = tmp_path / ".collection.partial"
    process = subprocess.Popen(command(output, *RAY), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.time() + 600
    parts = 0
    while time.time() < deadline and process.poll() is None and parts < 2:
        try:
            parts = len(json.loads((staging / PROGRESS).read_text())["parts"])
        except (OSError, ValueError):
            parts = 0
        time.sleep(0.05)
    assert process.poll() is None and parts >= 2, "the job ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)  # the driver and everything it started
    process.wait()
    for _ in range(300):  # Ray's workers share the driver's fate; wait until they are gone
        if not ray_workers_alive():
            break
        time.sleep(0.1)
    assert not output.exists()
    rerun = subprocess.run(command(output, *RAY), capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming" in rerun.stderr
    same_parts(output, single_process)
