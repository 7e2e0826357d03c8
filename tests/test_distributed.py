"""The Ray backend: a local Ray instance with 2 CPU workers writes the single-process encoder's bytes, and a killed
job rerun finishes with the same bytes."""

import json
import subprocess
import time

import pytest
from conftest import assert_same_parts as same_parts
from conftest import encode_command as command
from conftest import kill_after_parts

pytest.importorskip("ray", reason="the Ray backend is an extra: pip install 'splade-anserini[ray]'")
pytestmark = pytest.mark.slow

RAY = ["--backend", "ray", "--workers", "2"]



def test_ray_writes_the_single_process_bytes(parts_collection, tmp_path):
    output = tmp_path / "collection"
    out = subprocess.run(command(output, *RAY), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    same_parts(output, parts_collection)
    ours = json.loads((output / "manifest.json").read_text())
    theirs = json.loads((parts_collection / "manifest.json").read_text())
    assert [f["sha256"] for f in ours["files"]] == [f["sha256"] for f in theirs["files"]]
    assert (ours["documents"], ours["postings"], ours["backend"]["name"]) == (theirs["documents"], theirs["postings"], "ray")


def ray_workers_alive() -> bool:
    return subprocess.run(["pgrep", "-f", "ray::PartEncoder"], capture_output=True).returncode == 0


def test_a_killed_ray_job_reruns_to_the_same_bytes(parts_collection, tmp_path):
    output = tmp_path / "collection"
    staging = tmp_path / ".collection.partial"
    parts = kill_after_parts(command(output, *RAY), staging)  # the driver and everything it started
    assert parts >= 2
    for _ in range(300):  # Ray's workers share the driver's fate; wait until they are gone
        if not ray_workers_alive():
            break
        time.sleep(0.1)
    assert not output.exists()
    rerun = subprocess.run(command(output, *RAY), capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming" in rerun.stderr
    same_parts(output, parts_collection)
