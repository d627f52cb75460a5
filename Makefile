# Two commands do everything on a fresh machine:
#   make demo   - create .venv, then scan -> dataset -> short CPU training -> predict -> eval on data/demo
#   make test   - create .venv, then run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The demo's folders, kept apart from the default data/ and models/ folders a user's own run uses.
DEMO_IN   ?= data/demo
DEMO_OUT  ?= data/demo-run
DEMO_RUN  ?= models/demo
# A CPU-sized network and optimizer settings that learn within a few minutes (see README).
DEMO_TRAIN ?= --units 32 --dense 64 --epochs 3 --lr 1e-3 --decay 0 --batch-size 64

.PHONY: demo test venv clean-demo readme-results bench

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	@start=$$(date +%s); set -e; \
	$(BIN)/python 10-scan.py --input $(DEMO_IN) --output $(DEMO_OUT)/22k; \
	$(BIN)/python 20-make-dataset.py --input $(DEMO_OUT)/22k --output $(DEMO_OUT)/dataset; \
	$(BIN)/python rnn-super-resolution.py --train --quiet --dataset $(DEMO_OUT)/dataset --model $(DEMO_RUN) $(DEMO_TRAIN); \
	$(BIN)/python rnn-super-resolution.py --predict --model $(DEMO_RUN) --output $(DEMO_OUT)/predicted; \
	$(BIN)/python eval.py --predicted $(DEMO_OUT)/predicted --json $(DEMO_OUT)/eval.json \
	    --markdown $(DEMO_OUT)/results.md --plots $(DEMO_OUT)/plots --report $(DEMO_OUT)/report.html; \
	echo "demo finished in $$(( $$(date +%s) - start )) s"

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Regenerate the README's results section from the demo run's evaluation.
readme-results: $(STAMP)
	$(BIN)/python eval.py --predicted $(DEMO_OUT)/predicted --mean-only --markdown $(DEMO_OUT)/results-mean.md
	$(BIN)/python tools/readme_results.py README.md results $(DEMO_OUT)/results-mean.md "make demo && make readme-results"

# Speed benchmark (a few minutes on 2 cores): bench.md, beside the sinc baseline of the same run.
bench: $(STAMP)
	$(BIN)/python tools/bench.py --out bench.md
	$(BIN)/python tools/readme_results.py README.md bench bench.md "make bench"

clean-demo:
	rm -rf $(DEMO_OUT) $(DEMO_RUN)
