"""splade-anserini: SPLADE learned sparse retrieval on Lucene through Anserini/Pyserini.

Stages (one module each, data flowing one way): readers -> splade (model) -> encode -> collection -> index ->
search -> evaluate; config/pipeline run them from experiment files, cli exposes them as `splade-anserini`.
Importing this package is cheap: torch, transformers and the JVM load only when a stage needs them.
"""

__version__ = "0.1.0"
