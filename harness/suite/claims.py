"""A suite's `report.claims`, checked when the suite loads: before anything trains.

    check_claims(suite)   # ConfigError naming report.claims[N].metric / .where.KEY / .than.KEY / .by[i]

The verdict (harness.analysis.verdict) tests each claim on the results at the end of the suite; a claim
whose metric does not exist, or whose `where:` names a variant or axis value the grid does not
have, used to train the whole suite and then show "? ... no cell has ...". Here the grid is
expanded (cheap: configs only, no torch) and every claim is held against it: the metric must be
in the catalogue (harness.results.catalogue, or an lm-eval result `lmeval/TASK/METRIC`), and every key of
`where` / `than` / `by` must be a run key, with a value that some run has (`max` and `min` stand
for the largest and smallest). Each mistake is named where it is, with "did you mean".
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from harness.errors import ConfigError

EVAL_SOURCES = ("samples", "pairs", "evals")  # metrics only an `eval:` section produces


def check_claims(suite) -> None:
    claims = suite.spec.report.claims
    if not claims:
        return
    values = _run_values(suite)
    for i, claim in enumerate(claims):
        where = f"{suite.source}: report.claims[{i}]"
        _check_metric(claim.metric, suite, f"{where}.metric")
        for side in ("where", "than"):
            for raw, want in (getattr(claim, side) or {}).items():
                _check_key_value(raw, want, values, f"{where}.{side}.{raw}")
        for j, raw in enumerate(claim.by):
            _known_key(raw, values, f"{where}.by[{j}]")


def _check_metric(name: str, suite, where: str) -> None:
    from harness.results.catalogue import METRICS

    if name.startswith("lmeval/"):  # lm-eval's own names: known only once a task has run
        return
    if name not in METRICS:
        raise ConfigError(f"{where}: {METRICS.unknown_message(name)}")
    if METRICS.get(name).source in EVAL_SOURCES and suite.spec.eval is None:
        raise ConfigError(f"{where}: {name!r} comes from the evaluation, but the suite has no eval: section")


def _run_values(suite) -> dict[str, list[Any]]:
    """Every flattened run key of the grid's runs -> its distinct values, in first-seen order."""
    from harness.analysis.frame import flatten
    from harness.config import to_dict
    from harness.suite.grid import expand

    values: dict[str, list[Any]] = {}
    for run in expand(suite).runs:
        for key, value in flatten(to_dict(run.config)).items():
            seen = values.setdefault(key, [])
            if not any(_same(value, v) for v in seen):
                seen.append(value)
    return values


def _known_key(raw: str, values: dict, where: str) -> str:
    from harness.analysis.cells import ALIASES, key_of

    key = key_of(raw)
    if key in values:
        return key
    varying = [k for k, vs in values.items() if len(vs) > 1 and not k.endswith("seed")]
    names = sorted(set(varying) | {a for a, k in ALIASES.items() if k in varying})
    close = difflib.get_close_matches(raw, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"{where}: {raw!r} is not a key of the grid's runs{hint} (grid keys: {', '.join(names) or 'none'})")


def _check_key_value(raw: str, want: Any, values: dict, where: str) -> None:
    key = _known_key(raw, values, where)
    if want in ("max", "min") or any(_same(want, v) for v in values[key]):
        return
    have = [str(v) for v in values[key]]
    close = difflib.get_close_matches(str(want), have, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    what = "variant" if key == "name" else f"value of {key}"
    raise ConfigError(f"{where}: {want!r} names no {what} in the grid{hint} (the grid has: {', '.join(have)})")


def _same(a: Any, b: Any) -> bool:
    from harness.analysis.cells import same

    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
    return same(a, b)
