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
# Where `make lock` finds torch's CPU build for requirements-backends.lock (it is not on PyPI).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

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
# Two stages: the generator with the log-spectral loss and band-energy weight 1 (GEN_BASE), then a fine-tune
# from its best weights with band-energy weight 3 (GEN_RUN), which brings the top octave to its level; GEN_RUN is
# then shipped as the default (tools/ship_model.py: training never writes into a shipped model folder).
GEN_BASE ?= models/gen-base
GEN_RUN ?= models/gen-bw3
GEN_BASE_TRAIN ?= --arch gen --epochs 3
GEN_TRAIN ?= --arch gen --epochs 5 --band-weight 3 --init-from $(GEN_BASE)
# The generator of every cutoff (cgen): the spectral stage, resumable across sessions (the same command goes on
# from the last finished epoch), for 21 epochs: its validation loss still fell by about 1% an epoch there, but its
# probe's LSD ratio had stopped at 0.44 since epoch 10, and the adversarial stage goes on with the same spectral
# loss beside the discriminator's. Then the adversarial fine-tune from its best weights. Every epoch scores 4
# songs' validation parts (6 in the adversarial stage) as 22.05 kHz, 16 kHz and MP3 inputs (--probe:
# history.csv, probe.json); the adversarial stage, which trades some of the spectral loss for how the band
# sounds, keeps and stops by that probe's score (--select probe: ViSQOL's gain minus the LSD ratio). Its
# discriminator is sized for 2 CPU cores: 8 channels, judging 8192 of each window's 32768 samples (a step 3 times
# a spectral one; 16 channels on whole windows made it 18 times); its epochs are 20000 windows (about 35 minutes
# there, a third of a pass), so that it is checkpointed and probed within a working session.
# tools/eval_kinds.py --model DIR --out data/kinds-DIR scores a candidate per input kind on the held-out songs.
CGEN_BASE ?= models/cgen-base
CGEN_RUN ?= models/cgen-gan
CGEN_BASE_TRAIN ?= --arch cgen --epochs 21 --patience 4 --probe 4
CGEN_TRAIN ?= --arch cgen --epochs 60 --patience 6 --probe 6 --select probe --adv-weight 0.5 --disc-channels 8 \
              --disc-segment 8192 --epoch-windows 20000 --init-from $(CGEN_BASE)
# The earlier default (spectral band replication), kept for the held-out comparison.
SBR_MODEL ?= models/sbr
SBR_TRAIN ?= --arch sbr --epochs 4 --wave-weight 500
# ViSQOL on this many seconds from the middle of each held-out song (make visqol installs it).
VISQOL_SECONDS ?= 10
# Held-out songs of the listening report (spectrograms and players; the tables score every song).
LISTEN ?= wesnoth-1.16-music/battle.wav openclonk-data/Offshore.wav xmoto-data/foxrun.wav \
          supertuxkart-data/music/klabauter_dance.wav widelands-data/music/ingame_07.wav

.PHONY: demo test venv lock clean-demo readme-results bench music pretrained ablation visqol backends test-backends \
        blog blog-readme eval-kinds listen-kinds demo15 cgen

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
	.venv-lock/bin/uv pip compile --quiet --generate-hashes --python-version $(PYTHON_VERSION) \
	    --python-platform x86_64-manylinux_2_28 --no-header -c $(LOCK) --output-file requirements-visqol.lock \
	    requirements-visqol.txt
	.venv-lock/bin/uv pip compile --quiet --generate-hashes --python-version $(PYTHON_VERSION) \
	    --python-platform x86_64-manylinux_2_28 --no-header -c $(LOCK) --extra-index-url $(TORCH_INDEX) \
	    --index-strategy unsafe-best-match --output-file requirements-backends.lock requirements-backends.txt
	sed -i '1i # Made by make lock from requirements-backends.txt (requirements.lock as constraints).\n--extra-index-url $(TORCH_INDEX)' \
	    requirements-backends.lock
	@echo "wrote $(LOCK); run make test before committing it"

# What `make test-backends` runs under JAX and PyTorch: the models, a training step, save/load, prediction.
BACKEND_TESTS ?= tests/test_gen.py tests/test_sbr.py tests/test_losses.py tests/test_predict.py \
                 tests/test_runtime.py tests/test_resume.py tests/test_api.py

