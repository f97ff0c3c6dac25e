"""The ``vfl`` command: ``demo``, ``certs``, ``run``, ``simulate``.

Every failure exits with status 1 and one line ``vfl: error: <reason>`` on stderr;
usage errors exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from crypto.exceptions import CryptoError
from protocols.exceptions import ProtocolError
from vfl import __version__
from vfl.exceptions import VflError

__all__ = ["build_parser", "main"]


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


def _certs(arguments: argparse.Namespace) -> int:
    from vfl.certs import create_job_certificates
    from vfl.jobfile import load_job

    parties = list(arguments.party or [])
    if arguments.config is not None:
        parties += [p.name for p in load_job(arguments.config).parties if p.name not in parties]
    if not parties:
        raise VflError("name the parties with --config JOB or --party NAME")
    created = create_job_certificates(
        Path(arguments.out), parties, days=arguments.days, overwrite=arguments.overwrite
    )
    print(f"job CA and certificates for {', '.join(created)} written to {arguments.out}")
    return 0


def _print_report(report: object) -> None:
    from vfl.jobs import PartyReport

    assert isinstance(report, PartyReport)
    for path, result in zip(report.outputs, report.results, strict=True):
        print(f"{report.party}: step {result['step']} ({result['type']}) -> {path}")
        if result["type"] == "secure_sum":
            totals = ", ".join(
                f"{column}={total:.6g}"
                for column, total in zip(result["columns"], result["totals"], strict=True)
            )
            print(f"  totals over {result['parties']} parties, {result['rows']} rows: {totals}")
        if result["type"] == "psi":
            common = result["intersection_size"]
            learned = "not revealed to this party" if common is None else f"{common} common ids"
            print(f"  {result['ids']} ids, peers {result['peer_ids']}: {learned}")
            if result["aligned_file"]:
                print(f"  aligned rows -> {path.parent / result['aligned_file']}")
        if result["type"] == "hetero_lr":
            _print_training(path, result)
        if result["type"] == "score":
            if result["scores_file"]:
                auc = "" if result["auc"] is None else f" (AUC {result['auc']:.4f} on these rows)"
                print(
                    f"  scored {result['rows']} rows{auc} -> {path.parent / result['scores_file']}"
                )
            else:
                print(f"  sent partial scores for {result['rows']} rows to the guest")
    print(f"{report.party}: finished in {report.seconds:.1f} s")


def _print_training(path: Path, result: dict[str, object]) -> None:
    if result["model_file"] is None:
        print(f"  {result['mode']} training: decrypted masked values only (no model)")
        return
    loss = result["final_loss"]
    final = f", final loss {loss:.4f}" if isinstance(loss, float) else ""
    print(
        f"  trained {result['epochs']} epochs on {result['rows']} rows ({result['stop_reason']})"
        f"{final}; own weights -> {path.parent / str(result['model_file'])}"
    )


def _run(arguments: argparse.Namespace) -> int:
    from vfl.jobfile import load_job
    from vfl.jobs import run_party
    from vfl.logs import configure_logging

    configure_logging(arguments.log_level)
    job = load_job(arguments.config)
    report = run_party(job, arguments.party, show_progress=False if arguments.no_progress else None)
    _print_report(report)
    return 0


def _simulate(arguments: argparse.Namespace) -> int:
    from vfl.jobfile import load_job
    from vfl.jobs import simulate_job
    from vfl.logs import configure_logging

    configure_logging(arguments.log_level)
    job = load_job(arguments.config)
    for report in simulate_job(job).values():
        _print_report(report)
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
    demo.add_argument("--key-length", type=int, default=2048, help="Paillier key bits (2048)")
    demo.add_argument("--n-jobs", type=int, default=-1, help="workers, -1 for every core")
    demo.add_argument(
        "--allow-weak-key", action="store_true", help="permit keys under 2048 bits (quick runs)"
    )
    demo.set_defaults(handler=_demo)

    certs = commands.add_parser(
        "certs",
        help="create a job CA and one TLS certificate per party",
        description=(
            "Create a job certificate authority and, for every party, a certificate and "
            "private key (EC P-256) for mutual TLS. Give each party its own .crt/.key and "
            "everyone the ca.crt; keep ca.key offline."
        ),
    )
    certs.add_argument("--out", required=True, help="directory to write the PEM files to")
    certs.add_argument("--config", help="take the party names from this job file")
    certs.add_argument("--party", action="append", help="a party name (repeatable)")
    certs.add_argument("--days", type=int, default=365, help="validity in days (365)")
    certs.add_argument("--overwrite", action="store_true", help="replace existing files")
    certs.set_defaults(handler=_certs)

    for name, handler, text in (
        ("run", _run, "run one party's side of a job over mutual TLS"),
        ("simulate", _simulate, "run every party of a job in this process (no network)"),
    ):
        command = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument("--config", required=True, help="the job file (TOML)")
        if name == "run":
            command.add_argument("--party", required=True, help="which party this process is")
            command.add_argument("--no-progress", action="store_true", help="no progress bars")
        command.add_argument(
            "--log-level",
            default="INFO",
            choices=["DEBUG", "INFO", "WARNING", "ERROR"],
            help="log detail on stderr (INFO); logs never contain data values",
        )
        command.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vfl`` console script; returns the exit status."""
    arguments = build_parser().parse_args(argv)
    try:
        return int(arguments.handler(arguments))
    except (VflError, CryptoError, ProtocolError, OSError) as error:
        from vfl.runner import describe_failure

        print(f"vfl: error: {describe_failure(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vfl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
