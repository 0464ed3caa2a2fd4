"""Every message of the code is translated into every language of the portal."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings

from .conftest import TEST_KEK

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = [code for code, _name in settings.LANGUAGES if code != "en"]


@pytest.fixture(scope="module")
def catalogues(tmp_path_factory):
    """The repository's .po files merged with every message the code has now (makemessages, on a copy)."""
    copy = tmp_path_factory.mktemp("project")
    for name in ("accounts", "messaging", "portal", "api", "templates", "locale"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    shutil.copy(ROOT / "manage.py", copy / "manage.py")
    env = {**os.environ, "PORTAL_KEKS": TEST_KEK, "CACHE_DIR": str(copy / "cache")}
    command = [sys.executable, "manage.py", "makemessages", "--no-obsolete", "--ignore=cache"]
    command += [f"--locale={code}" for code in LANGUAGES]
    subprocess.run(command, cwd=copy, env=env, check=True, capture_output=True, timeout=300)
    return {
        code: polib.pofile(str(copy / "locale" / code / "LC_MESSAGES" / "django.po")) for code in LANGUAGES
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_of_the_code_is_translated(catalogues, language):
    catalogue = catalogues[language]
    missing = [entry.msgid for entry in catalogue.untranslated_entries()]
    fuzzy = [entry.msgid for entry in catalogue.fuzzy_entries()]
    assert (missing, fuzzy) == ([], [])
    assert len(catalogue.translated_entries()) > 600


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogues_compile_and_keep_their_placeholders(language):
    path = ROOT / "locale" / language / "LC_MESSAGES" / "django.po"
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr


def test_the_exact_english_failure_words_have_a_translation_in_each_language():
    from django.utils import translation

    from accounts.login import GENERIC_FAILURE, generic_failure_message

    assert GENERIC_FAILURE == (
        "Invalid username, password or permissions. Please check you are using the correct URL."
    )
    with translation.override("en"):
        assert generic_failure_message() == GENERIC_FAILURE
    seen = set()
    for language in LANGUAGES:
        with translation.override(language):
            seen.add(generic_failure_message())
    assert len(seen) == len(LANGUAGES) and GENERIC_FAILURE not in seen
