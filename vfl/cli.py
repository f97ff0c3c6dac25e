"""The ``vfl`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from crypto.exceptions import CryptoError
from vfl import __version__
from vfl.exceptions import VflError

__all__ = ["main"]


def _demo(arguments: argparse.Namespace) -> int:
    from vfl.demo import run_demo

    result = run_demo(
        key_length=arguments.key_length,
        n_jobs=arguments.n_jobs,
        allow_weak_key=arguments.allow_weak_key,
    )
    if result.max_error > 1e-5:  # fixed-point resolution of the features is 2**-16
        print(f"vfl: error: encrypted gradient differs by {result.max_error:.2e}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vfl``."""
    parser = argparse.ArgumentParser(
        prog="vfl",
        description="Vertical federated learning: PSI and hetero LR over Paillier encryption.",
    )
    parser.add_argument("--version", action="version", version=f"vfl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="one encrypted gradient round on built-in data, checked against plaintext",
        description=(
            "Run one mini-batch of two-party hetero logistic regression on the built-in "
            "breast data with real Paillier encryption (each party its own key, masked "
            "decryption), and compare the gradients with plaintext."
        ),
    )
    demo.add_argument(
        "--key-length", type=int, default=2048, help="Paillier key bits (default 2048)"
    )
    demo.add_argument("--n-jobs", type=int, default=-1, help="workers, -1 for every core (default)")
    demo.add_argument(
        "--allow-weak-key",
        action="store_true",
        help="permit keys under 2048 bits (quick runs only)",
    )
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vfl`` console script; returns the exit status."""
    arguments = build_parser().parse_args(argv)
    try:
        return int(arguments.handler(arguments))
    except (VflError, CryptoError) as error:
        print(f"vfl: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vfl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
