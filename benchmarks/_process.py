"""What the benchmarks' whole processes run with.

An installed package has its modules' bytecode compiled. Where ``PYTHONDONTWRITEBYTECODE``
is set (some shells and CI images set it), every ``forecast`` process would compile its own
modules again (about 40 ms, more for a report), while ``python -c "import pandas"`` reads
pandas' compiled bytecode: the whole processes run without it, after a warm-up run.
"""

from __future__ import annotations

import os


def environment(**more: str) -> dict[str, str]:
    """This process's environment without ``PYTHONDONTWRITEBYTECODE``, with ``more`` set."""
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, **more}
