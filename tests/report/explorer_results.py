"""A synthetic results folder with what explorer.html shows: tests/report/test_report.py's runs, steps,
scores and evals, plus generations for every scored run, the reference's generations and scores,
and claims in suite.json so that the verdict has lines to link. Shared by the explorer's tests.

    root = explorer_results(tmp / "synthetic")     # report.html and explorer.html written
    data = payload(root / "explorer.html")          # the page's embedded data, decoded as the page does
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path

from builders import make_results

from harness.results.store import ResultStore

CLAIMS = [{"kind": "sign", "text": "MinorDPO keeps r_w above 0", "metric": "final_logratio_chosen",
           "where": {"variant": "minor_dpo"}, "op": ">", "value": 0},
          {"kind": "difference", "text": "Verifier accuracy, MinorDPO − DPO", "metric": "verifier_accuracy",
           "where": {"variant": "minor_dpo"}, "than": {"variant": "dpo"}, "by": ["lr"]}]


def add_generations(root: Path) -> Path:
    """Generations for every scored run (as harness.evaluation writes them), and the reference's
    generations and scores. A completion is right exactly when its score says `correct`."""
    store = ResultStore(root)
    evals = store.read("evals")
    ref = str(evals.loc[evals["is_reference"].fillna(False).astype(bool), "run_id"].iloc[0])
    store.write("scores", ref, [{"run_id": ref, "prompt_id": f"p{j}", "sample": 0, "reward": 0.9, "correct": 1.0,
                                 "kl": 0.0} for j in range(32)])
    scores = store.read("scores")
    for rid, g in scores.groupby("run_id"):
        rows = []
        for r in g.itertuples():
            j = int(r.prompt_id[1:])
            answer = 3 * j if r.correct == 1 else 3 * j + 1
            text = f"{j}+{2 * j}={answer} " + "so " * ((j * 7 + len(rid)) % 5) + f"#{answer}"
            rows.append({"run_id": rid, "prompt_id": r.prompt_id, "sample": 0, "prompt": f"Q{j}: what is {j} + {2 * j}?",
                         "completion": text, "completion_tokens": len(text.split()), "finish_reason": "stop",
                         "backend": "hf", "gold": str(3 * j)})
        store.write("generations", rid, rows)
    return root


def suite_json(root: Path, name: str = "synthetic") -> None:
    (root / "suite.json").write_text(json.dumps({"name": name, "spec": {"report": {"claims": CLAIMS}}}))


def payload(page: Path) -> dict:
    blob = re.search(r'id="data-gz">([^<]*)<', page.read_text()).group(1)
    return json.loads(gzip.decompress(base64.b64decode(blob)))



def explorer_results(root: Path) -> Path:
    from harness.report import write_report

    root = add_generations(make_results(root))
    suite_json(root)
    write_report(root, plots=False)
    return root


def with_pairs(root: Path, monkeypatch) -> Path:
    """`root` with a per-pair table as another issue may add it (run_id, prompt_id, chosen/rejected
    log-ratio per held-out pair), declared to the store for this test only; report rewritten."""
    import pyarrow as pa

    from harness.report import write_report
    from harness.results.schema import TABLES

    monkeypatch.setitem(TABLES, "pairs", {"run_id": pa.string(), "prompt_id": pa.string()})
    store = ResultStore(root)
    for i, rid in enumerate(sorted(store.read("scores")["run_id"].unique())):
        store.write("pairs", rid, [{"run_id": rid, "prompt_id": f"p{j}", "chosen_logratio": (i * 7 + j * 3) % 11 - 5.0,
                                    "rejected_logratio": -float(j)} for j in range(4)])
    write_report(root, plots=False)
    return root
