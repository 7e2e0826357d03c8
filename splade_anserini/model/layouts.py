"""Model directory layouts: a bare masked-LM directory, or one saved by sentence-transformers' ``SparseEncoder``.

Read (``--model`` everywhere):

- **bare**: a Hugging Face masked-LM directory (``config.json``, weights, tokenizer files); pooling is a setting;
- **SparseEncoder**: ``modules.json`` naming an ``MLMTransformer`` (or a ``Transformer`` with ``transformer_task``
  ``fill-mask``), its files at the top of the directory or in its own folder, then a ``SpladePooling`` whose config
  gives the pooling (max or sum) and the activation;
- **Router pair**: ``modules.json`` naming one ``Router`` whose ``router_config.json`` routes documents to an MLM and
  ``SpladePooling``, and queries to a ``SparseStaticEmbedding`` (a token-weight table: inference-free queries) or to
  another MLM and ``SpladePooling`` (a SPLADE query model). It becomes the recorded pair of
  :mod:`.query_models`: the document route is the model, the query route its query model.

What this project computes is ``log(1 + relu(logit))`` (or, for SpladePooling's ``log1p_relu``,
``log(1 + log(1 + relu(logit)))``) pooled by max or sum over a text's real tokens; a layout that asks for anything
else (extra modules, prompts, lower-casing outside the tokenizer, another Transformer task) is refused in one sentence
naming it, never encoded approximately.

Written (``train``'s checkpoints, :func:`write_sparse_encoder`): the same layouts, so that
``SparseEncoder(checkpoint)`` loads what this project trained. This module needs neither torch nor the JVM: a
``SparseStaticEmbedding``'s weights are read with safetensors' numpy API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..settings import DEFAULT_POOLING, POOLINGS

MODULES_FILE = "modules.json"
ROUTER_FILE = "router_config.json"
TRANSFORMER_FILE = "sentence_bert_config.json"
ST_CONFIG_FILE = "config_sentence_transformers.json"
MODULE_CONFIG = "config.json"  # SpladePooling's and SparseStaticEmbedding's own config, in their folders
STATIC_WEIGHTS = "model.safetensors"
MLM_MODULES = ("MLMTransformer", "Transformer")
POOLING_MODULE = "SpladePooling"
STATIC_MODULE = "SparseStaticEmbedding"
ROUTER_MODULE = "Router"
ACTIVATIONS = ("relu", "log1p_relu")  # SpladePooling's activation_function values (model/splade.py computes both)
QUERY, DOCUMENT = "query", "document"
# The module classes a checkpoint we write names, by their 5.x import paths: sentence-transformers 5 imports them as
# they are, 6 maps them onto its own modules (its deprecated-import table).
WRITTEN_TYPES = {
    "MLMTransformer": "sentence_transformers.sparse_encoder.models.MLMTransformer",
    POOLING_MODULE: "sentence_transformers.sparse_encoder.models.SpladePooling",
    STATIC_MODULE: "sentence_transformers.sparse_encoder.models.SparseStaticEmbedding",
    ROUTER_MODULE: "sentence_transformers.models.Router",
}


@dataclass(frozen=True)
class Route:
    """One encoder of a layout: an MLM folder and its pooling, or (``table``) a SparseStaticEmbedding folder."""
    mlm: Path | None = None
    pooling: str | None = None        # None: a bare directory, pooling is the caller's setting
    activation: str = "relu"
    pooling_config: Path | None = None
    table: Path | None = None


@dataclass(frozen=True)
class Layout:
    root: Path
    kind: str                         # "bare", "sparse-encoder" or "router"
    document: Route
    query: Route | None = None        # a Router's query route, when it is not the document route

    @property
    def mlm(self) -> Path:
        return self.document.mlm

    @property
    def pooling(self) -> str | None:
        return self.document.pooling


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: not a readable {what}: {type(err).__name__}") from None


def _class_name(type_ref) -> str:
    return str(type_ref).rsplit(".", 1)[-1]


def _folder(root: Path, relative: str) -> Path:
    folder = (root / relative).resolve() if relative else root
    if root != folder and root not in folder.parents:
        raise InputError(f"{root}: module path {relative!r} leaves the model directory")
    return folder


def _mlm_route(root: Path, mlm_folder: Path, mlm_type: str, pooling_folder: Path, where: str) -> Route:
    """An MLM module followed by SpladePooling, checked for what this project reproduces exactly."""
    settings = mlm_folder / TRANSFORMER_FILE
    config = _read_json(settings, "sentence-transformers module config") if settings.is_file() else {}
    task = config.get("transformer_task", "fill-mask" if mlm_type == "MLMTransformer" else "feature-extraction")
    if task != "fill-mask":
        raise InputError(f"{where}: its Transformer module has transformer_task {task!r}; a SPLADE model needs "
                         f"'fill-mask' (a masked-LM head)")
    if config.get("do_lower_case"):
        raise InputError(f"{where}: its Transformer lower-cases texts itself (do_lower_case), which this project's "
                         f"tokenization does not reproduce")
    if not (mlm_folder / "config.json").is_file():
        raise InputError(f"{where}: the MLM module's folder {mlm_folder} has no config.json")
    pooling_config = pooling_folder / MODULE_CONFIG
    pooling = _read_json(pooling_config, "SpladePooling config") if pooling_config.is_file() else {}
    strategy = pooling.get("pooling_strategy", DEFAULT_POOLING)
    activation = pooling.get("activation_function", "relu")
    if strategy not in POOLINGS:
        raise InputError(f"{where}: SpladePooling pooling_strategy {strategy!r} is not {' or '.join(POOLINGS)}")
    if activation not in ACTIVATIONS:
        raise InputError(f"{where}: SpladePooling activation_function {activation!r} is not reproduced here "
                         f"(only {', '.join(ACTIVATIONS)})")
    return Route(mlm=mlm_folder, pooling=strategy, activation=activation,
                 pooling_config=pooling_config if pooling_config.is_file() else None)


def _route(root: Path, modules: list, where: str) -> Route:
    """A route (a list of (class name, folder)): an MLM and SpladePooling, or a SparseStaticEmbedding alone."""
    names = [name for name, _ in modules]
    if names == [STATIC_MODULE]:
        folder = modules[0][1]
        if not (folder / STATIC_WEIGHTS).is_file():
            raise InputError(f"{where}: the SparseStaticEmbedding folder {folder} has no {STATIC_WEIGHTS}")
        return Route(table=folder)
    if len(names) == 2 and names[0] in MLM_MODULES and names[1] == POOLING_MODULE:
        return _mlm_route(root, modules[0][1], names[0], modules[1][1], where)
    raise InputError(f"{where}: modules {' + '.join(names)} are not a SPLADE encoder this project reproduces "
                     f"(MLMTransformer or fill-mask Transformer + SpladePooling, or a SparseStaticEmbedding query "
                     f"route)")


def _check_prompts(root: Path, where: str) -> None:
    path = root / ST_CONFIG_FILE
    if path.is_file():
        prompts = _read_json(path, "sentence-transformers config").get("prompts") or {}
        used = sorted(name for name, text in prompts.items() if text)
        if used:
            raise InputError(f"{where}: it prepends prompts ({', '.join(used)}) to texts, which this project does "
                             f"not reproduce")


def read_layout(path: str | Path) -> Layout:
    """The layout of the model directory ``path`` (see the module's description); InputError for a
    sentence-transformers model this project cannot encode exactly."""
    root = Path(path)
    if not (root / MODULES_FILE).is_file():
        return Layout(root, "bare", Route(mlm=root))
    where = f"sentence-transformers model {root}"
    entries = _read_json(root / MODULES_FILE, "modules.json")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "type" in e for e in entries):
        raise InputError(f"{root / MODULES_FILE}: not a sentence-transformers module list")
    _check_prompts(root, where)
    modules = [(_class_name(e["type"]), _folder(root, str(e.get("path", "")))) for e in entries]
    if [name for name, _ in modules] != [ROUTER_MODULE]:
        route = _route(root, modules, where)
        if route.mlm is None:
            raise InputError(f"{where}: a SparseStaticEmbedding alone encodes no documents; give it as "
                             f"--query-model beside a document model")
        return Layout(root, "sparse-encoder", route)
    folder = modules[0][1]
    config_path = folder / ROUTER_FILE if (folder / ROUTER_FILE).is_file() else folder / "config.json"
    config = _read_json(config_path, "Router config")
    try:
        types, structure = config["types"], config["structure"]
        routes = {name: [(_class_name(types[m]), _folder(folder, m)) for m in ids] for name, ids in structure.items()}
    except (KeyError, TypeError, AttributeError):
        raise InputError(f"{config_path}: not a Router config (types, structure)") from None
    if set(routes) != {QUERY, DOCUMENT}:
        raise InputError(f"{where}: a Router with routes {sorted(routes)}; this project reads query/document pairs")
    document = _route(root, routes[DOCUMENT], f"{where} (document route)")
    if document.mlm is None:
        raise InputError(f"{where}: its document route is a SparseStaticEmbedding; documents need an MLM")
    if structure[QUERY] == structure[DOCUMENT]:  # one encoder under two names
        return Layout(root, "sparse-encoder", document)
    query = _route(root, routes[QUERY], f"{where} (query route)")
    if query.mlm is not None and (query.pooling, query.activation) != (document.pooling, document.activation):
        raise InputError(f"{where}: its query route pools by {query.pooling} ({query.activation}) and its document "
                         f"route by {document.pooling} ({document.activation}); a pair here shares one pooling")
    return Layout(root, "router", document, query)


def model_files(path: str | Path) -> Path:
    """The folder holding the (document) masked LM's config, weights and tokenizer in the model directory ``path``."""
    return read_layout(path).mlm


def is_static_embedding(path: str | Path) -> bool:
    """Whether ``path`` is a SparseStaticEmbedding module folder (a token-weight table with its tokenizer)."""
    folder = Path(path)
    if not (folder.is_dir() and (folder / STATIC_WEIGHTS).is_file() and (folder / MODULE_CONFIG).is_file()):
        return False
    try:
        config = json.loads((folder / MODULE_CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(config, dict) and "frozen" in config and "model_type" not in config


def static_table(folder: str | Path) -> dict:
    """A SparseStaticEmbedding's weights as a ``{token: weight}`` table (non-zero weights; the token of id i is
    the folder's tokenizer's)."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer
    folder = Path(folder)
    try:
        weight = load_file(str(folder / STATIC_WEIGHTS))["weight"]
        vocab = Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab()
    except Exception as err:  # a damaged file: safetensors and tokenizers raise their own types
        raise InputError(f"{folder}: not a SparseStaticEmbedding (weight in {STATIC_WEIGHTS}, tokenizer.json): "
                         f"{type(err).__name__}") from None
    if weight.ndim != 1 or weight.shape[0] < len(vocab):
        raise InputError(f"{folder}: its weights ({tuple(weight.shape)}) do not cover its {len(vocab)} tokens")
    return {token: float(weight[index]) for token, index in vocab.items() if weight[index] != 0}


# ---- writing ----------------------------------------------------------------------------------------------------

def _write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")


def _write_pooling(folder: Path, pooling: str, activation: str, vocab_size: int) -> None:
    _write_json(folder / MODULE_CONFIG, {"pooling_strategy": pooling, "activation_function": activation,
                                         "embedding_dimension": vocab_size})


def _write_mlm_settings(folder: Path) -> None:
    _write_json(folder / TRANSFORMER_FILE, {"transformer_task": "fill-mask"})


def write_sparse_encoder(directory: Path, pooling: str, vocab_size: int, *, activation: str = "relu",
                         document: str = "", query: str | None = None, query_kind: str | None = None) -> None:
    """Make ``directory`` a SparseEncoder: its masked LM (already saved in ``document``, relative; "" for the top)
    with SpladePooling; with ``query`` (a folder already holding a masked LM, ``query_kind`` "model", or a
    SparseStaticEmbedding, "table"), a Router pairing the two."""
    _write_json(directory / ST_CONFIG_FILE, {"model_type": "SparseEncoder", "prompts": {}, "default_prompt_name": None,
                                            "similarity_fn_name": "dot"})
    if query is None:
        _write_mlm_settings(directory / document)
        _write_pooling(directory / "1_SpladePooling", pooling, activation, vocab_size)
        _write_json(directory / MODULES_FILE, [
            {"idx": 0, "name": "0", "path": document, "type": WRITTEN_TYPES["MLMTransformer"]},
            {"idx": 1, "name": "1", "path": "1_SpladePooling", "type": WRITTEN_TYPES[POOLING_MODULE]}])
        return
    types = {document: WRITTEN_TYPES["MLMTransformer"], "document_1_SpladePooling": WRITTEN_TYPES[POOLING_MODULE]}
    _write_mlm_settings(directory / document)
    _write_pooling(directory / "document_1_SpladePooling", pooling, activation, vocab_size)
    structure = {QUERY: [query], DOCUMENT: [document, "document_1_SpladePooling"]}
    if query_kind == "model":
        _write_mlm_settings(directory / query)
        _write_pooling(directory / "query_1_SpladePooling", pooling, activation, vocab_size)
        types.update({query: WRITTEN_TYPES["MLMTransformer"], "query_1_SpladePooling": WRITTEN_TYPES[POOLING_MODULE]})
        structure[QUERY].append("query_1_SpladePooling")
    else:
        types[query] = WRITTEN_TYPES[STATIC_MODULE]
    _write_json(directory / ROUTER_FILE, {"types": types, "structure": structure,
                                          "parameters": {"default_route": DOCUMENT, "allow_empty_key": True}})
    _write_json(directory / MODULES_FILE, [{"idx": 0, "name": "0", "path": "", "type": WRITTEN_TYPES[ROUTER_MODULE]}])
