"""Log-probabilities: per-sequence log-probs of a batch (`logps`) and the reference cache (`refcache`).
"""
