"""splade-anserini: SPLADE learned sparse retrieval on Lucene through Anserini/Pyserini.

The flow, one module per stage, data flowing one way: ``encode`` (corpus -> JsonVectorCollection) -> ``index``
(-> Lucene impact index) -> ``search`` (topics -> run file) -> ``evaluate`` (run + qrels -> metrics). Beneath them:
``formats/`` (the files, no torch and no JVM), ``model/`` (SPLADE in torch), ``lucene/`` (everything that starts
Java), ``experiment/`` (configs, pipeline, reports) and ``train/``.

Importing this package is cheap: each name below is imported on first use, so torch and the JVM load only when a
stage needs them::

    from splade_anserini import Splade, encode_corpus, build_index, search_topics, evaluate_run

What the library reports goes to the ``splade_anserini`` logger, silent unless the caller configures logging
(``logging.basicConfig(level=logging.INFO)`` shows the notes the command line prints); what a caller should not miss
is a warning (:class:`~splade_anserini.errors.SpladeAnseriniWarning`). Progress bars appear on a terminal only,
unless a stage is called with ``progress=True`` (or never, with ``progress=False``).
"""

from __future__ import annotations

import importlib
import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())  # silent for a library caller unless configured

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Splade": "model.splade",
    "EncodeSettings": "settings",
    "IndexSettings": "settings",
    "SearchSettings": "settings",
    "Bm25Settings": "settings",
    "encode_corpus": "encode",
    "build_index": "index",
    "search_topics": "search",
    "evaluate_run": "evaluate",
    "compare_runs": "compare",
    "ImpactSearcher": "lucene.searcher",
    "SpladeQueryEncoder": "lucene.queries",
    "LuceneImpactSearcher": "lucene.queries",
    "load_experiment": "experiment.config",
    "run_steps": "experiment.pipeline",
    "load_training_settings": "train.trainer",
    "train_model": "train.trainer",
    "TrainSettings": "train.settings",
    "read_corpus": "formats.readers",
    "read_topics": "formats.readers",
    "read_qrels": "formats.readers",
    "read_run": "formats.runs",
    "read_encoded_topics": "formats.topics",
    "describe": "info",
    "SpladeAnseriniError": "errors",
    "InputError": "errors",
    "SetupError": "errors",
}
_RENAMED = {"load_training_settings": "load_settings", "train_model": "train"}  # `train` is the subpackage

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'splade_anserini' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), _RENAMED.get(name, name))
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
