"""Preflight and `harness doctor`: what would fail every task, found once, before any work.

- `needs`: what a suite, run config or eval block asks of the machine (config reading only);
- `checks`: whether the machine has it (`CHECKS` registry), and `preflight`, which raises one
  HarnessError naming the file and key;
- `environment`: the machine's own report (torch, CUDA, GPUs, vLLM, lm-eval, Ray, trackers, hub).
"""
