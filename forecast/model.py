"""The Bayesian model: one PyMC model for every branch of a scenario, read off the compiled design.

The model reads only the :class:`~forecast.design.Design` (:func:`forecast.design.compile_design`):
which entries stand at the as-of date, their weights (grading weight times echo discount),
claims and ``tau``, which branches each applies to, the replay's dates, resolutions and
hazards. Nothing here works out what an evidence entry means.

Generative story
----------------
Each branch ``b`` of an event with ``K`` outcomes has a latent state ``x_b`` (the logit of
its first outcome, or the ``K - 1`` log-ratios against the last), followed over a grid
of *ticks*: the replay's dates, and a new tick after every observation within a date (so
the entries of one date keep their file order, as in the exact filter).

1. **Prior.** ``x_b(start) ~ N(m0, S0)`` with ``(m0, S0) = design.prior(b)``: ``m0 = logit p``
   (the analyst's point), ``S0 = sd**2``. A zero-variance prior is a constant.
2. **Drift.** ``x_b`` moves by ``N(0, drift_per_day * days)`` per component between ticks
   (non-centred).
3. **Signals.** Entry ``e`` claims ``c_e = ln(lr_e)`` for its favoured outcome. Its *true*
   log ratio ``lam_e`` has a flat (improper) prior, and the claim measures it:
   ``c_e ~ D(lam_e, tau_e)``. **One** ``lam_e`` per entry, shared by every branch the
   entry applies to (``design.applies``), so an entry covering several branches moves
   them together and enters its likelihood once (for the normal likelihood's one
   exception, a covered branch that is read, see "Where a true ratio is split" below). Each branch it applies to moves by
   ``w_e * lam_e`` along the favoured outcome (all components by ``-w_e * lam_e`` when it
   favours the last outcome), ``w_e = design.inputs["weight"]`` (grading weight times
   echo discount: an echo of a story adds nothing at the default ``echo_correlation`` 1).

   - ``likelihood="normal"``: ``D`` is Normal, so ``lam_e | c_e ~ N(c_e, tau_e**2)``
     and each branch moves by ``N(w ln lr, (w tau)**2)``: the exact filter's signal.
     Sampled as ``lam_e = c_e + tau_e u_e`` (the flat prior is flat in ``u_e`` too);
     ``tau_e = 0`` pins ``lam_e = c_e``.
   - ``likelihood="student"``: ``D`` is Student-t with ``NU = 4`` degrees of freedom
     (fixed) and scale ``max(tau_e, MIN_TAU)``. There is no population prior: nothing
     pulls a claim toward zero or toward the other claims. *With no other information
     about a branch, student equals normal in the mean* (the posterior of ``lam_e`` is
     the t around its own claim, symmetric), with a wider band (a t4 error has twice
     the variance). What the heavy tail changes is how a contradiction is shared out:
     when an observation (or a resolution) disagrees with what the entries imply, the
     Gaussian model spreads the disagreement over the prior and every entry in
     proportion to their variances; under the t, moving one entry far from its claim
     costs little more than moving it a few scales, so an entry far out of line with
     the rest absorbs most of the disagreement and is down-weighted
     (:func:`entry_weights` gives each entry's kept share ``E[lam_e] / c_e``).
     The readings must *localise* the disagreement: with a reading before a wild entry
     and one after it, only that entry can explain the jump, and student keeps about
     3 % of it where the Gaussian model keeps 57 % (``tests/test_model.py``). With one
     reading after several entries, the t posterior cannot tell one wild entry from a
     few moderately wrong ones: it spreads the blame, can be multimodal, and the
     sampler then says so (R-hat of the true ratios in :func:`entry_weights`).
4. **Reliability.** ``reliability="fixed"``: ``w_e`` as above. ``"learned"``: every named
   source ``s`` (of a signal) has a reliability
   ``rho_s = sigmoid(logit(g_s) + RELIABILITY_SD * eta_s)``, ``eta_s ~ N(0, 1)``
   (logit-normal, non-centred), ``g_s`` the mean grading weight of its signals (clipped
   to [0.02, 0.98]); its signals weigh ``w_e * rho_s / g_s``. Unnamed entries keep
   ``w_e``. (The former ``Beta`` prior with concentration 10 mixed slowly: R-hat 1.013 on
   one source weight of the bundled example. The logit-normal with sd 0.6 has about the
   Beta's spread. Checked once on seeds 0-9 of the bundled example, normal and student,
   1000 tune and 1000 draws: reliability R-hat at most 1.009, probabilities' at most
   1.006, no divergence; with 2000 draws, reliabilities' at most 1.007.)
5. **Observations.** ``logit(probability) ~ N(logit P_k(x_b), R)`` at the reading's tick,
   on every branch the reading applies to, ``R = design.inputs["R"]`` (``prob_sd**2``
   divided by its echo discount). For two outcomes this is the Kalman step's likelihood.
   For three or more outcomes the reading is nonlinear in ``x``: the model uses it as
   it is, the exact filter linearises it at the mean (the two differ slightly there).
6. **Resolutions.** An event resolved to ``k`` by the as-of date adds ``log P_k(x_b)`` at
   its resolution date for the branch its resolved parents select; its branches are
   then reported as certain (exactly 1 and 0), as in the exact path.
7. **Deadlines.** With ``hazard: constant`` the reported probability is
   ``forecast.update.hazard_probability(p, r)`` with ``r = design.hazard``, as in the
   exact path; draw by draw for the intervals.

**Reported numbers.** A branch's probability is the Bayes point of its posterior:
``sigmoid`` of the posterior mean log-odds (``softmax([mean, 0])`` for ``K`` outcomes),
then the hazard; intervals are posterior quantiles of the probabilities (widened to
contain the point); the draws behind path and marginal intervals are joint posterior
draws, so a shared entry moves the branches it covers together, as in the exact path.

**Where a true ratio is split** (:func:`forecast.model_inputs._claim_units`). Under the normal likelihood, a
signal that covers several branches of which one is read (an observation) or resolved
gets one true ratio per branch: a shared ratio would let a reading of one branch move the
others, which the exact filter does not do (each branch learns from its own readings
only). So the Gaussian model equals the exact update branch by branch, within Monte
Carlo error, for every log; the price is that such a signal's noise is no longer shared
across its branches in the joint draws (the exact path keeps the part of it no reading
absorbed). Under the student likelihood every signal keeps one shared ratio and enters its
likelihood once, however many branches it covers. The two paths still differ by the
linearisation for ``K >= 3`` readings.

Every input enters as ``pm.Data`` padded to capacities that depend only on the inputs'
own sizes (:mod:`forecast.model_inputs`: :func:`prepare_inputs`, :func:`capacities`), and
the model is built once per structure and capacities in a process: a new entry usually,
and another as-of date of a trajectory always, reuses it (a batch worker keeps it between
tasks). nutpie's compiled machine code is moreover kept on disk across processes
(:mod:`forecast.model_cache`): only the first process on a machine compiles it. A fit's
draws depend on its design, settings and capacities only, never on what else the process
fitted before nor on the state of the caches (the same seed gives the same tables).

Results (:mod:`forecast.diagnostics`): the DataTree keeps the state at every date, the
outcome probabilities at the as-of date, each signal's ``true_log_lr`` and each source's
``reliability``; ``r_hat``/``ess_bulk`` are those of each branch's probabilities. The
trajectory is the model refitted as of each date (what was believed then).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import itertools
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from . import progress as _progress
from .belief import softmax_last_zero
from .design import Design, compile_design
from .diagnostics import PAD_LOGIT, diagnostics, posterior_tree, summaries
from .errors import ForecastError, whole_number_problem
from .evidence import EvidenceLog
from .model_inputs import Inputs, _padded, capacities, prepare_inputs
from .scenario import Scenario
from .update import hazard_probability

if TYPE_CHECKING:
    import pymc as pm

__all__ = ["FitRun", "FitSettings", "ModelFit", "build_model", "capacities", "entry_weights", "fit", "fit_design",
           "point_errors", "prepare_inputs"]

NU = 4.0  # Student-t degrees of freedom of the evidence error (fixed)
RELIABILITY_SD = 0.6  # logit-scale sd of a learned source reliability around its grading weight
_CACHE: dict[tuple[object, ...], dict[str, object]] = {}  # (structure, capacities) -> models
_LOCK = threading.RLock()  # building and compiling models; a shared model's data while PyMC samples it


@dataclass(frozen=True)
class FitSettings:
    """How to fit: the model variant and the sampler's settings (validated: bad ones are a ForecastError)."""

    likelihood: str = "normal"
    reliability: str = "fixed"
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    seed: int = 0
    cores: int | None = None  # None: min(chains, the machine's cores)
    sampler: str = "nutpie"
    progress: bool = False

    def __post_init__(self) -> None:
        choices = {"likelihood": ("normal", "student"), "reliability": ("fixed", "learned"),
                   "sampler": ("nutpie", "pymc")}
        for name, allowed in choices.items():
            value = getattr(self, name)
            if not isinstance(value, str) or value not in allowed:
                raise ForecastError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        if self.cores is None and whole_number_problem(self.chains, 1) is None:
            object.__setattr__(self, "cores", min(int(self.chains), os.cpu_count() or 1))
        for name, low in (("draws", 1), ("tune", 0), ("chains", 1), ("seed", 0), ("cores", 1)):
            problem = whole_number_problem(getattr(self, name), low)
            if problem:
                raise ForecastError(f"{name}: {problem}")
            object.__setattr__(self, name, int(getattr(self, name)))  # numpy integers become ints
        if self.seed >= 2**63:
            raise ForecastError(f"seed: {self.seed!r} must be below 2**63")
        object.__setattr__(self, "progress", bool(self.progress))

    def as_dict(self) -> dict[str, str | int]:
        """The settings a fit records (``ModelFit.settings``)."""
        return {"likelihood": self.likelihood, "reliability": self.reliability, "draws": self.draws,
                "tune": self.tune, "chains": self.chains, "seed": self.seed, "cores": int(self.cores or 1),
                "sampler": self.sampler}


