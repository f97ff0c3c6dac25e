"""Command line: ``python -m benchmarks <suite> [options]``.

Each suite is a module with ``DESCRIPTION``, ``add_arguments(parser)`` and
``main(args) -> int``; register it in :data:`SUITES` (``psi`` and ``hetero_lr``
are meant to join ``paillier`` this way).

Process pools use the ``forkserver`` start method, which re-imports the main
module in the server: the entry point below is guarded accordingly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from benchmarks import (
    binning_bench,
    comparison_bench,
    dask_resident,
    hetero_lr_bench,
    initial_weights_bench,
    label_privacy_bench,
    paillier_bench,
    psi_bench,
    psi_scale,
    quality_bench,
)

__all__ = ["SUITES", "build_parser", "main"]

AddArguments = Callable[[argparse.ArgumentParser], None]
SuiteMain = Callable[[argparse.Namespace], int]

SUITES: dict[str, tuple[str, AddArguments, SuiteMain]] = {
    "paillier": (paillier_bench.DESCRIPTION, paillier_bench.add_arguments, paillier_bench.main),
    "psi": (psi_bench.DESCRIPTION, psi_bench.add_arguments, psi_bench.main),
    "psi_scale": psi_scale.SUITE,
    "hetero_lr": hetero_lr_bench.SUITE,
    "label_privacy": label_privacy_bench.SUITE,
    "initial_weights": initial_weights_bench.SUITE,
    "quality": quality_bench.SUITE,
    "binning": binning_bench.SUITE,
    "comparison": comparison_bench.SUITE,
    "dask_resident": dask_resident.SUITE,
}
"""Suite name to ``(description, add_arguments, main)``."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-command per suite.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmarks of the VFL engine."
    )
    subparsers = parser.add_subparsers(dest="suite", required=True, metavar="SUITE")
    for name, (description, add_arguments, suite_main) in SUITES.items():
        sub = subparsers.add_parser(name, help=description, description=description)
        add_arguments(sub)
        sub.set_defaults(handler=suite_main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run the chosen suite.

    Returns
    -------
    int
        The suite's exit status.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    args.argv = arguments
    handler: SuiteMain = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
