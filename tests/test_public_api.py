"""The public API: everything in ``forecast.__all__`` imports and is documented; importing is light."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import forecast


def test_all_is_unique_and_complete():
    assert len(set(forecast.__all__)) == len(forecast.__all__)
    assert all(hasattr(forecast, name) for name in forecast.__all__)


@pytest.mark.parametrize("name", forecast.__all__)
def test_public_name_imports_and_is_documented(name):
    obj = getattr(forecast, name)
    exec(f"from forecast import {name}", {})
    if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
        doc = inspect.getdoc(obj)
        assert doc and len(doc.strip()) > 10, f"{name} has no docstring"
        assert obj.__doc__ is not None and obj.__doc__ is not object.__doc__, name
        assert not obj.__doc__.startswith(f"{obj.__name__}("), f"{name}: only the dataclass's generated signature"
    if inspect.isclass(obj):
        for attr, member in vars(obj).items():
            if not attr.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                assert inspect.getdoc(member), f"{name}.{attr} has no docstring"


def test_package_has_a_docstring_and_version():
    assert forecast.__doc__ and forecast.__version__


def test_import_forecast_is_light():
    code = (
        "import sys, forecast\n"
        "forecast.load_default()\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pymc', 'pytensor', 'matplotlib', 'arviz', 'nutpie'))\n"
        "assert not heavy, heavy\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_errors_are_value_errors():
    assert issubclass(forecast.ForecastError, ValueError)
    assert issubclass(forecast.InputError, forecast.ForecastError)
    problem = forecast.Problem("f.csv", 3, "lr", "bad")
    assert str(problem) == "f.csv:3: lr: bad"
    assert str(forecast.InputError([problem, forecast.Problem("f.csv", 2, "id", "dup")])) == "f.csv:2: id: dup\nf.csv:3: lr: bad"


def test_plots_is_a_lazy_attribute():
    code = (
        "import sys, forecast as fc\n"
        "assert 'matplotlib' not in sys.modules\n"
        "assert 'plots' in dir(fc)\n"
        "assert callable(fc.plots.plot_tree) and callable(fc.make_forecast) and callable(fc.load_evidence)\n"
        "assert 'matplotlib' in sys.modules\n"
        "from forecast import plots\n"
        "assert plots is fc.plots\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        forecast.nope  # noqa: B018


def test_help_leads_with_the_map():
    import pydoc

    text = pydoc.render_doc(forecast, renderer=pydoc.plaintext)
    description = text.index("DESCRIPTION")
    assert text.index("import forecast as fc", description) < text.index("CLASSES")
    assert forecast.__doc__ is not None and ">>>" not in forecast.__doc__  # a map, not a doctest


def test_a_forecast_repr_is_short_and_names_no_path():
    scenario, evidence = forecast.load_default()
    text = repr(forecast.exact_update(scenario, evidence, as_of="2025-04-18"))
    assert text == "<ExactForecast ukraine-talks-2025 as of 2025-04-18>"  # nbval compares it: no paths, no addresses
