"""Loading scenarios: every prior form, YAML quirks, dependency order, and every class of bad input.

Each bad-input test asserts the exact ``PATH:LINE: field:`` prefix of the problem, and the
combined file at the end checks that every problem of a file is reported at once.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from helpers import assert_problem, problem_lines
from scipy import special, stats

import forecast as fc


def problems(path) -> list[str]:
    return problem_lines(fc.load_scenario, path)


HEAD = "id: t\ntitle: T\nsettings:\n  start: 2025-01-01\nevents:\n"


# ----------------------------------------------------------------------------- loading


def test_load_the_small_scenario(write_scenario):
    s = fc.load_scenario(write_scenario())
    assert s.id == "small" and s.title == "A small scenario"
    assert [e.id for e in s.events] == ["a", "b"]
    assert [b.label for b in s.branches] == ["a", "b | a=yes", "b | a=no"]
    assert s.settings.start.isoformat() == "2025-01-01"
    assert s.settings.seed == 7
    assert s.n_paths() == 4
    assert s.event("a").outcomes == ("yes", "no")
    assert isinstance(s.event("a").priors, type(s.event("b").priors))
    with pytest.raises(KeyError, match="did you mean 'a'"):
        s.event("aa")


def test_scenario_objects_are_frozen(write_scenario):
    s = fc.load_scenario(write_scenario())
    with pytest.raises(AttributeError):
        s.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.event("a").priors[()] = None  # type: ignore[index]


def test_bundled_default_holds_the_four_events(default_inputs):
    scenario, log = default_inputs
    ids = {e.id for e in scenario.events}
    assert {"russia_accepts", "us_exits", "long_range_weapons", "spring_offensive"} <= ids
    assert len(log) >= 15
    assert (log.frame["summary"] != "").all() and (log.frame["citation"] != "").all()


def test_unquoted_yes_no_outcomes_and_resolution(write_scenario):
    text = HEAD + """\
  - id: a
    question: A?
    outcomes: [yes, no]
    prior: {p: 0.4, sd: 0.5}
    resolution: {outcome: no, date: 2025-02-01}
  - id: b
    question: B?
    outcomes: [on, off]
    parents: [a]
    prior:
      a=yes: {p: 0.1}
      a=no: {p: 0.2}
"""
    s = fc.load_scenario(write_scenario(text))
    assert s.event("a").outcomes == ("yes", "no")
    assert s.event("b").outcomes == ("on", "off")
    assert s.event("a").resolution.outcome == "no"
    assert s.event("a").resolution.date.isoformat() == "2025-02-01"


def test_events_are_put_in_dependency_order(write_scenario):
    text = HEAD + """\
  - id: child
    question: C?
    parents: [parent]
    prior: {parent=yes: {p: 0.1}, parent=no: {p: 0.2}}
  - id: parent
    question: P?
    prior: {p: 0.5}
"""
    s = fc.load_scenario(write_scenario(text))
    assert [e.id for e in s.events] == ["parent", "child"]


def test_branch_keys_in_any_parent_order_are_canonical(write_scenario):
    text = HEAD + """\
  - {id: a, question: A., prior: {p: 0.5}}
  - {id: c, question: C., prior: {p: 0.5}}
  - id: b
    question: B?
    parents: [a, c]
    prior:
      c=yes;a=yes: {p: 0.1, sd: 0}
      a=yes;c=no: {p: 0.2, sd: 0}
      a=no; c=yes: {p: 0.3, sd: 0}
      a=no;c=no: {p: 0.4, sd: 0}
