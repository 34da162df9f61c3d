"""The metric catalogue: every metric the harness reports, with where it comes from and how it is judged.

    from harness.results.catalogue import METRICS, metric
    metric("verifier_accuracy").header          # "verifier acc"
    metric("lmeval/harness_arith/exact_match,none")   # lm-eval results get a generic entry

One entry per metric, after lm-eval's `register_metric`: its source and column, how a run's and a
cell's value are aggregated, its table header and good direction, its default regression floor.
The code that produces a source reads the catalogue to know what to write, and everything
downstream (harness.analysis.frame, report, verdict, regress) only reads and aggregates what an entry
says. Adding a metric is one entry here plus its computation where its source is produced.

Sources:
- ``samples``: a per-sample column of the evaluation (`scores` / `generations`: reward, correct,
  kl, completion_tokens, stopped); evaluation writes its mean over prompts to `evals`, with a
  bootstrap interval that resamples prompts (harness.evaluation.metrics.sample_metrics);
- ``pairs``: a per-pair column of the held-out preference pairs, scored by the evaluation under the
  policy and the reference; written to `evals` the same way;
- ``evals``: a row the evaluation writes itself (win-rate against the reference, the reward
  model's own held-out accuracy);
- ``steps``: a column of the `steps` table (STEP_COLUMNS), reported as its final value: the held-out
  (`eval`) split at its last step when the run has one, else the mean of the last 10% of training
  steps (one training batch is too noisy to call final);
- ``runs``: a count from the run's status (diverged, failed);
- ``pair_table``: a column of the `pairs` table (one row per run x held-out pair), judged per pair
  by `quantile` claims (harness.analysis.pairs); not aggregated per run, so not in tables or regress cells.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from harness.registry import Registry


@dataclasses.dataclass(frozen=True)
class Metric:
    name: str
    header: str  # short column header
    description: str
    source: Literal["samples", "pairs", "evals", "steps", "runs", "pair_table"] = "evals"
    column: str = ""  # samples / pairs / steps: the column it is computed from
    cell: Literal["mean", "sum"] = "mean"  # over seeds: mean ± t-interval, or a count (k/n)
    higher_is_better: bool | None = None
    main: float | None = None  # position in the report's main table, sorted (None: not a main column)
    brief: bool = False  # in the one-line summary `harness eval` prints per run
    # harness.regress: a move is flagged only when the test over seeds finds it AND it exceeds this
    # practical floor, max(tol_abs, tol_rel x |baseline|); `exact`: no test, any move beyond the floor
    tol_abs: float = 0.05
    tol_rel: float = 0.0
    exact: bool = False
    needs_rm: bool = False  # judged by the reward model: no signal while it is at chance
    digits: int = 3


METRICS: Registry[Metric] = Registry("metric")


def register_metric(m: Metric) -> Metric:
    return METRICS.register(m.name, m)


def metric(name: str) -> Metric:
    """The catalogue entry, or a generic one for metrics the catalogue does not know (lm-eval's)."""
    if name in METRICS:
        return METRICS.get(name)
    if name.startswith("lmeval/"):  # lmeval/<task>/<metric>,<filter>
        _, task, rest = name.split("/", 2)
        return Metric(name, f"{task} {rest.split(',')[0]}", f"lm-eval task {task}, {rest}", source="evals")
    return Metric(name, name, "")


def by_source(*sources: str) -> list[Metric]:
    return [METRICS.get(n) for n in METRICS.names() if METRICS.get(n).source in sources]


def sample_columns(table_columns) -> dict[str, str]:
    """metric -> its per-sample column, for the sample metrics whose column is in `table_columns`
    (the `scores` table's: what a paired claim resamples prompts of)."""
    return {m.name: m.column for m in by_source("samples") if m.column in set(table_columns)}


# What the evaluation writes to `evals` that is not a result: machine timings, and the marker
# of a failed evaluation. Reports, the verdict and regress skip them.
NOT_RESULTS = {"generation_s": "seconds generating (machine-dependent)",
               "scoring_s": "seconds scoring (machine-dependent)",
               "eval_failed": "marker row of an evaluation that raised (its `error` column says why)"}


@dataclasses.dataclass(frozen=True)
class GridKey:
    """A config key as tables, claims, progress lines and `--by` name it: one entry per key, so
    that every list of grid keys is derived from here."""

    key: str  # the dotted config key ("loss.beta"); "name" is the variant's name
    header: str  # table header ("β")
    short: str  # in progress lines and the dry run ("beta=0.1")
    aliases: tuple[str, ...] = ()  # what claims, expectations and `--by` may call it
    order: int | None = None  # position among a table's cell keys (None: after these, alphabetically)
    cell: bool = True  # False: never identifies a cell (seeds, paths, placement)
    shown: bool = False  # always a column of `harness run --dry-run`


KEYS: Registry[GridKey] = Registry("grid key")


def register_key(k: GridKey) -> GridKey:
    return KEYS.register(k.key, k)


for _k in [
    GridKey("name", "variant", "name", ("variant",), order=0, shown=True),
    GridKey("loss.name", "loss", "loss", ("loss",), order=1, shown=True),
    GridKey("loss.beta", "β", "beta", ("beta",), order=2, shown=True),
    GridKey("train.learning_rate", "lr", "lr", ("lr", "learning_rate"), order=3, shown=True),
    GridKey("train.seed", "seed", "seed", ("seed",), cell=False, shown=True),
    GridKey("model.name", "model", "model", ("model",)),
    GridKey("data.train", "data", "data", ("data", "dataset")),
    # paths and machine placement: they change where a run reads or runs, not what it is
    GridKey("model.init_from", "init from", "init_from", cell=False),
    GridKey("reference", "reference", "reference", cell=False),
    GridKey("train.device", "device", "device", cell=False),
    GridKey("train.threads", "threads", "threads", cell=False),
]:
    register_key(_k)


def grid_key(key: str) -> GridKey:
    """The entry of a dotted key, or a plain one named after the key itself."""
    return KEYS.get(key) if key in KEYS else GridKey(key, key, key)


def key_aliases() -> dict[str, str]:
    """alias -> dotted key, for every entry."""
    return {a: k.key for k in (KEYS.get(n) for n in KEYS.names()) for a in k.aliases}


def ordered_keys() -> list[str]:
    return [k.key for k in sorted((KEYS.get(n) for n in KEYS.names()), key=lambda k: (k.order is None, k.order or 0))
            if k.order is not None]


def non_cell_keys() -> set[str]:
    return {n for n in KEYS.names() if not KEYS.get(n).cell}


def shown_keys() -> list[GridKey]:
    """The always-shown keys: the ordered ones first, in their order, then the rest (the seed)."""
    shown = [KEYS.get(n) for n in KEYS.names() if KEYS.get(n).shown]
    return sorted(shown, key=lambda k: (k.order is None, k.order or 0, k.key))


# The per-step columns the trainer computes (harness.trainer.metrics) and `steps` stores
# (harness.results.schema): name -> meaning. r = log pi - log pi_ref summed over response tokens.
STEP_COLUMNS = {
    "loss": "per-pair loss (compare losses on the metrics below, never on this)",
    "logratio_chosen": "r_w, unscaled",
    "logratio_rejected": "r_l, unscaled",
    "reward_margin": "chosen - rejected reward as the loss reports them (beta * h)",
    "reward_accuracy": "share of pairs with chosen reward > rejected reward",
    "frac_rejected_above_ref": "share with r_l > 0 (MinorDPO's gate open)",
    "frac_chosen_below_ref": "share with r_w < 0 (likelihood displacement)",
    "logps_chosen": "policy log-prob per chosen response token",
    "logps_rejected": "policy log-prob per rejected response token",
    "nonfinite": "pairs whose loss or log-probs are not finite (+1 if the grad norm is not)",
}

for _m in [
    # evaluation, per sample (written to `evals` with bootstrap CIs over prompts)
    Metric("reward_mean", "reward", "mean reward-model score of generations", "samples", "reward", main=0, brief=True,
           tol_abs=0.1, needs_rm=True, higher_is_better=True),
    Metric("verifier_accuracy", "verifier acc", "share of generations whose final answer is correct", "samples",
           "correct", main=2, brief=True, higher_is_better=True),
    Metric("kl_mean", "KL", "mean sequence KL(policy || reference) on generations", "samples", "kl", main=3, brief=True,
           tol_abs=0.5, tol_rel=0.25, higher_is_better=False),
    Metric("completion_tokens_mean", "tokens", "mean generated tokens", "samples", "completion_tokens", tol_abs=2.0),
    Metric("stop_rate", "stop rate", "share of generations that ended with EOS", "samples", "stopped"),
    # evaluation, per held-out pair
    Metric("chosen_logp", "held-out chosen log-prob", "log pi of held-out chosen responses", "pairs", "chosen_logp",
           tol_abs=1.0, tol_rel=0.25),
    Metric("rejected_logp", "held-out rejected log-prob", "log pi of held-out rejected responses", "pairs",
           "rejected_logp", tol_abs=1.0, tol_rel=0.25),
    Metric("chosen_logratio", "held-out chosen log-ratio", "log pi/pi_ref of held-out chosen responses", "pairs",
           "chosen_logratio", tol_abs=0.5, tol_rel=0.25),
    Metric("rejected_logratio", "held-out rejected log-ratio", "log pi/pi_ref of held-out rejected responses",
           "pairs", "rejected_logratio", tol_abs=0.5, tol_rel=0.25),
    # evaluation, whole rows
    Metric("winrate_vs_ref", "win-rate", "share of prompts where the reward model prefers the run's generation "
           "to the reference policy's", main=1, brief=True, needs_rm=True, higher_is_better=True),
    # read side (harness.analysis.length, from `scores` + `generations`): the win-rate at zero length difference
    Metric("lc_winrate_vs_ref", "LC win-rate", "length-controlled win-rate vs the reference: a logistic model of "
           "the reward model's preference in the completion-length difference, read at zero difference", main=1.5,
           needs_rm=True, higher_is_better=True),
    Metric("rm_heldout_accuracy", "RM acc", "the reward model's own held-out pair accuracy", brief=True, tol_abs=0.05,
           higher_is_better=True),
    # training (the last steps of `steps`)
    Metric("final_logratio_chosen", "chosen log-ratio", "final log pi/pi_ref of the chosen response", "steps",
           "logratio_chosen", main=4, tol_abs=0.5, tol_rel=0.25),
    Metric("final_logratio_rejected", "rejected log-ratio", "final log pi/pi_ref of the rejected response", "steps",
           "logratio_rejected", tol_abs=0.5, tol_rel=0.25),
    Metric("final_reward_accuracy", "reward acc", "final share of pairs with r_w > r_l", "steps", "reward_accuracy",
           higher_is_better=True),
    Metric("final_reward_margin", "margin", "final beta * (r_w - r_l)", "steps", "reward_margin", tol_abs=0.5,
           tol_rel=0.25),
    Metric("final_frac_chosen_below_ref", "displaced", "final share of pairs whose chosen log-ratio is < 0", "steps",
           "frac_chosen_below_ref", main=5, higher_is_better=False),
    Metric("final_frac_rejected_above_ref", "rejected above ref", "final share of pairs with r_l > 0", "steps",
           "frac_rejected_above_ref"),
    # per held-out pair (`pairs` table): what quantile claims compare across a pair feature's quantiles
    Metric("pair_displaced", "displaced (per pair)", "held-out pair whose final chosen log-ratio is < 0 (1/0)",
           "pair_table", "displaced", higher_is_better=False),
    Metric("pair_chosen_logratio", "r_w (per pair)", "final chosen log-ratio of a held-out pair", "pair_table",
           "chosen_logratio"),
    # outcomes (`runs`)
    Metric("diverged", "diverged", "runs stopped as diverged (count over seeds)", "runs", "status", cell="sum",
           main=6, tol_abs=0, higher_is_better=False, digits=0),
    Metric("failed", "failed", "runs that failed (count over seeds)", "runs", "status", cell="sum", tol_abs=0,
           exact=True, higher_is_better=False, digits=0),
]:
    register_metric(_m)
