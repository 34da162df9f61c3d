"""Applies the mutation named by HARNESS_MUTATION in every Python process (see mutants.py)."""

import os

if os.environ.get("HARNESS_MUTATION"):
    import mutants

    mutants.apply(os.environ["HARNESS_MUTATION"])