"""
    s = fc.load_scenario(write_scenario(text))
    got = {b.given_text: s.event("b").priors[b.given].probabilities[0] for b in s.branches_of("b")}
    assert got == pytest.approx({"a=yes;c=yes": 0.1, "a=yes;c=no": 0.2, "a=no;c=yes": 0.3, "a=no;c=no": 0.4})


# ----------------------------------------------------------------------------- prior forms


def prior_of(write_scenario, spec: str, outcomes: str = ""):
    text = HEAD + f"  - id: a\n    question: A?\n{outcomes}    prior: {spec}\n"
    return fc.load_scenario(write_scenario(text)).event("a").priors[()]


def test_prior_p_sd(write_scenario):
    # issue 10: the analyst's number is the point, m = logit p, and S = sd**2
    prior = prior_of(write_scenario, "{p: 0.2, sd: 1.0}")
    assert prior.cov[0, 0] == 1.0
    assert prior.mean[0] == pytest.approx(math.log(0.2 / 0.8), abs=1e-15)
    assert prior.probabilities[0] == pytest.approx(0.2, abs=1e-15)
    assert prior.probabilities[1] == pytest.approx(0.8, abs=1e-15)


@pytest.mark.parametrize("sd", [0.0, 0.5, 2.0, 10.0])
def test_prior_p_does_not_depend_on_its_spread(write_scenario, sd):
    prior = prior_of(write_scenario, f"{{p: 0.05, sd: {sd}}}")
    assert prior.mean[0] == pytest.approx(math.log(0.05 / 0.95), abs=1e-15)
    assert prior.cov[0, 0] == pytest.approx(sd * sd, abs=1e-15)


def test_prior_p_without_sd_uses_the_default_spread(write_scenario):
    prior = prior_of(write_scenario, "{p: 0.2}")
    assert prior.cov[0, 0] == pytest.approx(1.0)
    assert prior.mean[0] == pytest.approx(math.log(0.25), abs=1e-15)


def test_prior_point(write_scenario):
    prior = prior_of(write_scenario, "{p: 0.2, sd: 0}")
    assert prior.cov[0, 0] == 0.0
    assert prior.mean[0] == pytest.approx(math.log(0.25), abs=1e-12)


def test_prior_beta(write_scenario):
    # m = logit(a / (a + b)), S = trigamma(a) + trigamma(b)
    prior = prior_of(write_scenario, "{beta: [6, 4]}")
    sd2 = special.polygamma(1, 6) + special.polygamma(1, 4)
    assert prior.cov[0, 0] == pytest.approx(sd2, rel=1e-9)
    assert math.sqrt(sd2) == pytest.approx(0.68, abs=0.005)
    assert prior.mean[0] == pytest.approx(math.log(0.6 / 0.4), abs=1e-12)
    assert prior.probabilities[0] == pytest.approx(0.6, abs=1e-12)


def test_prior_beta_with_a_small_shape(write_scenario):
    prior = prior_of(write_scenario, "{beta: [2, 30]}")
    assert prior.mean[0] == pytest.approx(math.log(2 / 30), abs=1e-12)
    assert prior.cov[0, 0] == pytest.approx(special.polygamma(1, 2) + special.polygamma(1, 30), rel=1e-9)
    assert prior.probabilities[0] == pytest.approx(1 / 16, abs=1e-12)


def test_prior_interval(write_scenario):
    prior = prior_of(write_scenario, "{interval: [0.2, 0.7]}")
    z = stats.norm.ppf(0.95)
    m = (special.logit(0.2) + special.logit(0.7)) / 2
    assert prior.mean[0] == pytest.approx(m, abs=1e-12)
    assert math.sqrt(prior.cov[0, 0]) == pytest.approx((special.logit(0.7) - special.logit(0.2)) / (2 * z), rel=1e-9)
    assert prior.probabilities[0] == pytest.approx(special.expit(m), abs=1e-12)  # the median, about 0.43


def test_prior_interval_ignores_the_reported_level(write_scenario):
    # an interval prior is a 90% interval whatever settings.interval says
    text = "id: t\ntitle: T\nsettings:\n  start: 2025-01-01\n  interval: 0.5\nevents:\n" \
           "  - id: a\n    question: A?\n    prior: {interval: [0.2, 0.7]}\n"
    prior = fc.load_scenario(write_scenario(text)).event("a").priors[()]
    z = stats.norm.ppf(0.95)
    assert math.sqrt(prior.cov[0, 0]) == pytest.approx((special.logit(0.7) - special.logit(0.2)) / (2 * z), rel=1e-9)


def test_prior_probs(write_scenario):
    # m_k = ln(p_k / p_K), S = sd**2 I
    prior = prior_of(write_scenario, "{probs: {x: 0.5, y: 0.3, z: 0.2}, sd: 0.8}", "    outcomes: [x, y, z]\n")
    assert prior.probabilities == pytest.approx((0.5, 0.3, 0.2), abs=1e-12)
    np.testing.assert_allclose(prior.mean, [math.log(0.5 / 0.2), math.log(0.3 / 0.2)], atol=1e-15)
    np.testing.assert_allclose(prior.cov, np.eye(2) * 0.64)


def test_prior_probs_without_sd_uses_the_default_spread(write_scenario):
    prior = prior_of(write_scenario, "{probs: {x: 0.1, y: 0.2, z: 0.3, w: 0.4}}", "    outcomes: [x, y, z, w]\n")
    np.testing.assert_allclose(prior.mean, np.log([0.25, 0.5, 0.75]), atol=1e-15)
    np.testing.assert_allclose(prior.cov, np.eye(3))


def test_prior_probs_for_two_outcomes(write_scenario):
    prior = prior_of(write_scenario, "{probs: {yes: 0.3, no: 0.7}, sd: 0.5}")
    assert prior.probabilities[0] == pytest.approx(0.3, abs=1e-12)
    assert prior.mean[0] == pytest.approx(math.log(0.3 / 0.7), abs=1e-15)
    assert prior.cov[0, 0] == pytest.approx(0.25)


def test_prior_from_spec_directly():
    prior = fc.scenario.Prior.from_spec({"probs": {"a": 0.6, "b": 0.3, "c": 0.1}, "sd": 3.0}, 3)
    np.testing.assert_allclose(prior.mean, [math.log(6.0), math.log(3.0)], atol=1e-15)
    np.testing.assert_allclose(prior.cov, np.eye(2) * 9.0)
    assert prior.probabilities == pytest.approx((0.6, 0.3, 0.1), abs=1e-15)


def test_with_prior_and_with_resolution(write_scenario):
    s = fc.load_scenario(write_scenario())
    revised = s.with_prior("b", "a=no", {"p": 0.9, "sd": 0.3})
    assert revised.event("b").priors[(("a", "no"),)].probabilities[0] == pytest.approx(0.9)
    assert s.event("b").priors[(("a", "no"),)].probabilities[0] == pytest.approx(0.6)
    with pytest.raises(fc.InputError, match="must be a probability"):
        s.with_prior("a", "", {"p": 2})
    resolved = s.with_resolution("a", "yes", "2025-02-01")
    assert resolved.event("a").resolution.outcome == "yes" and s.event("a").resolution is None
    with pytest.raises(ValueError):
        s.with_resolution("a", "maybe", "2025-02-01")


def test_scenario_from_dict():
    s = fc.scenario_from_dict({"id": "d", "title": "D", "events": [{"id": "a", "question": "A?", "prior": {"p": 0.3}}]})
    assert s.branches[0].label == "a"
    with pytest.raises(fc.InputError) as info:
        fc.scenario_from_dict({"id": "d", "events": [{"id": "a", "question": "A?", "prior": {"p": 3}}]}, path="dict")
    assert str(info.value).startswith("dict:1: a.prior.p: ")


# ----------------------------------------------------------------------------- bad input: one class each


def test_unknown_keys_suggest_the_nearest(write_scenario):
    text = """\