# --------------------------------------------------------------------------- the model


def build_model(inputs: Inputs, caps: dict[str, int]) -> pm.Model:
    """Build the PyMC model of ``inputs``' structure, its data (padded to ``caps``) as ``pm.Data``."""
    import pymc as pm
    import pytensor.tensor as pt

    likelihood, reliability, C, _B, kmax, diagonal = inputs.structure
    T, E = caps["ticks"], caps["entries"]
    with pm.Model() as model:
        d = _LazyData(_padded(inputs, caps))
        z0 = pm.Normal("z_prior", 0.0, 1.0, shape=C)
        x0 = d["prior_mean"] + (d["prior_sd"] * z0 if diagonal else pt.dot(d["prior_chol"], z0))
        step = d["step_sd"] * pm.Normal("z_drift", 0.0, 1.0, shape=(T, C))

        # each entry's true log ratio lam: a flat prior, sampled in the standardised
        # coordinate u = (lam - claim) / tau (a shift and a constant scale: still flat)
        u = pm.Flat("claim_error", shape=E)
        lam = pm.Deterministic("true_log_lr", d["claim_log_lr"] + d["claim_tau"] * u)
        mask = d["claim_mask"]
        if likelihood == "student":  # the claim measures lam with a heavy-tailed error
            claims = pm.logp(pm.StudentT.dist(nu=NU, mu=lam, sigma=d["claim_tau"]), d["claim_log_lr"])
        else:  # claim ~ N(lam, tau): in u, N(u | 0, 1) up to the constant -log(tau) (tau = 0 pins lam = claim)
            claims = pm.logp(pm.Normal.dist(0.0, 1.0), u)
        padding = pm.logp(pm.Normal.dist(0.0, 1.0), u)  # unused slots: a proper density, no effect
        pm.Potential("claims", pt.sum(mask * claims + (1.0 - mask) * padding))

        weight = d["claim_weight"]
        if reliability == "learned":
            eta = pm.Normal("reliability_z", 0.0, 1.0, shape=caps["sources"])
            rho = pm.Deterministic("reliability", pm.math.sigmoid(d["rel_mu"] + RELIABILITY_SD * eta))
            weight = weight * pt.concatenate([rho, pt.ones(1)])[d["claim_source"]]
        shift = (weight * lam)[d["inc_entry"]] * d["inc_sign"]
        step = pt.inc_subtensor(step.flatten()[d["inc_flat"]], shift).reshape((T, C))
        x = pm.Deterministic("x_tick", x0[None, :] + pt.cumsum(step, axis=0))

        n_obs = caps["obs"]  # readings and resolutions are read off x in one indexing
        if kmax == 2:
            read = x.flatten()[pt.concatenate([d["obs_flat"], d["res_flat"]])]
            reading = d["obs_sign"] * read[:n_obs]
            log_p = -pt.softplus(-d["res_sign"] * read[n_obs:])
        else:
            ext = pt.concatenate([x, pt.zeros((T, 1)), pt.full((T, 1), PAD_LOGIT)], axis=1).flatten()
            read = ext[pt.concatenate([d["obs_flat"], d["res_flat"]], axis=0)]
            logits, mine = read[:n_obs], pt.eq(pt.arange(kmax)[None, :], d["obs_k"][:, None])
            reading = pt.sum(pt.switch(mine, logits, 0.0), axis=1) - pt.logsumexp(pt.switch(mine, PAD_LOGIT, logits), axis=1)
            logits_r, hit = read[n_obs:], pt.eq(pt.arange(kmax)[None, :], d["res_k"][:, None])
            log_p = pt.sum(pt.switch(hit, logits_r, 0.0), axis=1) - pt.logsumexp(logits_r, axis=1)
        obs = pm.logp(pm.Normal.dist(mu=reading, sigma=d["obs_sd"]), d["obs_y"])
        pm.Potential("observations", pt.sum(d["obs_mask"] * obs))
        pm.Potential("resolutions", pt.sum(d["res_mask"] * log_p))
    model.data_names = sorted(d.made)  # type: ignore[attr-defined]
    return model


