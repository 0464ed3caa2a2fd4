"""bench/RESULTS.md is made of sections, one a benchmark script: each rewrites its own and keeps the rest.

`make test` runs every benchmark once on tiny sizes (BENCH_SMOKE=<folder>: seconds each, the sections
written into that folder, never into bench/), so that none can stop working unnoticed.
"""

import os
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TITLE = "# Benchmark results"
SMOKE = os.environ.get("BENCH_SMOKE", "")


def sized(full, smoke):
    """A size or a duration: the benchmark's own, or a tiny one in the smoke run."""
    return smoke if SMOKE else full


def write_section(heading, lines, path=RESULTS):
    """Replace the section under `## heading` (or add it at the end) with these lines."""
    if SMOKE:
        path = Path(SMOKE) / path.name
    text = path.read_text() if path.exists() else TITLE + "\n"
    sections = text.split("\n## ")
    head, rest = sections[0], sections[1:]
    body = f"{heading}\n\n" + "\n".join(lines).strip() + "\n"
    for i, section in enumerate(rest):
        if section.split("\n", 1)[0] == heading:
            rest[i] = body
            break
    else:
        rest.append(body)
    path.write_text("\n## ".join([head.rstrip() + "\n", *[s.rstrip() + "\n" for s in rest]]))
