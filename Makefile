# The README's commands: `make demo` runs the portal, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages: to build python-ldap and check SAML signatures (install), and the real parts
# the tests drive (test).
INSTALL_PACKAGES := libldap2-dev libsasl2-dev xmlsec1 gettext
TEST_PACKAGES := chromium slapd postgresql redis-server prometheus systemd rsyslog clamav-daemon swaks libnet-ssleay-perl nginx wrk
DEMO_ENV = DEBUG=1 EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend PORTAL_KEKS=$$(cat .demo-kek)

# The translations: locale/<language>/LC_MESSAGES/django.po in the repository, compiled here.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))

.PHONY: install system-packages messages demo test test-fast test-postgres lint bench clean

$(STAMP): pyproject.toml
	./script/install-system-packages $(INSTALL_PACKAGES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) messages

messages: $(MO_FILES)

%.mo: %.po | $(STAMP)
	msgfmt --check -o $@ $<


system-packages:
	./script/install-system-packages $(TEST_PACKAGES)

.demo-kek: | $(STAMP)
	$(BIN)/python manage.py generate_kek --id demo > .demo-kek

demo: install .demo-kek
	$(DEMO_ENV) $(BIN)/python manage.py migrate --no-input
	$(DEMO_ENV) $(BIN)/python manage.py demo_data
	$(DEMO_ENV) $(BIN)/python manage.py demo_message
	$(DEMO_ENV) ./script/run-demo

test: install system-packages lint
	$(BIN)/pytest $(PYTEST_ARGS)

# The tests that start no process (no server, browser, clamd, gunicorn or installer): a quick round.
test-fast: install
	$(BIN)/pytest -m "not system" $(PYTEST_ARGS)

# The same suite against PostgreSQL (a server on 127.0.0.1:5432 with trust auth, as on CI).
test-postgres: install system-packages
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(BIN)/pytest $(PYTEST_ARGS)

bench: install
	./script/install-system-packages wrk
	$(BIN)/python bench/run.py
	$(BIN)/python bench/mailbox.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/intake_uploads.py
	$(BIN)/python bench/api.py


# Style (ruff) and the contract modules' types (mypy with django-stubs; the files are in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