id: t
titel: T
settings:
  intervall: 0.9
events:
  - id: a
    question: A?
    parnets: []
    prior: {p: 0.5, sdd: 1}
"""
    path = write_scenario(text)
    lines = problems(path)
    assert_problem(lines, path, 2, "titel", "did you mean 'title'")
    assert_problem(lines, path, 4, "settings.intervall", "did you mean 'interval'")
    assert_problem(lines, path, 8, "events[0].parnets", "did you mean 'parents'")
    assert_problem(lines, path, 9, "a.prior.sdd", "did you mean 'sd'")


def test_cycle(write_scenario):
    text = HEAD + """\
  - {id: a, question: A., prior: {p: 0.5}}
  - id: c
    question: C?
    parents: [d]
    prior: {d=yes: {p: 0.5}, d=no: {p: 0.5}}
  - id: d
    question: D?
    parents: [c]
    prior: {c=yes: {p: 0.5}, c=no: {p: 0.5}}
"""
    path = write_scenario(text)
    assert_problem(problems(path), path, 9, "c.parents", "cycle", "c -> d -> c")


def test_own_parent(write_scenario):
    path = write_scenario(HEAD + "  - id: a\n    question: A?\n    parents: [a]\n    prior: {p: 0.5}\n")
    assert_problem(problems(path), path, 8, "a.parents", "own parent")


def test_undefined_parent(write_scenario):
    text = HEAD + """\
  - {id: alpha, question: A., prior: {p: 0.5}}
  - id: b
    question: B?
    parents: [alpah]
    prior: {p: 0.5}