# The blog's experiment at full size: one full-band song of the training corpus (make music), first 80% to
# train and last 20% to test, the blog's network (BiLSTM 300 - Dense 500 - BiLSTM 300 - Dense 500 - Dense 20
# - Dense 1, RMSprop 1e-4, MAE), trained until the validation MAE stops improving (resumable: run it again),
# then prediction and evaluation into the model folder.
# On 2 CPU cores the data is scaled, not the network: a 60 s mono excerpt (BLOG_EXCERPT) of the song, and the
# blog's learning rate held constant (its per-batch decay would leave it at 1/200 of the start after the
# 7,000 batches two hours allow). On a GPU, the whole song as the blog did: make blog BLOG_EXCERPT=
# BLOG_TRAIN="--epochs 200 --patience 3 --decay 0.03".
BLOG_SONG    ?= data/music/train/wesnoth-1.16-music/frantic.wav
BLOG_EXCERPT ?= --start 40 --seconds 60 --mono
BLOG_OUT     ?= data/blog-run
BLOG_MODEL   ?= models/bilstm-full
# The run folder the training writes (shipped models are read-only; tools/ship_model.py copies it into BLOG_MODEL).
BLOG_RUN     ?= $(BLOG_OUT)/bilstm-full
BLOG_TRAIN   ?= --epochs 200 --patience 3 --decay 0

blog: $(STAMP)
	@test -f $(BLOG_SONG) || { echo "$(BLOG_SONG): missing; make music builds the corpus, or set BLOG_SONG" >&2; exit 2; }
	mkdir -p $(BLOG_OUT)/original
	$(if $(strip $(BLOG_EXCERPT)),$(BIN)/python tools/excerpt.py $(BLOG_SONG) $(BLOG_OUT)/original/$(notdir $(BLOG_SONG)) $(BLOG_EXCERPT),cp -f $(BLOG_SONG) $(BLOG_OUT)/original/)
	$(BIN)/python 10-scan.py --input $(BLOG_OUT)/original --output $(BLOG_OUT)/22k
	test -f $(BLOG_OUT)/dataset/meta.json || \
	    $(BIN)/python 20-make-dataset.py --input $(BLOG_OUT)/22k --output $(BLOG_OUT)/dataset
	@set -e; if [ -f $(BLOG_MODEL)/best.onnx ] && [ ! -f $(BLOG_RUN)/config.json ]; then \
	    echo "$(BLOG_MODEL): shipped trained; re-evaluating it (make blog BLOG_RUN=... trains a run of its own)"; \
	else \
	    $(BIN)/python rnn-super-resolution.py --train --quiet --dataset $(BLOG_OUT)/dataset --model $(BLOG_RUN) \
	        $(BLOG_TRAIN); \
	    $(BIN)/python tools/ship_model.py $(BLOG_RUN) $(BLOG_MODEL); \
	fi
	$(BIN)/python rnn-super-resolution.py --predict --model $(BLOG_MODEL) --output $(BLOG_OUT)/predicted --overwrite
	$(BIN)/python eval.py --predicted $(BLOG_OUT)/predicted --models $(BLOG_MODEL) --runtime onnx-int8 \
	    --json $(BLOG_MODEL)/results.json \
	    --markdown $(BLOG_MODEL)/results.md --plots $(BLOG_MODEL)/plots
	$(BIN)/python tools/blog_report.py $(BLOG_MODEL) $(BLOG_MODEL)/results.json $(BLOG_MODEL)/blog.md \
	    --data "$(BLOG_SONG)$(if $(strip $(BLOG_EXCERPT)), cut by tools/excerpt.py $(strip $(BLOG_EXCERPT)))"

# The README's section "The blog's experiment" from the last make blog.
blog-readme:
	$(BIN)/python tools/readme_results.py README.md blog $(BLOG_MODEL)/blog.md "make blog"

# Optional: JAX and PyTorch (CPU builds) beside TensorFlow, pinned (requirements-backends.lock, made by
# `make lock`), for KERAS_BACKEND=jax or torch.
backends: $(VENV)/.backends

$(VENV)/.backends: $(STAMP) requirements-backends.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-backends.lock
	touch $@

