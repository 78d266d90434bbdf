"""Command-line value parsers shared by every subcommand's parser."""

from __future__ import annotations

import argparse


def csv_list(kind: str, conv=str):
    """An argparse `type`: a comma-separated list, each item converted by `conv`."""

    def parse(text: str):
        items = [t.strip() for t in text.split(",")]
        if not text.strip() or any(not t for t in items):
            raise argparse.ArgumentTypeError(f"{kind}: expected a comma-separated list, got {text!r}")
        try:
            return [conv(t) for t in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind}: cannot parse {text!r}") from None

    return parse
