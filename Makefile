# Two commands do everything on a fresh machine:
#   make demo   - create .venv, then scan -> dataset -> short CPU training -> predict -> eval on data/demo
#   make test   - create .venv, then run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The lock file: exact versions and hashes of every package, made from requirements*.txt by `make lock`.
LOCK   := requirements.lock
# The Python the lock is made for (and tested on). Other versions: `make lock PYTHON_VERSION=3.12`.
PYTHON_VERSION ?= 3.11
UV_VERSION ?= 0.13.9

# The demo's folders, kept apart from the default data/ and models/ folders a user's own run uses.
DEMO_IN   ?= data/demo
DEMO_OUT  ?= data/demo-run
DEMO_RUN  ?= models/demo
# A CPU-sized network and optimizer settings that learn within a few minutes (see README).
DEMO_TRAIN ?= --units 32 --dense 64 --epochs 3 --lr 1e-3 --decay 0 --batch-size 64

# The pretrained default model (make music pretrained): the training corpus from Debian packages, its
# held-out songs, and the model folder that --predict uses when no --model is given.
MUSIC     ?= data/music
MUSIC_OUT ?= data/music-run
PRETRAINED ?= models/default
SBR_TRAIN ?= --arch sbr --epochs 4 --wave-weight 500
# The BiLSTM for the held-out comparison: the demo's size, trained on every 64th window of the same songs.
BILSTM_MUSIC ?= models/bilstm-music

.PHONY: demo test venv lock clean-demo readme-results bench music pretrained ablation

venv: $(STAMP)

# Exactly the locked versions (--require-hashes: nothing else, nothing altered), then this project itself,
# editable, for the `superres` command.
$(STAMP): $(LOCK) pyproject.toml
	@$(PYTHON) -c 'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(0 if v == "$(PYTHON_VERSION)" else \
	    "$(PYTHON) is Python " + v + "; $(LOCK) is made for $(PYTHON_VERSION): run with PYTHON=python$(PYTHON_VERSION), " \
	    "or lock for yours with: make lock PYTHON_VERSION=" + v)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Regenerate the lock from the direct requirements (requirements.txt, requirements-dev.txt): after changing
# either, or to take newer releases. Then run `make test` before committing the new lock.
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet uv==$(UV_VERSION)
	.venv-lock/bin/uv pip compile --quiet --generate-hashes --python-version $(PYTHON_VERSION) \
	    --python-platform x86_64-manylinux_2_28 --no-header --output-file $(LOCK) requirements.txt requirements-dev.txt
	@echo "wrote $(LOCK); run make test before committing it"

demo: $(STAMP)
	@start=$$(date +%s); set -e; \
	$(BIN)/python 10-scan.py --input $(DEMO_IN) --output $(DEMO_OUT)/22k; \
	$(BIN)/python 20-make-dataset.py --input $(DEMO_OUT)/22k --output $(DEMO_OUT)/dataset; \
	$(BIN)/python rnn-super-resolution.py --train --quiet --dataset $(DEMO_OUT)/dataset --model $(DEMO_RUN) $(DEMO_TRAIN); \
	$(BIN)/python rnn-super-resolution.py --predict --model $(DEMO_RUN) --output $(DEMO_OUT)/predicted --overwrite; \
	$(BIN)/python eval.py --predicted $(DEMO_OUT)/predicted --models $(PRETRAINED) --json $(DEMO_OUT)/eval.json \
	    --markdown $(DEMO_OUT)/results.md --plots $(DEMO_OUT)/plots --report $(DEMO_OUT)/report.html; \
	echo "demo finished in $$(( $$(date +%s) - start )) s"

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist worksteal

# Regenerate the README's results section from the demo run's evaluation.
readme-results: $(STAMP)
	$(BIN)/python eval.py --predicted $(DEMO_OUT)/predicted --models $(PRETRAINED) --mean-only \
	    --markdown $(DEMO_OUT)/results-mean.md
	$(BIN)/python tools/readme_results.py README.md results $(DEMO_OUT)/results-mean.md "make demo && make readme-results"

# Speed benchmark (a few minutes on 2 cores): bench.md, beside the sinc baseline of the same run.
bench: $(STAMP)
	$(BIN)/python tools/bench.py --out bench.md
	$(BIN)/python tools/readme_results.py README.md bench bench.md "make bench"

# The training corpus: full-band music from Debian packages (downloads a few hundred MB; see data/README.md).
music: $(STAMP)
	$(BIN)/python tools/build_music_set.py --out $(MUSIC)

# Train the default model on $(MUSIC)/train, score it on $(MUSIC)/heldout beside the baselines and a BiLSTM
# trained on the same songs, and write the results into the model folder and the README.
pretrained: $(STAMP)
	set -e; \
	$(BIN)/python 10-scan.py --input $(MUSIC)/train --output $(MUSIC_OUT)/train-22k; \
	$(BIN)/python 10-scan.py --input $(MUSIC)/heldout --output $(MUSIC_OUT)/heldout-22k; \
	$(BIN)/python 20-make-dataset.py --input $(MUSIC_OUT)/train-22k --output $(MUSIC_OUT)/sbr-dataset \
	    --upsample sinc --encoding pcm --window 8192; \
	$(BIN)/python rnn-super-resolution.py --train --quiet --dataset $(MUSIC_OUT)/sbr-dataset --model $(PRETRAINED) \
	    $(SBR_TRAIN); \
	$(BIN)/python 20-make-dataset.py --input $(MUSIC_OUT)/train-22k --output $(MUSIC_OUT)/bilstm-dataset --hop 3200; \
	$(BIN)/python rnn-super-resolution.py --train --quiet --dataset $(MUSIC_OUT)/bilstm-dataset \
	    --model $(BILSTM_MUSIC) $(DEMO_TRAIN); \
	$(BIN)/python eval.py --scan $(MUSIC_OUT)/heldout-22k --whole --models $(PRETRAINED) $(BILSTM_MUSIC) \
	    --mean-only --json $(PRETRAINED)/heldout-results.json --markdown $(PRETRAINED)/heldout-results.md; \
	cp $(MUSIC)/SOURCES.md $(PRETRAINED)/SOURCES.md
	$(BIN)/python tools/readme_results.py README.md heldout $(PRETRAINED)/heldout-results.md "make music pretrained"

# The BiLSTM input ablation (binary vs float, naive vs sinc) on the demo audio: a few minutes on 2 cores.
ablation: $(STAMP)
	$(BIN)/python tools/ablation.py --out data/ablation/results.md
	$(BIN)/python tools/readme_results.py README.md ablation data/ablation/results.md "make ablation"

clean-demo:
	rm -rf $(DEMO_OUT) $(DEMO_RUN)