# The tests above under each other backend, then a network saved under each backend loaded under the others.
test-backends: $(VENV)/.backends
	@set -e; for b in jax torch; do echo "== KERAS_BACKEND=$$b"; \
	    KERAS_BACKEND=$$b $(BIN)/python -m pytest -q -rs -n auto --maxprocesses 4 --dist worksteal $(BACKEND_TESTS); done
	$(BIN)/python -m pytest -q -rs tests/test_backends.py

# Optional: ViSQOL for eval.py --visqol, pinned like the rest (requirements-visqol.lock, made by `make lock`).
visqol: $(VENV)/.visqol

$(VENV)/.visqol: $(STAMP) requirements-visqol.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-visqol.lock
	touch $@

demo: $(STAMP)
	@start=$$(date +%s); set -e; \
	$(BIN)/python 10-scan.py --input $(DEMO_IN) --output $(DEMO_OUT)/22k; \
	$(BIN)/python 20-make-dataset.py --input $(DEMO_OUT)/22k --output $(DEMO_OUT)/dataset; \
	$(BIN)/python rnn-super-resolution.py --train --quiet --dataset $(DEMO_OUT)/dataset --model $(DEMO_RUN) $(DEMO_TRAIN); \
	$(BIN)/python rnn-super-resolution.py --predict --model $(DEMO_RUN) --output $(DEMO_OUT)/predicted --overwrite; \
	$(BIN)/python eval.py --predicted $(DEMO_OUT)/predicted --models $(PRETRAINED) --json $(DEMO_OUT)/eval.json \
	    --markdown $(DEMO_OUT)/results.md --plots $(DEMO_OUT)/plots --report $(DEMO_OUT)/report.html; \
	echo "demo finished in $$(( $$(date +%s) - start )) s"

# The experiment of the blog's README: the demo audio from 15 kHz (10-scan.py --rate 15000), the same small
# BiLSTM as the demo; the stages follow the scan's rate. README block "demo15".
DEMO15_OUT ?= data/demo-run-15k
DEMO15_RUN ?= models/demo-15k
demo15: $(STAMP)
	@start=$$(date +%s); set -e; \
	$(BIN)/python 10-scan.py --input $(DEMO_IN) --output $(DEMO15_OUT)/15k --rate 15000; \
	$(BIN)/python 20-make-dataset.py --input $(DEMO15_OUT)/15k --output $(DEMO15_OUT)/dataset; \
	$(BIN)/python rnn-super-resolution.py --train --quiet --dataset $(DEMO15_OUT)/dataset --model $(DEMO15_RUN) $(DEMO_TRAIN); \
	$(BIN)/python rnn-super-resolution.py --predict --model $(DEMO15_RUN) --output $(DEMO15_OUT)/predicted --overwrite; \
	$(BIN)/python eval.py --predicted $(DEMO15_OUT)/predicted --mean-only --markdown $(DEMO15_OUT)/results-mean.md; \
	$(BIN)/python tools/readme_results.py README.md demo15 $(DEMO15_OUT)/results-mean.md "make demo15"; \
	echo "demo15 finished in $$(( $$(date +%s) - start )) s"

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

