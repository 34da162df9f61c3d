"""The read side: results as frames (load, extract, aggregate), cell identity, the reward-model
signal, several folders as one, claims and the verdict, statistics. `report/` and `regress/` stand on it.
"""