class _LazyData(dict):
    """``pm.Data`` made on first use, so the model holds only the arrays it reads."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.arrays = arrays
        self.made: set[str] = set()

    def __missing__(self, name: str):
        import pymc as pm

        self.made.add(name)
        value = self[name] = pm.Data(name, self.arrays[name])
        return value


def _free_names(structure: tuple[str, str, int, int, int, bool]) -> list[str]:
    """The model's free variables: the sampler keeps only these; :func:`_forward` gives the rest."""
    return ["z_prior", "z_drift", "claim_error"] + (["reliability_z"] if structure[1] == "learned" else [])


def _cached(inputs: Inputs, caps: dict[str, int], sampler: str, show: bool = False) -> dict[str, Any]:
    """What samples ``inputs``' structure at ``caps``, made once a process (then reused, with other data).

    ``entry["nutpie"]``: nutpie's compiled model, from :func:`forecast.model_cache.compile_model`
    (compiled once per machine and library versions, then loaded from the user's cache
    directory: such a process builds no PyMC model and imports no PyMC); ``entry["how"]``
    says whether its code was ``"compiled"``, ``"loaded"`` or ``"reused"``. ``entry["model"]``:
    the PyMC model, built when needed (to compile, or for ``sampler="pymc"``).
    ``entry["data_names"]``: the data arrays nutpie's compiled model reads.
    """
    key = (*inputs.structure, *sorted(caps.items()))
    with _LOCK:
        entry = _CACHE.setdefault(key, {})

        def model() -> pm.Model:
            if "model" not in entry:
                entry["model"] = build_model(inputs, caps)
            return entry["model"]

        if sampler == "nutpie" and "nutpie" not in entry:
            from . import model_cache

            names = _free_names(inputs.structure)
            # only the free variables are traced (the deterministic ones would cost a third
            # more compile time); _forward computes the rest in NumPy
            entry["nutpie"], entry["how"], entry["data_names"] = model_cache.compile_model(
                model, names, model_cache.model_key(inputs.structure, caps, names), _padded(inputs, caps),
                _progress.stage if show else None)
        elif sampler == "pymc":
            model()
    return entry


