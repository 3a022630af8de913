# `make demo`, `make test-fast` (the edit-test loop) and `make test` (what CI runs); each builds .venv from
# requirements.lock once.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo-output
DEMO_ROWS ?= 600
DEMO_SEED ?= 5
# The demo model's bar checks that it learned (chance is 1/30), not its quality: a 3-epoch full-labels model on
# the demo's 600 synthetic items clears it by 0.15 at least, and training is deterministic for a seed
# (tests/test_demo.py); float32, so that it is the same model on every CPU (--precision auto picks bfloat16
# where the CPU has it). The test suite's shared trained model (tests/conftest.py, `trained`) is this demo model.
DEMO_TRAIN_FLAGS ?= --epochs 3 --batch-size 8 --bn-momentum 0.9 --precision float32 --bless-min-accuracy 0.5

.PHONY: venv test test-fast demo bench clean

venv: $(STAMP)

$(STAMP): requirements.lock setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==24.3.1
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --use-pep517 -e .
	touch $(STAMP)

# Two pytest-xdist workers, each file's tests in one of them (module fixtures are built once); the session fixtures
# are built once for both (tests/conftest.py, `_once`). pytest exits 5 when it collected no test: that is
# reported, not hidden, but is not a failure of the suite.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile; rc=$$?; if [ $$rc -eq 5 ]; then echo 'pytest collected no tests'; exit 0; fi; exit $$rc

# Everything but the tests marked slow (pytest.ini): under 3 minutes on 2 cores.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow'

demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/fashion-pipeline synth --output $(DEMO)/catalog --rows $(DEMO_ROWS) --seed $(DEMO_SEED) --show-attributes
	$(BIN)/fashion-pipeline validate --catalog $(DEMO)/catalog --output $(DEMO)/validation
	$(BIN)/fashion-pipeline prepare --catalog $(DEMO)/catalog --output $(DEMO)/prepared \
		--direct_running_mode=multi_processing --direct_num_workers=2
	$(BIN)/fashion-pipeline train --data $(DEMO)/prepared --model-dir $(DEMO)/model $(DEMO_TRAIN_FLAGS)
	$(BIN)/fashion-pipeline score --catalog $(DEMO)/catalog --model $(DEMO)/model/export \
		--output $(DEMO)/scores
	$(BIN)/fashion-pipeline nightly --catalog $(DEMO)/catalog --model $(DEMO)/model/export \
		--state $(DEMO)/state
	$(BIN)/fashion-pipeline report --prepared $(DEMO)/prepared --validation $(DEMO)/validation \
		--model-dir $(DEMO)/model --scores $(DEMO)/scores --output $(DEMO)/report.html
	@echo
	@echo "Outputs:"
	@echo "  synthetic catalog   $(DEMO)/catalog/styles.csv, $(DEMO)/catalog/images/"
	@echo "  validation report   $(DEMO)/validation/manifest.json, anomalies.txt, stats.pb"
	@echo "  prepared data       $(DEMO)/prepared/tfrecords/, labels.txt, manifest.json, unknown.csv"
	@echo "  quarantined rows    $(DEMO)/validation/quarantine/, $(DEMO)/prepared/quarantine/"
	@echo "  trained model       $(DEMO)/model/: metrics.json, classification_report.txt, confusion_matrix.png,"
	@echo "                      misclassified.png, blessing.json, training_log.csv, logs/ (TensorBoard)"
	@echo "  catalog scores      $(DEMO)/scores/predictions-*.csv / .parquet, summary.txt, unknown_labelled.png"
	@echo "  nightly state       $(DEMO)/state/CURRENT -> $(DEMO)/state/runs/<run-id>/catalog-*.csv, summary.txt"
	@echo "  report              $(DEMO)/report.html (self-contained; open it in a browser)"
	@echo "  serving SavedModel  $(DEMO)/model/export/<version>/ (takes JPEG bytes; load with tf.saved_model.load)"

# Not part of `make test`: minutes on the synthetic catalog, hours on the real one
# (make bench CATALOG=../shared/data/fashion-product-images-small). Writes BENCHMARKS.md and BENCHMARKS.json.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py $(if $(CATALOG),--catalog $(CATALOG)) $(BENCH_ARGS)

clean:
	rm -rf $(DEMO) build *.egg-info