"""
    path = write_scenario(text)
    assert_problem(problems(path), path, 9, "b.parents", "undefined event 'alpah'", "did you mean 'alpha'")


def test_missing_and_extra_branch_priors(write_scenario):
    text = HEAD + """\
  - {id: a, question: A., prior: {p: 0.5}}
  - id: b
    question: B?
    parents: [a]
    prior:
      a=yes: {p: 0.2}
      a=maybe: {p: 0.2}
"""
    path = write_scenario(text)
    lines = problems(path)
    assert_problem(lines, path, 10, "b.prior", "missing the prior of branch b | a=no")
    assert_problem(lines, path, 12, "b.prior.a=maybe", "no such branch")


def test_missing_prior_of_a_root(write_scenario):
    path = write_scenario(HEAD + "  - id: a\n    question: A?\n")
    assert_problem(problems(path), path, 6, "a.prior", "missing")


def test_flat_prior_for_an_event_with_parents(write_scenario):
    text = HEAD + "  - {id: a, question: A., prior: {p: 0.5}}\n  - {id: b, question: B., parents: [a], prior: {p: 0.5}}\n"
    path = write_scenario(text)
    assert_problem(problems(path), path, 7, "b.prior.p", "a prior for each branch", "a=yes, a=no")


@pytest.mark.parametrize(("spec", "field"), [
    ("{p: 1.5}", "a.prior.p"),
    ("{p: 0}", "a.prior.p"),
    ("{p: 1}", "a.prior.p"),
    ("{p: -0.1}", "a.prior.p"),
    ("{p: .nan}", "a.prior.p"),
    ("{p: high}", "a.prior.p"),
    ("{interval: [0, 0.5]}", "a.prior.interval"),
    ("{interval: [0.6, 0.5]}", "a.prior.interval"),
    ("{interval: [0.2, 1.0]}", "a.prior.interval"),
    ("{beta: [0, 2]}", "a.prior.beta"),
    ("{beta: [2]}", "a.prior.beta"),
    ("{probs: {yes: 1.2, no: -0.2}}", "a.prior.probs.yes"),
    ("{probs: {yes: 0.5, no: 0.6}}", "a.prior.probs"),
    ("{probs: {yes: 0.5}}", "a.prior.probs"),
    ("{probs: {yes: 0.5, maybe: 0.5}}", "a.prior.probs.maybe"),
])
def test_probabilities_outside_zero_one(write_scenario, spec, field):
    path = write_scenario(HEAD + f"  - id: a\n    question: A?\n    prior: {spec}\n")
    assert_problem(problems(path), path, 8, field)


@pytest.mark.parametrize("sd", ["-1", "-0.001", "wide", ".inf"])
def test_negative_or_bad_spread(write_scenario, sd):
    path = write_scenario(HEAD + f"  - id: a\n    question: A?\n    prior:\n      p: 0.5\n      sd: {sd}\n")
    assert_problem(problems(path), path, 10, "a.prior.sd", "must be a number >= 0")


def test_two_prior_forms_at_once(write_scenario):
    path = write_scenario(HEAD + "  - id: a\n    question: A?\n    prior: {p: 0.5, beta: [1, 2]}\n")
    assert_problem(problems(path), path, 8, "a.prior", "exactly one of")


def test_three_outcomes_need_probs(write_scenario):
    path = write_scenario(HEAD + "  - id: a\n    question: A?\n    outcomes: [x, y, z]\n    prior: {p: 0.5}\n")
    assert_problem(problems(path), path, 9, "a.prior.p", "probs")


@pytest.mark.parametrize(("key", "value", "field"), [
    ("interval", "1.5", "settings.interval"),
    ("drift_per_day", "-0.1", "settings.drift_per_day"),
    ("start", "2025-13-01", "settings.start"),
    ("seed", "-3", "settings.seed"),
    ("echo_correlation", "1.5", "settings.echo_correlation"),
    ("echo_correlation", "-0.1", "settings.echo_correlation"),
    ("echo_correlation", "often", "settings.echo_correlation"),
    ("weights", "{Z9: 0.5}", "settings.weights.Z9"),
    ("verbal", "{weak: 0}", "settings.verbal.weak"),
])
def test_bad_settings(write_scenario, key, value, field):
    text = f"id: t\ntitle: T\nsettings:\n  {key}: {value}\nevents:\n  - {{id: a, question: A., prior: {{p: 0.5}}}}\n"
    path = write_scenario(text)
    assert_problem(problems(path), path, 4, field)


@pytest.mark.parametrize(("outcomes", "word"), [("[yes]", "two or more"), ("[x, x]", "twice"), ("[a b, c]", "not a valid outcome")])
def test_bad_outcomes(write_scenario, outcomes, word):
    path = write_scenario(HEAD + f"  - id: a\n    question: A?\n    outcomes: {outcomes}\n    prior: {{p: 0.5}}\n")
    assert_problem(problems(path), path, 8, "a.outcomes", word)


def test_bad_event_ids(write_scenario):
    text = HEAD + "  - {id: Bad-Id, question: A., prior: {p: 0.5}}\n  - {id: a, question: A., prior: {p: 0.5}}\n  - {id: a, question: A., prior: {p: 0.5}}\n"
    path = write_scenario(text)
    lines = problems(path)
    assert_problem(lines, path, 6, "events[0].id", "snake_case")
    assert_problem(lines, path, 8, "a.id", "duplicate event id", "line 7")


def test_bad_resolution(write_scenario):
    path = write_scenario(HEAD + "  - id: a\n    question: A?\n    prior: {p: 0.5}\n    resolution: {outcome: maybe, date: someday}\n")
    lines = problems(path)
    assert_problem(lines, path, 9, "a.resolution.outcome", "'maybe' is not an outcome")
    assert_problem(lines, path, 9, "a.resolution.date", "not a date")


def test_yaml_tags_are_refused(write_scenario, tmp_path):
    marker = tmp_path / "pwned"
    text = f"""\
