# splade-anserini: `make demo` and `make test` work on a fresh machine (they create .venv and install everything).
#
#   make demo                                   set up, then encode -> index -> search -> eval the embedded demo
#   make test                                   set up, then the test suite
#   make encode-scifact index search eval       the flow over configs/scifact.yaml, one stage per verb
#   make encode-scifact index search eval DATA=../shared/data/beir-scifact     ... over a local copy
#   make bm25 DATASET=scifact                   the BM25 baseline (Pyserini, same corpus and topics)
#   make verify-scifact-local                   run what is missing (BM25 too), compare with the expected scores
#   make report                                 every runs/*.metrics.json in one Markdown table
#   make train CONFIG=configs/train-scifact.yaml  fine-tune a model (ARGS='max_steps=50' overrides, --resume)
#   make train-scifact-supervised               train on SciFact's train claims, then test; last line: nDCG@10 X run=PATH
#   make train-scifact-inference-free           the same for a document model searched with idf queries (no transformer)
#   make tradeoff-scifact                       two quantization scales on SciFact, then nDCG@10 against FLOPS (PNG)
#
# DATASET defaults to the name in the encode-<name> goal, so `index search eval` follow it; set it to run a
# single stage alone (`make search DATASET=scifact`). Extra config overrides: ARGS='search.k=100'.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CLI := $(BIN)/splade-anserini
DATASET ?= $(or $(patsubst encode-%,%,$(firstword $(filter encode-%,$(MAKECMDGOALS)))),demo)
DATA ?=
ARGS ?=
RUN = $(CLI) run --config configs/$(DATASET).yaml $(if $(DATA),--data $(DATA))

.PHONY: setup demo test encode-% index search eval bm25 report train train-scifact-supervised train-scifact-inference-free tradeoff-scifact verify-% clean clean-artifacts

setup: $(VENV)/.installed

# pip's ordinary index, constrained to the exact versions of this project's machines (constraints.txt: torch==2.13.0
# resolves to the CPU wheel there); pyproject.toml itself only states the ranges the code works with.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	$(CLI) fetch-model splade-tiny
	touch $@

demo: setup
	$(CLI) run --config configs/demo.yaml $(ARGS)

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

encode-%: setup
	$(RUN) --steps encode $(ARGS)

index: setup
	$(RUN) --steps index $(ARGS)

search: setup
	$(RUN) --steps search $(ARGS)

eval: setup
	$(RUN) --steps eval $(ARGS)

bm25: setup
	$(RUN) --steps bm25 $(ARGS)

report: setup
	$(CLI) report runs $(ARGS)

CONFIG ?= configs/train-scifact.yaml
train: setup
	$(CLI) train --config $(CONFIG) $(ARGS)

# Supervised fine-tuning on ../shared/data/beir-scifact/train (BM25 negatives, validation on claims carved out of
# it), then the best checkpoint on SciFact's test claims through encode, index, search and eval. A rerun resumes an
# interrupted training (or finds it done) and evaluates again. The last line: nDCG@10 X.XXXX run=PATH.
train-scifact-supervised: setup
	$(CLI) train --config configs/train-scifact-supervised.yaml --resume --test $(ARGS)

# The document side of an inference-free pair, trained on the same claims against idf queries; the best checkpoint
# records the pair, so the test index is searched with idf queries and no transformer. Last line as above.
train-scifact-inference-free: setup
	$(CLI) train --config configs/train-scifact-inference-free.yaml --resume --test $(ARGS)

# Effectiveness against FLOPS on SciFact: splade-tiny at quantization scales 100 and 20 (the latter drops weights
# under 0.025), then the plot. TRADEOFF_ARGS adds overrides to both runs (e.g. model=checkpoints/.../final).
SCIFACT_DATA ?= ../shared/data/beir-scifact
tradeoff-scifact: setup
	$(CLI) run --config configs/scifact-local.yaml --data $(SCIFACT_DATA) --steps encode,index,search,eval --quiet $(TRADEOFF_ARGS)
	$(CLI) run --config configs/scifact-local.yaml --data $(SCIFACT_DATA) --steps encode,index,search,eval --quiet encode.scale=20 $(TRADEOFF_ARGS)
	$(CLI) plot runs/scifact-local.*.metrics.json --output runs/scifact-local.tradeoff.png --title "SciFact: nDCG@10 against FLOPS"

verify-%: setup
	$(CLI) verify --config configs/$*.yaml $(if $(DATA),--data $(DATA)) $(ARGS)

clean-artifacts:
	rm -rf collections indexes runs

clean: clean-artifacts
	rm -rf $(VENV) *.egg-info
