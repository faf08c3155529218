"""Write one section of docs/benchmarks.md without touching the others.

Each benchmark script owns a section between `<!-- section: NAME -->` and
`<!-- end: NAME -->` markers, so scripts can be rerun in any order.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

from genre_core.config import PROJECT_ROOT

BENCHMARKS_FILE = PROJECT_ROOT / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nEvery number below was measured by the command named in its section.\n"


def machine_description() -> str:
    """CPU model, cores, memory, GPU and library versions of this machine."""
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {gpu}; "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def write_section(name: str, markdown: str, path: Path = BENCHMARKS_FILE) -> None:
    """Replace (or append) the section `name` of the benchmarks file with `markdown`."""
    text = path.read_text(encoding="utf-8") if path.is_file() else HEADER
    block = f"<!-- section: {name} -->\n{markdown.strip()}\n<!-- end: {name} -->"
    pattern = re.compile(rf"<!-- section: {re.escape(name)} -->.*?<!-- end: {re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
