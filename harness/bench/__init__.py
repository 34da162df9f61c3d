"""Side-by-side benchmarks against the tools users would otherwise pick (TRL, HF generate).

Goals are ratios measured in the same invocation on the same machine, so machine noise cancels:
each side runs in its own fresh subprocess (fair peak memory), sides alternate A B A B ..., and
the medians and their ratio are reported. `harness bench train|sweep|generate|gpu`.
"""
