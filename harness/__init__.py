"""harness: a benchmark harness for DPO-family preference optimisation (DPO, MinorDPO, IPO, ...).

Importing this package is cheap on purpose: torch, vLLM, lm-eval and friends are imported
lazily, inside the functions that need them. Entry point: ``harness --help``.
"""

__version__ = "0.1.0"
