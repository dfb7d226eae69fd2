"""Random scenarios and evidence logs for the oracle and property tests.

Plain Python and a seeded ``random.Random``: no code from ``forecast``. Each case is a
scenario dict (the YAML file's structure), a list of evidence rows (dicts of CSV text)
and an as-of date (or ``None``).

Optionally (on by default) entries carry a ``story`` from a small pool, so that one
story is often repeated on one event (an echo, discounted by ``settings.echo_correlation``)
and sometimes told on two events (not an echo); scenarios then sometimes set
``echo_correlation`` (otherwise its default, 1, applies).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

START = dt.date(2025, 1, 1)
VERBAL = ("negligible", "weak", "moderate", "strong", "very_strong")
RELIABILITY = "ABCDEF"
CREDIBILITY = "123456"
STORIES = ("us-freeze-threat", "talks-stall")
ECHO_CORRELATIONS = (0.0, 0.25, 0.5, 0.8, 1.0)


def random_prior(rng: random.Random) -> dict[str, Any]:
    """One binary branch prior in one of the documented forms."""
    form = rng.choices(["p", "p0", "beta", "interval"], weights=[5, 1, 2, 2])[0]
    if form == "p":
        return {"p": round(rng.uniform(0.02, 0.98), 4), "sd": round(rng.uniform(0.05, 2.5), 3)}
    if form == "p0":
        return {"p": round(rng.uniform(0.02, 0.98), 4), "sd": 0}
    if form == "beta":
        return {"beta": [round(rng.uniform(0.5, 20), 2), round(rng.uniform(0.5, 20), 2)]}
    lo = rng.uniform(0.01, 0.9)
    hi = rng.uniform(lo + 0.02, 0.99)
    return {"interval": [round(lo, 3), round(hi, 3)]}


def random_scenario(rng: random.Random, n_events: int | None = None, max_parents: int = 2,
                    resolutions: bool = True, drift: bool = True, echo: bool = True) -> dict[str, Any]:
    """A random DAG of binary events, each with 0-2 parents among the earlier events.

    ``echo``: sometimes set ``settings.echo_correlation`` (else the default 1 applies).
    """
    n_events = n_events or rng.randint(1, 5)
    events: list[dict[str, Any]] = []
    names = [f"e{i}" for i in range(n_events)]
    for i, name in enumerate(names):
        k = 0 if i == 0 else rng.randint(0 if i > 1 else 1, min(max_parents, i))
        parents = rng.sample(names[:i], k)
        event: dict[str, Any] = {"id": name, "question": f"Does {name} happen by 2025-12-31?"}
        if parents:
            event["parents"] = parents
            combos = itertools.product(*([["yes", "no"]] * len(parents)))
            event["prior"] = {";".join(f"{p}={o}" for p, o in zip(parents, c, strict=True)): random_prior(rng) for c in combos}
        else:
            event["prior"] = random_prior(rng)
        if resolutions and rng.random() < 0.12:
            event["resolution"] = {"outcome": rng.choice(["yes", "no"]),
                                   "date": START + dt.timedelta(days=rng.randint(0, 40))}
        events.append(event)
    settings: dict[str, Any] = {
        "start": START,
        "interval": rng.choice([0.8, 0.9, 0.95]),
        "drift_per_day": round(rng.uniform(0.0, 0.03), 4) if drift and rng.random() < 0.6 else 0.0,
        "seed": rng.randint(0, 10_000),
        "draws": 400,
    }
    if echo and rng.random() < 0.5:
        settings["echo_correlation"] = rng.choice(ECHO_CORRELATIONS)
    return {"id": "random", "title": "A random scenario", "settings": settings, "events": events}


def random_entries(rng: random.Random, scenario: dict[str, Any], n: int | None = None,
                   observations: bool = True, retractions: bool = True, signals: bool = True,
                   stories: bool = True) -> list[dict[str, str]]:
    """Random signals and observations (with random grading, ``given`` and ``story``), and retractions.

    An observation sometimes names the outcome it reads (``favours``).
    """
    events = scenario["events"]
    rows: list[dict[str, str]] = []
    n = rng.randint(0, 12) if n is None else n
    for i in range(n):
        event = rng.choice(events)
        parents = event.get("parents", [])
        given = [(p, rng.choice(["yes", "no"])) for p in parents if rng.random() < 0.5]
        rng.shuffle(given)  # any parent order is accepted in the log
        row = {
            "id": f"E{i:03d}",
            "date": str(START + dt.timedelta(days=rng.randint(0, 40))),
            "event": event["id"],
            "given": ";".join(f"{p}={o}" for p, o in given),
            "summary": f"entry {i}",
        }
        if rng.random() < 0.8:
            row["reliability"] = rng.choice(RELIABILITY)
            row["credibility"] = rng.choice(CREDIBILITY)
        if observations and (not signals or rng.random() < 0.2):
            row["kind"] = "observation"
            row["probability"] = str(round(rng.uniform(0.03, 0.97), 3))
            if rng.random() < 0.7:
                row["prob_sd"] = str(round(rng.uniform(0.1, 2.0), 3))
            if rng.random() < 0.3:
                row["favours"] = rng.choice(["yes", "no"])
        else:
            row["kind"] = rng.choice(["signal", ""])
            row["favours"] = rng.choice(["yes", "no"])
            row["lr"] = rng.choice(VERBAL) if rng.random() < 0.25 else str(round(rng.uniform(0.2, 8.0), 3))
            if rng.random() < 0.5:
                row["lr_sd"] = str(round(rng.uniform(0.0, 1.5), 3))
        if stories and rng.random() < 0.45:
            row["story"] = rng.choice(STORIES)
        rows.append(row)
    if retractions and rows and rng.random() < 0.3:
        target = rng.choice(rows)
        day = dt.date.fromisoformat(target["date"]) + dt.timedelta(days=rng.randint(0, 10))
        rows.append({"id": "R001", "date": str(day), "event": target["event"], "summary": "withdrawn",
                     "retracts": target["id"]})
    return rows


def random_case(seed: int, **options: Any) -> tuple[dict[str, Any], list[dict[str, str]], str | None]:
    """A scenario, its log and an as-of date (``None`` = the last entry's date)."""
    rng = random.Random(seed)
    scenario = random_scenario(rng, **{k: v for k, v in options.items()
                                       if k in ("n_events", "max_parents", "resolutions", "drift", "echo")})
    rows = random_entries(rng, scenario, **{k: v for k, v in options.items()
                                            if k in ("n", "observations", "retractions", "signals", "stories")})
    if rows and rng.random() < 0.2:
        del scenario["settings"]["start"]  # default: the earliest entry's date
    first = min((dt.date.fromisoformat(r["date"]) for r in rows), default=START)
    earliest = START if "start" in scenario["settings"] else first
    as_of = None if rows and rng.random() < 0.3 else str(earliest + dt.timedelta(days=rng.randint(0, 45)))
    return scenario, rows, as_of


def shuffle_file_order(rows: list[dict[str, str]], rng: random.Random) -> list[dict[str, str]]:
    """The rows in a random file order that keeps what file order decides.

    Entries are applied in date order, ties in file order; file order matters only for
    which report of a story on one event comes first on a date. So reports sharing
    (event, story, date) keep their relative order; everything else is shuffled.
    """
    out = list(rows)
    rng.shuffle(out)
    groups: dict[tuple[str, str, str], list[int]] = {}
    for position, row in enumerate(out):
        if row.get("story"):
            groups.setdefault((row["event"], row["story"], row["date"]), []).append(position)
    index = {id(row): i for i, row in enumerate(rows)}
    for positions in groups.values():
        members = sorted((out[p] for p in positions), key=lambda row: index[id(row)])
        for p, row in zip(positions, members, strict=True):
            out[p] = row
    return out