id: t
title: !!python/object/apply:os.system ["touch {marker}"]
events:
  - id: a
    question: !!python/name:os.system
    prior: {{p: 0.5}}
"""
    path = write_scenario(text)
    lines = problems(path)
    assert_problem(lines, path, 2, "yaml", "not allowed")
    assert_problem(lines, path, 5, "yaml", "not allowed")
    assert not marker.exists()


def test_alias_bomb_is_bounded(write_scenario):
    rows = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        rows.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    path = write_scenario("\n".join(rows) + "\n")
    t0 = time.perf_counter()
    lines = problems(path)
    assert time.perf_counter() - t0 < 5
    assert any(line.startswith(f"{path}:") and ": yaml: " in line and "expands" in line for line in lines)


def test_recursive_alias_is_refused(write_scenario):
    path = write_scenario("id: t\ntitle: &x [*x]\nevents: []\n")
    lines = problems(path)
    assert all(line.startswith(f"{path}:") for line in lines)


def test_duplicate_keys(write_scenario):
    path = write_scenario(HEAD + "  - id: a\n    question: A?\n    prior: {p: 0.5}\n    prior: {p: 0.4}\n")
    assert_problem(problems(path), path, 9, "prior", "duplicate key", "line 8")


def test_invalid_yaml_syntax(write_scenario):
    path = write_scenario("id: t\ntitle: [unclosed\nevents:\n  - {id: a}\n")
    lines = problems(path)
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:") and ": yaml: not valid YAML" in lines[0]


def test_tab_indentation_is_invalid_yaml(write_scenario):
    path = write_scenario("id: t\nevents:\n\t- id: a\n")
    assert_problem(problems(path), path, 3, "yaml", "not valid YAML")


def test_not_utf8(write_file):
    path = write_file("latin1.yaml", "id: t\ntitle: caf\xe9\n".encode("latin-1"))
    assert_problem(problems(path), path, 2, "file", "not UTF-8")


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(write_file, content):
    path = write_file("empty.yaml", content)
    assert_problem(problems(path), path, 1, "scenario", "expected a mapping")


@pytest.mark.parametrize("content", ["- a\n- b\n", "just text\n", "42\n"])
def test_not_a_mapping(write_file, content):
    path = write_file("list.yaml", content)
    assert_problem(problems(path), path, 1, "scenario", "expected a mapping")


def test_missing_file_and_directory(tmp_path):
    assert_problem(problems(tmp_path / "nope.yaml"), tmp_path / "nope.yaml", 1, "file", "no such file")
    assert_problem(problems(tmp_path), tmp_path, 1, "file", "directory")


def test_every_problem_is_reported_at_once(write_scenario):
    text = """\
