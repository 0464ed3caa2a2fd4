"""The dependency rules of STYLE.md, checked by import-linter (its contracts are in pyproject.toml)."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_dependencies_point_one_way_without_loops():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 kept, 0 broken" in run.stdout


def cited_in(text):
    """The code a guide names in backquotes: dotted names of the apps' modules and objects, and paths."""
    names = set(re.findall(r"`((?:portal|accounts|messaging|api)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)`", text))
    folders = "portal|accounts|messaging|api|tests|deploy|docs|bench"
    paths = set(re.findall(rf"`((?:{folders})/[A-Za-z0-9_./-]+)`", text))
    return names, paths


def resolves(dotted):
    """Whether `a.b.c` is a module, or an attribute of a module (a class, a function, a constant)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


@pytest.mark.parametrize("guide", ["docs/architecture.md", "CONTRIBUTING.md"])
def test_every_module_and_path_a_guide_names_exists(guide):
    from portal.models import AuditEvent

    names, paths = cited_in((ROOT / guide).read_text())
    names -= {event.value for event in AuditEvent.Event}  # `api.used` is an event, not a module
    assert names and [name for name in sorted(names) if not resolves(name)] == []
    assert [path for path in sorted(paths) if not (ROOT / path.rstrip("/")).exists()] == []


def test_the_readme_leads_to_the_guides_and_nothing_outside_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "docs/architecture.md" in readme and "CONTRIBUTING.md" in readme
    for name in ("README.md", "CONTRIBUTING.md", "docs/architecture.md"):
        assert "../shared" not in (ROOT / name).read_text(), name


def test_each_app_counts_under_scopes_of_its_own():
    """accounts.Throttle.Scope holds the sign-in's scopes only (each one counted somewhere in accounts,
    besides its registration); what messaging counts is in messaging/limits.py."""
    from accounts.models import Throttle
    from accounts.throttle import LIMITS
    from messaging import limits

    code = []
    for path in (ROOT / "accounts").rglob("*.py"):
        text = path.read_text()
        if path.name == "throttle.py":
            text = re.sub(r"\nregister\(\n    \{.*?\n\)\n", "", text, flags=re.S)
        code.append(text)
    counted = "\n".join(code)
    assert [s.name for s in Throttle.Scope if f"Scope.{s.name}" not in counted] == []
    assert set(LIMITS) == {*Throttle.Scope, *limits.Scope}