# Train the default model (gen) on $(MUSIC)/train into $(GEN_RUN), resumably (re-run after an interruption: it
# continues), ship it as $(PRETRAINED),
# score it on $(MUSIC)/heldout beside the baselines and the earlier sbr default, and write the results into
# the model folder and the README. Hours on 2 CPU cores: see the README.
pretrained: $(STAMP) $(VENV)/.visqol
	set -e; \
	$(BIN)/python 10-scan.py --input $(MUSIC)/train --output $(MUSIC_OUT)/train-22k; \
	$(BIN)/python 10-scan.py --input $(MUSIC)/heldout --output $(MUSIC_OUT)/heldout-22k; \
	test -f $(MUSIC_OUT)/gen-dataset/meta.json || $(BIN)/python 20-make-dataset.py --input $(MUSIC_OUT)/train-22k \
	    --output $(MUSIC_OUT)/gen-dataset --upsample sinc --encoding pcm --window 32768; \
	test -f $(GEN_RUN)/last.keras || $(BIN)/python rnn-super-resolution.py --train --quiet \
	    --dataset $(MUSIC_OUT)/gen-dataset --model $(GEN_BASE) $(GEN_BASE_TRAIN); \
	$(BIN)/python rnn-super-resolution.py --train --quiet --dataset $(MUSIC_OUT)/gen-dataset --model $(GEN_RUN) \
	    $(GEN_TRAIN); \
	$(BIN)/python tools/ship_model.py $(GEN_RUN) $(PRETRAINED); \
	$(BIN)/python eval.py --scan $(MUSIC_OUT)/heldout-22k --whole --models $(PRETRAINED) $(SBR_MODEL) \
	    --visqol $(VISQOL_SECONDS) --json $(PRETRAINED)/heldout-results.json \
	    --markdown $(PRETRAINED)/heldout-results.md; \
	$(BIN)/python eval.py --scan $(MUSIC_OUT)/heldout-22k --whole --models $(PRETRAINED) $(SBR_MODEL) \
	    --songs $(LISTEN) --clip-seconds 20 --plots $(MUSIC_OUT)/plots --report $(MUSIC_OUT)/report.html \
	    --mean-only > /dev/null; \
	mkdir -p $(PRETRAINED)/plots; cp $(MUSIC_OUT)/plots/*.png $(PRETRAINED)/plots/; \
	cp $(MUSIC)/SOURCES.md $(PRETRAINED)/SOURCES.md
	$(BIN)/python tools/readme_results.py README.md heldout $(PRETRAINED)/heldout-results.md "make music pretrained"

# The generator of every cutoff: dataset (the corpus' 44.1 kHz windows; the inputs are remade for every batch),
# the spectral stage, then the adversarial one. Hours on 2 CPU cores; interrupt and re-run at will.
cgen: $(STAMP) $(VENV)/.visqol
	set -e; \
	$(BIN)/python 10-scan.py --input $(MUSIC)/train --output $(MUSIC_OUT)/train-22k; \
	test -f $(MUSIC_OUT)/gen-dataset/meta.json || $(BIN)/python 20-make-dataset.py --input $(MUSIC_OUT)/train-22k \
	    --output $(MUSIC_OUT)/gen-dataset --upsample sinc --encoding pcm --window 32768; \
	$(BIN)/python rnn-super-resolution.py --train --quiet --dataset $(MUSIC_OUT)/gen-dataset --model $(CGEN_BASE) \
	    $(CGEN_BASE_TRAIN); \
	$(BIN)/python rnn-super-resolution.py --train --quiet --dataset $(MUSIC_OUT)/gen-dataset --model $(CGEN_RUN) \
	    $(CGEN_TRAIN)

# The held-out songs in every form a music folder holds (22.05/16/15/32 kHz, MP3 128/320, AAC 128, Opus 96, full
# band) through superres predict with the default model: one row per kind, into the README (KINDS_OPTIONS: e.g.
# --limit 10 --seconds 30 for a quick look; --visqol 10 after make visqol).
KINDS_OPTIONS ?=
eval-kinds: $(STAMP)
	$(BIN)/python tools/eval_kinds.py --songs $(MUSIC)/heldout --out data/kinds --markdown data/kinds/results.md \
	    $(KINDS_OPTIONS)
	$(BIN)/python tools/readme_results.py README.md kinds data/kinds/results.md "make eval-kinds"

# The listening report by input kind: the $(LISTEN) songs (20 s from each middle) as 15 kHz, 22.05 kHz and MP3
# 128 kbps inputs, restored by the default model (KINDS_MODEL=DIR for another), beside the originals.
KINDS_MODEL ?=
listen-kinds: $(STAMP) $(VENV)/.visqol
	$(BIN)/python tools/eval_kinds.py --songs $(MUSIC)/heldout --out data/kinds-listen --only $(LISTEN) \
	    --kinds "15 kHz" "22.05 kHz" "MP3 128 kbps" --seconds 20 --visqol 0 --markdown data/kinds-listen/results.md \
	    --report data/kinds-listen/report.html --clip-seconds 10 $(if $(KINDS_MODEL),--model $(KINDS_MODEL))

# The BiLSTM input ablation (binary vs float, naive vs sinc) on the demo audio: a few minutes on 2 cores.
ablation: $(STAMP)
	$(BIN)/python tools/ablation.py --out data/ablation/results.md
	$(BIN)/python tools/readme_results.py README.md ablation data/ablation/results.md "make ablation"

clean-demo:
	rm -rf $(DEMO_OUT) $(DEMO_RUN) $(DEMO15_OUT) $(DEMO15_RUN)
