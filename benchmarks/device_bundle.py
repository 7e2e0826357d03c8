"""Prepare the folder that travels to a GPU machine for ``benchmarks/encode_throughput.py --device cuda``.

The GPU machine has torch and transformers but no package registry, no Hugging Face hub, no pyserini, no Java and no
``../shared``: the model and the texts must travel with the checkout. This copies splade-tiny (from the model cache)
and the two shared corpora the GPU table reads into ``--bundle`` (default ``.device/``), makes git ignore that folder
(``.git/info/exclude``, so it is never committed), and prints the one command to run there:

    python benchmarks/device_bundle.py          # here, once
    # then on the GPU machine, with .device carried along:
    XDG_CACHE_HOME=.device/cache python benchmarks/encode_throughput.py --device cuda --data .device/data \
        --docs 0 --precision-docs 2000
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CORPORA = ("beir-scifact", "trec-dl-2019-passage-judged")
MODEL = "splade-tiny"


def ignore(bundle: Path) -> None:
    exclude = ROOT / ".git" / "info" / "exclude"
    entry = f"/{bundle.resolve().relative_to(ROOT)}/"
    present = exclude.read_text().splitlines() if exclude.is_file() else []
    if entry not in present:
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with open(exclude, "a") as out:
            out.write(entry + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=ROOT / ".device", help="inside the checkout (it must travel)")
    parser.add_argument("--data", type=Path, default=SHARED, help="where the shared collections are")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from splade_anserini.model.models import cache_dir, resolve_model
    if not args.bundle.resolve().is_relative_to(ROOT):
        sys.exit(f"--bundle must be inside the checkout {ROOT}, so that it travels with it")
    model = resolve_model(MODEL)  # fetched and checksum-checked if not cached yet
    target = args.bundle / "cache" / model.resolve().relative_to(cache_dir().parent.resolve())
    shutil.copytree(model, target, dirs_exist_ok=True)
    for name in CORPORA:
        (args.bundle / "data" / name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(args.data / name / "corpus.jsonl", args.bundle / "data" / name / "corpus.jsonl")
    ignore(args.bundle)
    size = sum(p.stat().st_size for p in args.bundle.rglob("*") if p.is_file())
    relative = args.bundle.resolve().relative_to(ROOT)
    print(f"{relative}/: {size / 2**20:.1f} MiB (carry it: run(carry=['{relative}']))")
    print(f"XDG_CACHE_HOME={relative}/cache python benchmarks/encode_throughput.py --device cuda "
          f"--data {relative}/data --docs 0 --precision-docs 2000")


if __name__ == "__main__":
    main()
