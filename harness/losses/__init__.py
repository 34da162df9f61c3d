"""Loss registry. `get_loss(name)(pc, pr, rc, rr, beta=..., **params)`; see `base` for shapes.

Adding a loss: write a pure function in a module here, decorate it with `@register_loss(...)`,
and import the module below. Nothing else dispatches on loss names.
"""

from harness.losses import anchored, dpo  # noqa: F401  (registers the built-in losses)
from harness.losses.base import LOSSES, LossInfo, LossOutput, get_loss, register_loss

__all__ = ["LOSSES", "LossInfo", "LossOutput", "get_loss", "register_loss"]