id: t
titel: T
settings:
  start: 2025-01-01
  intervall: 0.9
events:
  - id: a
    question: A?
    prior: {p: 1.5, sdd: 1.0}
  - id: b
    question: B?
    parnets: [a]
    parents: [a, zz]
    prior:
      a=yes: {p: 0.2, sd: -1}
      a=maybe: {p: 0.2}
  - id: c
    question: C?
    parents: [d]
    prior: {p: 0.3}
  - id: d
    question: D?
    parents: [c]
    prior: {p: 0.3}
  - id: e
    question: E?
    prior: {interval: [0, 0.5]}
"""
    path = write_scenario(text)
    lines = problems(path)
    expected = [
        (2, "titel"), (5, "settings.intervall"), (9, "a.prior.p"), (9, "a.prior.sdd"),
        (12, "events[1].parnets"), (13, "b.parents"), (14, "b.prior"), (15, "b.prior.a=yes.sd"),
        (16, "b.prior.a=maybe"), (19, "c.parents"), (27, "e.prior.interval"),
    ]
    for line, field in expected:
        assert_problem(lines, path, line, field)
    assert all(line.startswith(f"{path}:") for line in lines)
    # sorted by line
    numbers = [int(line.split(":")[1]) for line in lines]
    assert numbers == sorted(numbers)


def test_yaml_level_and_schema_problems_are_reported_together(write_scenario):
    text = """\
id: t
title: T
events:
  - id: a
    question: Will it happen on 2025-13-01 or later?
    prior: {p: 1.5}
    prior: {p: 0.3}
  - id: b
    question: B.
    deadline: 2025-02-30
    prior: {p: 0.3, sd: !!python/name:os.system }
