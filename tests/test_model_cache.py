"""The compiled model on disk (``forecast.model_cache``): where it lives, what keys it, and that it
never changes a result: the same seed gives the same tables compiled, loaded, or after a corrupt
entry (which is ignored and rewritten).

Every test points the cache at a temporary directory (``FORECAST_CACHE_DIR``): nothing is
written to the user's own cache.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from test_model import _two_event_files

from forecast import model_cache


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(folder))
    monkeypatch.delenv("FORECAST_CACHE", raising=False)
    return folder


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    assert model_cache.cache_dir() == tmp_path / "cache"
    monkeypatch.setenv("FORECAST_CACHE", "0")
    assert model_cache.cache_dir() is None
    monkeypatch.delenv("FORECAST_CACHE")
    monkeypatch.delenv("FORECAST_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_cache.cache_dir() == tmp_path / "xdg" / "scenario-forecast"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # the XDG spec: ignored unless absolute
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert model_cache.cache_dir() == tmp_path / "home" / ".cache" / "scenario-forecast"


def test_a_directory_others_may_write_to_is_not_used(private_cache):
    assert model_cache._usable_dir(create=True) == private_cache
    assert private_cache.stat().st_mode & 0o777 == 0o700
    private_cache.chmod(0o777)
    assert model_cache._usable_dir(create=True) is None
    private_cache.chmod(0o700)
    assert model_cache._usable_dir(create=False) == private_cache


def test_the_key_changes_with_what_shapes_the_code(monkeypatch):
    structure, caps = ("normal", "fixed", 3, 3, 2, True), {"ticks": 16, "entries": 16}
    key = model_cache.model_key(structure, caps, ["z_prior"])
    assert key == model_cache.model_key(structure, dict(reversed(caps.items())), ["z_prior"])
    assert len(key) == 64 and int(key, 16) >= 0
    others = [model_cache.model_key(("student", *structure[1:]), caps, ["z_prior"]),
              model_cache.model_key(structure, {**caps, "ticks": 32}, ["z_prior"]),
              model_cache.model_key(structure, caps, ["z_prior", "z_drift"])]
    monkeypatch.setenv("NUMBA_OPT", "1")
    others.append(model_cache.model_key(structure, caps, ["z_prior"]))
    monkeypatch.delenv("NUMBA_OPT")
    monkeypatch.setattr(model_cache, "_versions", lambda: {"numba": "0.0"})
    others.append(model_cache.model_key(structure, caps, ["z_prior"]))
    assert len({key, *others}) == 1 + len(others)


@pytest.mark.parametrize("content", [b"", b"garbage", model_cache.MAGIC + b"\xff" * 8])
def test_an_unreadable_entry_is_ignored(private_cache, content):
    key = "0" * 64
    private_cache.mkdir(mode=0o700)
    (private_cache / f"nutpie-{key}.bin").write_bytes(content)
    with pytest.raises(model_cache._Unusable):
        model_cache._read(key)
    with pytest.raises(model_cache._Unusable):
        model_cache._read("1" * 64)  # missing


def test_an_object_that_is_not_elf_is_refused():
    with pytest.raises(model_cache._Unusable):
        model_cache._undefined_symbols(b"\xcf\xfa\xed\xfe" + b"\0" * 60)  # Mach-O


def _fit(argv: list[str], env: dict[str, str]) -> dict:
    code = ("import json, forecast as fc\nfrom forecast import model as fm\n"
            f"s = fc.load_scenario({argv[1]!r}); log = fc.load_evidence({argv[3]!r}, s)\n"
            "r = fc.make_forecast(s, log, '2025-02-15', method='mcmc', seed=5, draws=300, tune=300)\n"
            "how = [e.get('how') for e in fm._CACHE.values()]\n"
            "tables = ''.join(fc.format_table(r.table(v), 'csv') for v in ('branches', 'paths', 'marginals'))\n"
            "print(json.dumps({'how': how, 'tables': tables}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    return {**json.loads(done.stdout.splitlines()[-1]), "stages": [line for line in done.stderr.splitlines()
                                                                   if line.startswith("forecast: ")]}


def test_same_seed_same_tables_compiled_loaded_and_after_a_corrupt_entry(tmp_path, private_cache):
    argv = _two_event_files(tmp_path)
    env = {**os.environ, "FORECAST_CACHE_DIR": str(private_cache), "FORECAST_PROGRESS": "1"}
    cold = _fit(argv, env)
    assert cold["how"] == ["compiled"]
    assert cold["stages"][0] == "forecast: compiling the model (once: later runs load it from the cache)"
    entries = list(private_cache.glob("nutpie-*.bin"))
    assert len(entries) == 1 and private_cache.stat().st_mode & 0o777 == 0o700
    assert not [p for p in private_cache.iterdir() if p.suffix == ".tmp"]  # written atomically
    warm = _fit(argv, env)
    assert warm["how"] == ["loaded"]
    assert warm["stages"][0] == "forecast: loading the compiled model from the cache"
    for run in (cold, warm):
        assert run["stages"][1] == "forecast: sampling: 0/1200"
        assert run["stages"][-2:] == ["forecast: sampling: 1200/1200 (100%)", "forecast: computing tables"]
    assert warm["tables"] == cold["tables"]
    data = bytearray(entries[0].read_bytes())  # flip bytes in the machine code
    rng = random.Random(0)
    for _ in range(16):
        data[rng.randrange(len(data) // 2, len(data))] ^= 0xFF
    entries[0].write_bytes(bytes(data))
    repaired = _fit(argv, {**env, "FORECAST_PROGRESS": "0"})  # progress does not change the draws either
    assert repaired["how"] == ["compiled"] and repaired["stages"] == []
    assert repaired["tables"] == cold["tables"]
    key = entries[0].name[len("nutpie-"): -len(".bin")]
    header, _ = model_cache._read(key)  # rewritten whole
    assert header["key"] == key
    meta, functions = model_cache._load(key)  # loads in this process too, and passes its self-test
    assert meta == header["meta"] and all(f.address for f in functions)
    # code that does not reproduce the log density it recorded (intact checksums) is refused
    data = entries[0].read_bytes()
    start = len(model_cache.MAGIC) + 8
    (size,) = struct.unpack_from("<Q", data, len(model_cache.MAGIC))
    header["test"] = "0" * 64
    head = json.dumps(header).encode()
    entries[0].write_bytes(model_cache.MAGIC + struct.pack("<Q", len(head)) + head + data[start + size:])
    assert model_cache._read(key)[0]["test"] == "0" * 64
    with pytest.raises(model_cache._Unusable, match="does not reproduce"):
        model_cache._load(key)


def test_old_entries_are_pruned(private_cache, monkeypatch):
    private_cache.mkdir(mode=0o700)
    for i in range(5):
        path = private_cache / f"nutpie-{i:064d}.bin"
        path.write_bytes(b"x")
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    (private_cache / "notes.txt").write_text("mine", encoding="utf-8")
    monkeypatch.setattr(model_cache, "MAX_ENTRIES", 2)
    model_cache._prune(private_cache)
    assert sorted(p.name for p in private_cache.iterdir()) == ["notes.txt", f"nutpie-{3:064d}.bin",
                                                             f"nutpie-{4:064d}.bin"]