def _forward(inputs: Inputs, arrays: dict[str, np.ndarray], draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's deterministic quantities from draws ``(chain, draw, ...)`` of its free variables.

    The same arithmetic as :func:`build_model` (a test holds them equal): the states at
    every tick ``x_tick``, every entry's ``true_log_lr`` and each source's ``reliability``.
    """
    _likelihood, reliability, C, _B, _kmax, diagonal = inputs.structure
    z0 = draws["z_prior"]
    x0 = arrays["prior_mean"] + (arrays["prior_sd"] * z0 if diagonal else z0 @ arrays["prior_chol"].T)
    step = arrays["step_sd"] * draws["z_drift"]  # (chain, draw, T, C)
    lam = arrays["claim_log_lr"] + arrays["claim_tau"] * draws["claim_error"]
    weight = np.broadcast_to(arrays["claim_weight"], lam.shape)
    out = {"true_log_lr": lam}
    if reliability == "learned":
        rho = 1.0 / (1.0 + np.exp(-(arrays["rel_mu"] + RELIABILITY_SD * draws["reliability_z"])))
        out["reliability"] = rho
        full = np.concatenate([rho, np.ones(rho.shape[:-1] + (1,))], axis=-1)
        weight = weight * full[..., arrays["claim_source"]]
    shift = (weight * lam)[..., arrays["inc_entry"]] * arrays["inc_sign"]
    chains, n, T = step.shape[0], step.shape[1], step.shape[2]
    flat = step.reshape(chains, n, T * C).copy()
    np.add.at(np.moveaxis(flat, -1, 0), arrays["inc_flat"], np.moveaxis(shift, -1, 0))  # (a view: adds in place)
    out["x_tick"] = x0[:, :, None, :] + np.cumsum(flat.reshape(chains, n, T, C), axis=2)
    return out


def _check_indices(arrays: dict[str, np.ndarray], caps: dict[str, int], C: int) -> None:
    """Refuse out-of-range indices: the compiled model does not check them (it would read garbage)."""
    width = C if "obs_sign" in arrays else C + 2  # two outcomes: the states; more: with the zero and pad columns
    bounds = {"obs_flat": caps["ticks"] * width, "res_flat": caps["ticks"] * width, "inc_flat": caps["ticks"] * C,
              "inc_entry": caps["entries"], "claim_source": caps["sources"] + 1}
    for name, bound in bounds.items():
        if name in arrays and len(arrays[name]) and not (arrays[name].min() >= 0 and arrays[name].max() < bound):
            raise RuntimeError(f"internal error: model data {name}: an index is out of range [0, {bound})")


@contextlib.contextmanager
def _quiet(show: bool) -> Iterator[None]:
    """PyMC's, PyTensor's and nutpie's loggers at ERROR unless progress is shown; warnings silenced."""
    loggers = [logging.getLogger(n) for n in ("pymc", "pytensor", "nutpie")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING if show else logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def sample(inputs: Inputs, settings: FitSettings, caps: dict[str, int]
           ) -> tuple[xr.DataTree, dict[str, np.ndarray], dict[str, float]]:
    """Sample the posterior for ``inputs`` at ``caps``.

    Returns the sampler's DataTree, the model's deterministic quantities
    (:func:`_forward`) and timings (``compile`` is 0 when the process had the model).
    With ``settings.progress`` it reports its stages and a sampling bar through
    :mod:`forecast.progress` (the sampler's own progress callbacks: the draws do not change).
    """
    timings: dict[str, float] = {}
    with _quiet(settings.progress):
        t0 = time.perf_counter()
        entry = _cached(inputs, caps, settings.sampler, settings.progress)
        timings["compile"] = time.perf_counter() - t0
        padded = _padded(inputs, caps)
        names = entry["data_names"] if settings.sampler == "nutpie" else entry["model"].data_names
        arrays = {k: v for k, v in padded.items() if k in names}
        _check_indices(arrays, caps, inputs.structure[2])
        target_accept = 0.9 if inputs.structure[0] == "student" else 0.8  # heavy tails: smaller steps
        total = settings.chains * (settings.tune + settings.draws)
        if settings.sampler == "pymc" and settings.progress:
            _progress.stage("compiling the model (PyTensor, cached on disk)")  # inside pm.sample
        t0 = time.perf_counter()
        with _sampling_bar(settings.progress, total) as advance:
            if settings.sampler == "nutpie":
                import nutpie

                compiled = entry["nutpie"].with_data(**arrays)
                report = None if advance is None else lambda chains: advance(sum(c.finished_draws for c in chains))
                tree = nutpie.sample(compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
                                     cores=settings.cores, seed=settings.seed, progress_bar=False,
                                     progress_callback=report, save_warmup=False, target_accept=target_accept)
            else:
                import pymc as pm

                count = itertools.count(1)
                callback = None if advance is None else lambda **_: advance(next(count))
                with _LOCK, entry["model"]:  # the model's data are set for this fit: one fit at a time
                    pm.set_data(arrays)
                    tree = pm.sample(draws=settings.draws, tune=settings.tune, chains=settings.chains,
                                     cores=settings.cores, random_seed=settings.seed, nuts_sampler="pymc",
                                     progressbar=False, compute_convergence_checks=False, callback=callback,
                                     target_accept=target_accept, quiet=True)
        timings["sampling"] = time.perf_counter() - t0
        timings["sampling_reported"] = float(tree["posterior"].attrs.get("sampling_time", np.nan))
        draws = {name: np.asarray(tree["posterior"][name].values) for name in _free_names(inputs.structure)}
    return tree, _forward(inputs, padded, draws), timings


@contextlib.contextmanager
def _sampling_bar(show: bool, total: int) -> Iterator[Callable[[int], None] | None]:
    """A "sampling" bar of ``total`` draws (tuning included), or None; ``advance(done)`` moves it to ``done``."""
    if not show:
        yield None
        return
    lock = threading.Lock()
    with _progress.bar(total, "sampling") as bar:

        def advance(done: int) -> None:  # called from the sampler's thread
            with lock:
                done = min(done, total)
                if done > bar.done:
                    bar.update(done - bar.done)

        yield advance
        advance(total)


# --------------------------------------------------------------------------- fitting


@dataclass(frozen=True, eq=False)
class FitRun:
    """One sampler run on a compiled design: what :func:`fit` and the benchmark build on."""

    inputs: Inputs
    idata: xr.DataTree
    diagnostics: pd.DataFrame
    convergence_warning: str | None
    caps: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def fit_design(design: Design, settings: FitSettings, minimum_caps: dict[str, int] | None = None) -> FitRun:
    """Sample the model of a compiled design: the DataTree, diagnostics and warning.

    ``minimum_caps``: pad to at least these sizes (see :func:`capacities`).
    """
    inputs = prepare_inputs(design, settings.likelihood, settings.reliability)
    caps = capacities(inputs, minimum_caps)
    raw, values, timings = sample(inputs, settings, caps)
    if settings.progress:
        _progress.stage("computing tables")
    tree = posterior_tree(inputs, raw, values, settings)
    table, warning = diagnostics(tree, design.scenario)
    return FitRun(inputs, tree, table, warning, caps, timings)


@dataclass(frozen=True, eq=False)
class ModelFit:
    """The model's result, as :func:`forecast.tables.make_forecast` reads it.

    Attributes
    ----------
    as_of : datetime.date
    branch_points : list of ndarray
        Each branch's ``K`` probabilities: the Bayes point of its posterior (see the module).
    branch_intervals : list of (ndarray, ndarray)
        Posterior quantiles of each branch's probabilities (containing the point).
    branch_draws : list of ndarray
        Each branch's ``(n_keep, K)`` joint posterior draws, thinned to ``settings.draws``
        of the scenario.
    n_evidence : ndarray
        Entries applied to each branch.
    seed : int
    idata : xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``constant_data`` (:mod:`forecast.diagnostics`).
    diagnostics : DataFrame
        Per branch: ``event``, ``given``, ``r_hat``, ``ess_bulk``.
    convergence_warning : str or None
    settings : dict
        ``likelihood``, ``reliability``, ``draws``, ``tune``, ``chains``, ``seed``, ``cores``, ``sampler``.
    trajectory : callable
        Builds the trajectory table (a refit as of each date) when called.
    """

    as_of: dt.date
    branch_points: list[np.ndarray]
    branch_intervals: list[tuple[np.ndarray, np.ndarray]]
    branch_draws: list[np.ndarray]
    n_evidence: np.ndarray
    seed: int
    idata: xr.DataTree
    diagnostics: pd.DataFrame
    convergence_warning: str | None
    settings: dict[str, str | int]
    trajectory: Callable[[], pd.DataFrame]


TRAJECTORY_COLUMNS = ["date", "event", "given", "outcome", "probability", "lower", "upper", "r_hat", "ess_bulk"]


def fit(scenario: Scenario, evidence: EvidenceLog, as_of: dt.date | str | None = None, *,
        likelihood: str = "normal", reliability: str = "fixed", draws: int = 1000, tune: int = 1000,
        chains: int = 2, seed: int | None = None, progress: bool | None = None, cores: int | None = None,
        sampler: str = "nutpie") -> ModelFit:
    """Forecast by the Bayesian model (see the module docstring) as of a date.

    ``seed`` defaults to the scenario's; ``cores`` to ``min(chains, cpu count)``. Bad
    settings (a negative seed, an unknown likelihood, ...) raise :class:`ForecastError`.
    ``sampler``: ``"nutpie"`` (the default; its compiled model is cached on disk, see
    :mod:`forecast.model_cache`) or ``"pymc"`` (PyMC's own NUTS).

    ``progress``: report the stages on stderr (compiling or loading the model, sampling
    with a bar, computing tables) through :mod:`forecast.progress`: a bar on a terminal,
    plain lines elsewhere. ``None`` (the default) follows :func:`forecast.progress.is_enabled`
    (``FORECAST_PROGRESS``, :func:`forecast.progress.set_progress`); a notebook that must
    print nothing calls ``forecast.progress.set_progress(False)`` (or passes ``progress=False``).
    Progress never changes the draws.

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, evidence = load_default()
    >>> result = fit(scenario, evidence, draws=200, tune=200)  # doctest: +SKIP
    >>> sorted(result.idata["posterior"].dims)  # doctest: +SKIP
    ['branch', 'chain', 'component', 'date', 'draw', 'entry', 'outcome']
    """
    show = _progress.is_enabled() if progress is None else bool(progress)
    settings = FitSettings(likelihood, reliability, draws, tune, chains, scenario.settings.seed if seed is None else seed,
                           cores, sampler, show)
    with _showing(show):
        design = compile_design(scenario, evidence, as_of)
        run = fit_design(design, settings)
    level, n_keep = scenario.settings.interval, scenario.settings.draws
    points, intervals, kept = summaries(run.inputs, run.idata, level, n_keep)

    def trajectory() -> pd.DataFrame:
        quiet = dataclasses.replace(settings, progress=False)
        rows = []
        with _showing(show), contextlib.ExitStack() as stack:
            bar = stack.enter_context(_progress.bar(len(design.dates), "trajectory (a fit per date)")) if show else None
            for t, date in enumerate(design.dates):
                at = run if t == len(design.dates) - 1 else fit_design(
                    compile_design(scenario, evidence, date.date()), quiet, run.caps)
                p, iv, _ = summaries(at.inputs, at.idata, level, n_keep)
                for branch in scenario.branches:
                    event = scenario.event(branch.event)
                    for k, outcome in enumerate(event.outcomes):
                        rows.append((date.date(), event.id, branch.given_text, outcome, p[branch.index][k],
                                     iv[branch.index][0][k], iv[branch.index][1][k], at.diagnostics["r_hat"].iat[branch.index],
                                     at.diagnostics["ess_bulk"].iat[branch.index]))
                if bar is not None:
                    bar.update()
        return pd.DataFrame(rows, columns=TRAJECTORY_COLUMNS)

    return ModelFit(design.as_of, points, intervals, kept, run.inputs.n_evidence, settings.seed, run.idata,
                    run.diagnostics, run.convergence_warning, settings.as_dict(), trajectory)


@contextlib.contextmanager
def _showing(show: bool) -> Iterator[None]:
    """Progress on within the block when ``show`` (an explicit ``progress=True`` beats ``FORECAST_PROGRESS=0``)."""
    if show:
        with _progress.enabled(True):
            yield
    else:
        yield


def entry_weights(idata: xr.DataTree) -> pd.DataFrame:
    """How much of each signal's claim the model believes: one row per signal.

    Columns: ``entry``, ``event``, ``given``, ``claim`` (``ln lr`` for the favoured outcome),
    ``lr_sd`` (``tau``), ``weight`` (effective), ``true_mean`` and ``true_sd`` (posterior of
    its true log ratio), ``kept`` (``true_mean / claim``: 1 keeps the claim, 0.2 keeps a
    fifth of it, i.e. down-weights it by 80 %; NaN for a claim of 0), ``shift_sd``
    (``(true_mean - claim) / lr_sd``: how far the model moved it, in its own standard
    deviations; NaN for ``lr_sd`` 0), ``mcse`` (Monte Carlo error of ``true_mean``) and
    ``r_hat``. With no reading to contradict them, every ``kept`` is 1 up to Monte Carlo
    error, whatever the likelihood. A small claim (``lr`` near 1) can show a ``kept`` far
    from 1 for an ordinary correction: read ``shift_sd`` too.
    """
    import arviz as az

    post = idata["posterior"].to_dataset()
    if "true_log_lr" not in post:
        raise ForecastError("this DataTree holds no true_log_lr (not a forecast.model fit)")
    lam = post["true_log_lr"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r_hat = az.rhat(lam).values
        mcse = az.mcse(lam).values
    labels = lam["entry"].values
    ids = lam["entry_id"].values if "entry_id" in lam.coords else labels
    const = idata["constant_data"].to_dataset().sel(entry=ids)
    claim = const["claimed_log_lr"].values
    mean = lam.mean(("chain", "draw")).values
    tau = const["lr_sd"].values
    with np.errstate(divide="ignore", invalid="ignore"):
        kept = np.where(claim != 0, mean / claim, np.nan)
        shift = np.where(tau > 0, (mean - claim) / tau, np.nan)
    return pd.DataFrame({
        "entry": labels.astype(str),
        "event": const["entry_event"].values.astype(str),
        "given": const["entry_given"].values.astype(str),
        "claim": claim,
        "lr_sd": tau,
        "weight": const["weight"].values,
        "true_mean": mean,
        "true_sd": lam.std(("chain", "draw")).values,
        "kept": kept,
        "shift_sd": shift,
        "mcse": mcse,
        "r_hat": r_hat,
    })


def point_errors(idata: xr.DataTree) -> pd.DataFrame:
    """The Monte Carlo error of every reported branch probability: one row per branch and outcome.

    Columns ``branch`` (label), ``outcome`` (index), ``probability`` (the reported point) and
    ``mcse``: ArviZ's MCSE of the posterior mean log-odds carried through the point's own
    transformation (softmax, hazard) by its Jacobian; 0 for a resolved branch or a
    constant. A check of a sampled number against a known answer allows a few of these.
    """
    import arviz as az

    post, const = idata["posterior"].to_dataset(), idata["constant_data"].to_dataset()
    state = post["state"].isel(date=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        se_all = az.mcse(state).values
    mean_all = state.mean(("chain", "draw")).values
    labels = [str(c) for c in state["component"].values]
    rows = []
    for b, label in enumerate(str(v) for v in post["branch"].values):
        comps = [i for i, c in enumerate(labels) if c.startswith(f"{label} [")]
        r = float(const["hazard_exponent"].values[b, -1])
        resolved = int(const["resolved"].values[b]) >= 0

        def point(m: np.ndarray, r: float = r) -> np.ndarray:
            p = softmax_last_zero(m)
            if r != 1.0:
                p1 = float(hazard_probability(p[0], r))
                p = np.array([p1, 1.0 - p1])
            return p

        m = mean_all[comps]
        p = point(m)
        jac = np.column_stack([(point(m + h) - point(m - h)) / 2e-6 for h in np.eye(len(m)) * 1e-6])
        se = np.where(np.isfinite(se_all[comps]), se_all[comps], 0.0)
        mcse = np.zeros(len(p)) if resolved else np.abs(jac) @ se
        for k in range(len(p)):
            rows.append((label, k, float(p[k]) if not resolved else float(k == int(const["resolved"].values[b])),
                         float(mcse[k])))
    return pd.DataFrame(rows, columns=["branch", "outcome", "probability", "mcse"])
