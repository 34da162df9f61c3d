"""CLI subcommands: one module each, `add_arguments(parser)` + `run(args) -> int`.

Commands that take dotted `key=value` overrides accept them anywhere, before or after the
options, as `torchrun` and `tune` users expect: `with_overrides(parser, options)` declares the
options and a REMAINDER of overrides; `split_overrides(args, options, prog)` then parses options
that came after the first override (which REMAINDER swallowed) into `args`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

Options = Callable[[argparse.ArgumentParser], None]


def with_overrides(p: argparse.ArgumentParser, options: Options, help_: str = "dotted overrides") -> None:
    options(p)
    p.add_argument("overrides", nargs=argparse.REMAINDER, metavar="key=value", help=help_)


def split_overrides(args, options: Options, prog: str) -> None:
    p = argparse.ArgumentParser(prog=prog, add_help=False)
    options(p)
    p.add_argument("overrides", nargs="*")
    rest = p.parse_intermixed_args(args.overrides)
    args.overrides = rest.overrides
    for action in p._actions:
        name = action.dest
        if name in ("overrides", "help"):
            continue
        value = getattr(rest, name)
        if value != p.get_default(name):  # given after the overrides: it wins over the default
            setattr(args, name, value if not isinstance(value, bool) else (value or getattr(args, name, False)))
