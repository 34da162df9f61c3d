"""stanfordnlp/SHP (Stanford Human Preferences): Reddit posts (``history``) with two top-level
comments (``human_ref_A``/``human_ref_B``), ``labels`` = 1 when A is preferred, ``score_A``/``score_B``.

    load_pairs("shp:stanfordnlp/SHP@train", options={"revision": "<sha>", "min_score_ratio": 2})
    load_pairs("shp:shp_train.jsonl")

Options:
- ``min_score_ratio``: keep a pair only when the preferred comment's score is at least this many
  times the other's (the DPO paper used 2); rows under it are dropped as ``score_ratio``.
  Default: no filter.
- ``form``: ``standard`` (default: the post text) or ``conversational`` (a one-turn user prompt).

Several pairs share one post: their ``prompt_id`` is the ``post_id``, so held-out splits by prompt
stay clean.
"""

from __future__ import annotations

from harness.data import messages as msg
from harness.data.io import Record
from harness.data.schema import PreferencePair
from harness.data.validate import BadRow, Drop, optional_id, require, require_number, require_str
from harness.errors import ConfigError
from harness.hashing import content_hash


def load(req):
    min_ratio = req.option("min_score_ratio", None, float)
    if min_ratio is not None and min_ratio < 1:
        raise ConfigError(f"dataset {req.spec.text!r}: option 'min_score_ratio' must be >= 1, got {min_ratio}")
    form = req.option("form", "standard", str, msg.FORMS)
    return req.map_rows(lambda rec: convert(rec, min_ratio, form))


def convert(rec: Record, min_ratio: float | None, form: str) -> PreferencePair | Drop:
    row = rec.data
    history = require_str(row, "history")
    label = require(row, "labels")
    if isinstance(label, bool) or label not in (0, 1):
        raise BadRow("bad_label", f"field 'labels' must be 1 (A preferred) or 0 (B preferred), got {label!r}")
    a, b = require_str(row, "human_ref_A", allow_empty=True), require_str(row, "human_ref_B", allow_empty=True)
    score_a, score_b = require_number(row, "score_A"), require_number(row, "score_B")
    chosen, rejected = (a, b) if label == 1 else (b, a)
    score_chosen, score_rejected = (score_a, score_b) if label == 1 else (score_b, score_a)
    if min_ratio is not None and score_chosen < min_ratio * score_rejected:
        return Drop("score_ratio", rec.index)
    prompt = msg.as_prompt(history, form)
    prompt_id = optional_id(row, "post_id") or content_hash(history)
    meta = {"score_chosen": score_chosen, "score_rejected": score_rejected}
    if isinstance(row.get("domain"), str):
        meta["domain"] = row["domain"]
    return PreferencePair(prompt, chosen, rejected, rec.index, prompt_id, meta=meta)