"""
    path = write_scenario(text)
    lines = problems(path)
    assert_problem(lines, path, 6, "a.prior.p", "strictly between 0 and 1")
    assert_problem(lines, path, 7, "prior", "duplicate key")
    assert_problem(lines, path, 10, "b.deadline", "not a date")
    assert_problem(lines, path, 11, "yaml", "not allowed")
    assert not any("question" in line for line in lines)  # a date-like text in a question is text


@pytest.mark.parametrize(("text", "rho"), [("", 1.0), ("  echo_correlation: 0\n", 0.0), ("  echo_correlation: 0.35\n", 0.35),
                                          ("  echo_correlation: 1\n", 1.0)])
def test_echo_correlation_setting(write_scenario, text, rho):
    path = write_scenario(f"id: t\ntitle: T\nsettings:\n  start: 2025-01-01\n{text}events:\n"
                          "  - {id: a, question: A., prior: {p: 0.5}}\n")
    assert fc.load_scenario(path).settings.echo_correlation == rho


def test_numbers_in_scientific_notation(write_scenario):
    # YAML 1.1 reads 5e-2 (no dot) as text; the scenario reads it as the number it is
    text = ("id: t\ntitle: T\nsettings: {start: 2025-01-01, drift_per_day: 1e-3, weights: {B2: 7e-1}}\nevents:\n"
            "  - {id: a, question: A., prior: {p: 5e-2, sd: 1E0}}\n"
            "  - {id: b, question: B., prior: {beta: [1e1, 2e1]}}\n")
    s = fc.load_scenario(write_scenario(text))
    assert s.settings.drift_per_day == 0.001
    assert s.settings.grading.weight("B", "2") == 0.7
    assert s.event("a").priors[()].probabilities[0] == pytest.approx(0.05)
    assert s.event("b").priors[()].probabilities[0] == pytest.approx(1 / 3)


@pytest.mark.parametrize("content", ["a: " + "[" * 5000 + "]" * 5000 + "\n",
                                     "a:\n" + "".join("  " * i + "b:\n" for i in range(1, 3000))])
def test_deep_nesting_is_refused(write_file, content):
    path = write_file("deep.yaml", content)
    assert_problem(problems(path), path, 1, "yaml", "nested too deeply")


@pytest.mark.parametrize(("text", "line", "field"), [
    ("id: t\ntitle: T\nevents: {a: 1}\n", 3, "events"),
    ("id: t\ntitle: T\nevents: [a, b]\n", 3, "events[0]"),
    ("id: t\ntitle: T\nevents: null\n", 3, "events"),
    ("id: t\ntitle: T\nsettings: [1]\nevents:\n  - {id: a, question: A., prior: {p: 0.3}}\n", 3, "settings"),
    ("id: t\ntitle: T\nevents:\n  - {id: a, question: A., prior: [0.3]}\n", 4, "a.prior"),
    ("id: t\ntitle: T\nevents:\n  - {id: a, question: A., outcomes: 'yes,no', prior: {p: 0.3}}\n", 4, "a.outcomes"),
    ("id: t\ntitle: T\nevents:\n  - {id: a, question: A., parents: {x: 1}, prior: {p: 0.3}}\n", 4, "a.parents"),
    ("id: t\ntitle: T\nevents:\n  - {id: a, question: A., prior: {p: 0.3}, resolution: yes}\n", 4, "a.resolution"),
    ("id: t\ntitle: T\nevents:\n  - {id: a, question: null, prior: {p: 0.3}}\n", 4, "a.question"),
    ("id: t\ntitle: T\nevents:\n  - {id: a, question: A., deadline: 5, prior: {p: 0.3}}\n", 4, "a.deadline"),
    ("id: t\ntitle: T\n? [a]\n: b\nevents:\n  - {id: a, question: A., prior: {p: 0.3}}\n", 3, "yaml"),
    ("title: T\nevents:\n  - {id: a, question: A., prior: {p: 0.3}}\n", 1, "id"),
])
def test_wrong_shapes(write_scenario, text, line, field):
    path = write_scenario(text)
    assert_problem(problems(path), path, line, field)


@pytest.mark.parametrize(("setting", "field"), [("drift_per_day: 1e300", "settings.drift_per_day"),
                                                 ("drift_per_day: 101", "settings.drift_per_day")])
def test_absurd_drift_is_refused(write_scenario, setting, field):
    path = write_scenario(f"id: t\ntitle: T\nsettings:\n  {setting}\nevents:\n  - {{id: a, question: A., prior: {{p: 0.5}}}}\n")
    assert_problem(problems(path), path, 4, field, "at most 100")


def test_absurd_prior_spread_is_refused(write_scenario):
    path = write_scenario(HEAD + "  - id: a\n    question: A.\n    prior: {p: 0.5, sd: 1e300}\n")
    assert_problem(problems(path), path, 8, "a.prior.sd", "at most 100")


def test_control_characters_are_located(write_file):
    path = write_file("nul.yaml", b"id: t\ntitle: T\x00x\nevents: []\n")
    assert_problem(problems(path), path, 2, "yaml", "U+0000")


# ----------------------------------------------------------------------------- resolutions file


def test_resolutions_file(write_scenario, write_file):
    s = fc.load_scenario(write_scenario())
    path = write_file("res.csv", "event,outcome,date,citation\na,no,2025-02-01,Statement\n")
    resolved = fc.scenario.apply_resolutions(s, path)
    assert resolved.event("a").resolution == fc.Resolution("no", __import__("datetime").date(2025, 2, 1), "Statement")
    assert s.event("a").resolution is None


def test_bad_resolutions_file(write_scenario, write_file):
    s = fc.load_scenario(write_scenario())
    path = write_file("res.csv", "event,outcome,date\naa,no,2025-02-01\na,maybe,2025-02-30\nb,yes,2025-02-01\nb,no,2025-02-02\na,yes\n")
    with pytest.raises(fc.InputError) as info:
        fc.scenario.apply_resolutions(s, path)
    lines = str(info.value).splitlines()
    assert_problem(lines, path, 2, "event", "did you mean 'a'")
    assert_problem(lines, path, 3, "outcome", "'maybe'")
    assert_problem(lines, path, 3, "date", "not a date")
    assert_problem(lines, path, 5, "event", "resolved twice")
    assert_problem(lines, path, 6, "row", "has 2 fields")


def test_resolutions_file_columns(write_scenario, write_file):
    s = fc.load_scenario(write_scenario())
    path = write_file("res.csv", "event,outcom,date\na,no,2025-02-01\n")
    with pytest.raises(fc.InputError) as info:
        fc.scenario.apply_resolutions(s, path)
    lines = str(info.value).splitlines()
    assert_problem(lines, path, 1, "outcome", "required column is missing")
    assert_problem(lines, path, 1, "outcom", "did you mean 'outcome'")


# ----------------------------------------------------------------------------- valid inputs accepted


@pytest.mark.parametrize("content", [
    b"\xef\xbb\xbfid: t\r\ntitle: T\r\nevents:\r\n  - {id: a, question: A., prior: {p: 0.3}}\r\n",
    b"id: t\ntitle: T\nevents:\n  - id: a\n    question: A.\n    prior: {p: .3, sd: 1}\n",
    b"id: t\ntitle: T\nsettings: null\nevents:\n  - {id: a, question: A., parents: [], prior: {p: 0.3}, deadline: 2025-04-30T00:00:00}\n",
    b"id: t\ntitle: T\nevents:\n  - {id: a, question: A., prior: {p: 0.3}}\n  - id: b\n    question: B.\n    parents: [a]\n"
    b"    prior:\n      a=yes: &pr {p: 0.3, sd: 0.5}\n      a=no: *pr\n",
    "id: t\ntitle: Cessez-le-feu — été 2025\nevents:\n  - {id: a, question: \"Accepte-t-il ? Oui.\", prior: {p: 0.3}}\n".encode(),
])
def test_valid_variants_are_accepted(write_file, content):
    s = fc.load_scenario(write_file("ok.yaml", content))
    assert s.events[0].id == "a"


def test_multiple_documents_are_refused(write_scenario):
    path = write_scenario("id: t\ntitle: T\nevents:\n  - {id: a, question: A., prior: {p: 0.3}}\n---\nid: u\n")
    assert_problem(problems(path), path, 5, "yaml", "not valid YAML")
