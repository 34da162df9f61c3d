"""HuggingFaceH4/ultrafeedback_binarized (and its derivatives): ``prompt``, ``prompt_id``, ``chosen``/
``rejected`` as ``[user, assistant]`` message lists, ``score_chosen``/``score_rejected`` (GPT-4, 1–10).

    load_pairs("ultrafeedback-binarized")                    # shipped 16-row sample (4 ties)
    load_pairs("ultrafeedback-binarized:HuggingFaceH4/ultrafeedback_binarized@train_prefs",
               options={"revision": "<sha>"})

Options:
- ``drop_ties`` (default true): equal scores carry no preference (the H4 binarisation keeps them);
  they are dropped and counted as ``tie``. ``false`` keeps them.
- ``form``: ``conversational`` (default: the prompt as a one-turn user conversation) or
  ``standard`` (the prompt string).

Rows without ``prompt`` (trl-lib's copy keeps only the two conversations) take the shared turns
before the last one as the prompt; rows without scores cannot tie. A conversation that does not
start with the row's prompt is ``prompt_mismatch``; a chosen score below the rejected one is
``scores_inverted`` (the pair would teach the opposite preference).
"""

from __future__ import annotations

from harness.data import messages as msg
from harness.data.io import Record
from harness.data.schema import PreferencePair
from harness.data.validate import BadRow, Drop, optional_id, require, require_number, require_str
from harness.hashing import content_hash

SCORES = ("score_chosen", "score_rejected")


def load(req):
    drop_ties = req.option("drop_ties", True, bool)
    form = req.option("form", "conversational", str, msg.FORMS)
    return req.map_rows(lambda rec: convert(rec, drop_ties, form))


def convert(rec: Record, drop_ties: bool, form: str) -> PreferencePair | Drop:
    row = rec.data
    chosen_value, rejected_value = require(row, "chosen"), require(row, "rejected")
    if row.get("prompt") is not None:
        text = require_str(row, "prompt")
        chosen = msg.response(chosen_value, "chosen", text)
        rejected = msg.response(rejected_value, "rejected", text)
        prompt = msg.as_prompt(text, form)
    else:
        turns, chosen, rejected = msg.implicit_prompt(chosen_value, rejected_value)
        single_user = len(turns) == 1 and turns[0]["role"] == "user"
        prompt = turns[0]["content"] if form == "standard" and single_user else turns
    meta = {}
    if any(k in row for k in SCORES):
        score_chosen, score_rejected = (require_number(row, k) for k in SCORES)
        if score_chosen < score_rejected:
            raise BadRow("scores_inverted", f"score_chosen {score_chosen} is below score_rejected {score_rejected}")
        if score_chosen == score_rejected and drop_ties:
            return Drop("tie", rec.index)
        meta = {"score_chosen": score_chosen, "score_rejected": score_rejected}
    prompt_id = optional_id(row, "prompt_id") or content_hash(prompt)
    return PreferencePair(prompt, chosen, rejected, rec.index, prompt_id, meta=meta)
