"""The ``vfl`` command: ``demo``, ``certs``, ``run``, ``simulate``, ``audit``, ``board``.

Every failure exits with status 1 and one line ``vfl: error: <reason>`` on stderr;
usage errors exit with status 2; Ctrl-C (SIGINT) with 130 and SIGTERM with 143, after
telling the peers.  When ``vfl run`` stops with checkpoints left, a line says that
``--resume`` continues it and from where.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from crypto.exceptions import CryptoError
from protocols.exceptions import ProtocolError
from vfl import __version__
from vfl.exceptions import VflError
from vfl.runtime.progress import PROGRESS_STYLES
from vfl.runtime.signals import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Terminated,
    terminate_like_interrupt,
)

if TYPE_CHECKING:
    from vfl.jobs.jobfile import JobConfig

__all__ = ["build_parser", "main"]


def _demo(arguments: argparse.Namespace) -> int:
    from vfl.demo import CUSTOMERS, EPOCHS, run_demo

    customers = CUSTOMERS if arguments.customers is None else arguments.customers
    run_demo(
        workdir=arguments.workdir,
        key_length=arguments.key_length,
        epochs=EPOCHS if arguments.epochs is None else arguments.epochs,
        seed=arguments.seed,
        allow_weak_key=arguments.allow_weak_key,
        customers=customers or None,  # 0: all of them
    )
    return 0


def _certs(arguments: argparse.Namespace) -> int:
    from vfl.certs import create_job_certificates
    from vfl.jobs.jobfile import load_job

    if arguments.out is None:
        arguments.usage_error(
            "the following arguments are required: --out (or use a subcommand: ca, request, sign)"
        )
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


def _certs_ca(arguments: argparse.Namespace) -> int:
    from vfl.certs import create_job_ca, fingerprint

    ca = create_job_ca(Path(arguments.out), days=arguments.days, overwrite=arguments.overwrite)
    print(f"job CA certificate -> {ca.certificate} (send it to every party)")
    print(f"job CA key         -> {ca.private_key} (mode 0600; it never leaves this machine)")
    print(f"ca.crt SHA-256 fingerprint: {fingerprint(ca.certificate)}")
    print("  every party checks it over a second channel (a phone call) before trusting ca.crt")
    return 0


def _certs_request(arguments: argparse.Namespace) -> int:
    from vfl.certs import create_certificate_request, fingerprint

    key, request = create_certificate_request(
        Path(arguments.out), arguments.party, overwrite=arguments.overwrite
    )
    print(f"{arguments.party}: private key -> {key} (mode 0600; it never leaves this machine)")
    print(f"{arguments.party}: request     -> {request} (send only this file to the CA operator)")
    print(f"request SHA-256 fingerprint: {fingerprint(request)}")
    print("  read it to the CA operator over a second channel (a phone call)")
    return 0


def _certs_sign(arguments: argparse.Namespace) -> int:
    from vfl.certs import fingerprint, locate_ca, sign_certificate_request
    from vfl.jobs.jobfile import load_job

    csr = Path(arguments.csr)
    allowed, source = None, "the job"
    if arguments.config is not None:
        allowed, source = [p.name for p in load_job(arguments.config).parties], arguments.config
    ca = locate_ca(
        Path(arguments.ca), key=None if arguments.ca_key is None else Path(arguments.ca_key)
    )
    certificate = sign_certificate_request(
        ca,
        csr,
        Path(arguments.out) if arguments.out is not None else csr.parent,
        party=arguments.party,
        allowed_parties=allowed,
        allowed_source=source,
        expected_fingerprint=arguments.expect_fingerprint,
        days=arguments.days,
        overwrite=arguments.overwrite,
    )
    print(f"request {csr} (SHA-256 {fingerprint(csr)})")
    print(f"certificate -> {certificate}")
    print(f"send {certificate.name} and {ca.certificate.name} back to the party")
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
        if result["type"] == "binning":
            selected = result["selected"]
            names = f": {', '.join(selected)}" if selected else ""
            print(
                f"  binned {result['features']} columns on {result['rows']} rows, selected "
                f"{len(selected)} by IV{names} -> {path.parent / result['binning_file']}"
            )
        if result["type"] == "scorecard":
            print(
                f"  points of {result['features']} features (offset {result['offset']:.2f}, "
                f"factor {result['factor']:.2f}) -> {path.parent / result['scorecard_file']}"
            )
        if result["type"] == "score":
            if result["scores_file"]:
                auc = "" if result["auc"] is None else f" (AUC {result['auc']:.4f} on these rows)"
                points = " with points" if result.get("points") else ""
                print(
                    f"  scored {result['rows']} rows{points}{auc} -> "
                    f"{path.parent / result['scores_file']}"
                )
            else:
                print(f"  sent partial scores for {result['rows']} rows to the guest")
        if result["type"] == "evaluate":
            if result.get("metrics"):
                found = result["metrics"]
                print(
                    f"  evaluated on {result['rows']} held-out rows: AUC {found['auc']:.4f}, "
                    f"KS {found['ks']:.4f}, lift {found['lift']:.2f}; report -> "
                    f"{path.parent / result['report_dir'] / 'report.html'}"
                )
            else:
                print(f"  sent partial scores for {result['rows']} held-out rows to the guest")
    if report.audit_log is not None:
        print(f"{report.party}: audit log -> {report.audit_log} (last line {report.audit_head})")
    print(f"{report.party}: finished in {report.seconds:.1f} s")


def _print_training(path: Path, result: dict[str, object]) -> None:
    if result["model_file"] is None:
        print(f"  {result['mode']} training: decrypted masked values only (no model)")
        return
    loss = result["final_loss"]
    final = f", final loss {loss:.4f}" if isinstance(loss, float) else ""
    after = result.get("resumed_after_epoch")
    resumed = f", resumed after epoch {after}" if isinstance(after, int) and after >= 0 else ""
    print(
        f"  trained {result['epochs']} epochs on {result['rows']} rows ({result['stop_reason']}"
        f"{resumed}){final}; own weights -> {path.parent / str(result['model_file'])}"
    )


def _run(arguments: argparse.Namespace) -> int:
    from vfl.jobs import run_party
    from vfl.jobs.jobfile import load_job
    from vfl.runtime.logs import configure_logging

    configure_logging(arguments.log_level)
    job = load_job(arguments.config)
    progress = "none" if arguments.no_progress else arguments.progress
    resume = arguments.resume
    try:
        with terminate_like_interrupt():
            if arguments.transcript is None:
                report = run_party(job, arguments.party, show_progress=progress, resume=resume)
            else:
                from vfl.runtime.transcript import TranscriptRecorder

                with TranscriptRecorder(arguments.transcript, keep=False) as recorder:
                    report = run_party(
                        job,
                        arguments.party,
                        show_progress=progress,
                        recorder=recorder,
                        resume=resume,
                    )
                print(f"{arguments.party}: transcript -> {arguments.transcript}")
    except (KeyboardInterrupt, VflError, CryptoError, ProtocolError, OSError):
        _print_resume_hint(job, arguments.party)
        raise
    _print_report(report)
    return 0


def _print_resume_hint(job: JobConfig, party: str) -> None:
    """After a failure or a stop: say whether ``--resume`` can continue, and from where."""
    from vfl.jobs.checkpoint import resume_hint

    try:
        hint = resume_hint(job, party)
    except OSError:
        return
    if hint is not None:
        print(f"vfl: {party}: {hint}", file=sys.stderr)


def _simulate(arguments: argparse.Namespace) -> int:
    from vfl.jobs import simulate_job
    from vfl.jobs.jobfile import load_job
    from vfl.runtime.logs import configure_logging

    configure_logging(arguments.log_level)
    job = load_job(arguments.config)
    for report in simulate_job(job, resume=arguments.resume).values():
        _print_report(report)
    return 0


def _audit_verify(arguments: argparse.Namespace) -> int:
    from vfl.jobs.audit_log import verify_log

    summary = verify_log(Path(arguments.file), last=arguments.last)
    print(
        f"{arguments.file}: intact, {summary.lines} lines ({summary.steps} steps, "
        f"{summary.epochs} epochs) of job {summary.job!r}, party {summary.party!r}; "
        f"last line {summary.head}"
    )
    return 0


def _board(arguments: argparse.Namespace) -> int:
    from vfl.board.server import job_plan, make_server

    plan = None
    folder = arguments.folder
    if arguments.config is not None:
        output_dir, plan = job_plan(Path(arguments.config))
        folder = folder or str(output_dir)
    if folder is None:
        arguments.usage_error("give the jobs' folder (DIR) or the job file (--config)")
    server = make_server(Path(folder), host=arguments.host, port=arguments.port, plan=plan)
    port = server.server_address[1]
    print(f"vfl board: http://{arguments.host}:{port}/ (read-only; Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
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
        help="two banks train a default model together, end to end (the main job)",
        description=(
            "Split the built-in UCI credit-card data between two banks, make TLS "
            "certificates, run the training job (PSI, then 2048-bit shared-mode hetero LR "
            "with the logistic loss) "
            "and a scoring job of new customers with one `vfl run` process per bank over "
            "mutual TLS, compare with bank A alone and with pooled data, and write a report."
        ),
    )
    demo.add_argument(
        "--workdir", default="demo-output", help="folder for every file (demo-output)"
    )
    demo.add_argument("--key-length", type=int, default=2048, help="Paillier key bits (2048)")
    demo.add_argument("--epochs", type=int, help="training epochs (3)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the data split (0)")
    demo.add_argument(
        "--customers",
        type=int,
        help="use this many of the 30,000 customers (6000, which keeps shared-mode training "
        "near a minute; 0: all)",
    )
    demo.add_argument(
        "--allow-weak-key", action="store_true", help="permit keys under 2048 bits (quick runs)"
    )
    demo.set_defaults(handler=_demo)

    certs = commands.add_parser(
        "certs",
        help="make the job CA and the parties' TLS certificates",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage=(
            "vfl certs {ca,request,sign} ...  (certificate requests)\n"
            "       vfl certs --out DIR (--config JOB | --party NAME ...) [--days N] [--overwrite]"
        ),
        description=(
            "Make the certificates of a job's mutual TLS (EC P-256 keys).\n\n"
            "With certificate requests, no private key leaves its party's machine:\n"
            "  vfl certs ca --out ca-dir                       CA operator: ca.crt, ca.key\n"
            "  vfl certs request --party bank-a --out certs    each party: bank-a.key, bank-a.csr\n"
            "  vfl certs sign --ca ca-dir --csr bank-a.csr --config job.toml\n"
            "                                                  CA operator: bank-a.crt\n"
            "Each party sends only its .csr and gets back its .crt and ca.crt.\n\n"
            "Without a subcommand, make the job CA and every party's key and certificate\n"
            "on this one machine (demos and tests): give each party its own .crt/.key\n"
            "and everyone ca.crt; keep ca.key offline."
        ),
        epilog="`vfl certs COMMAND --help` describes each subcommand.",
    )
    one = certs.add_argument_group("one machine (no subcommand)")
    one.add_argument("--out", metavar="DIR", help="directory to write the PEM files to")
    one.add_argument("--config", metavar="JOB", help="take the party names from this job file")
    one.add_argument("--party", metavar="NAME", action="append", help="a party name (repeatable)")
    one.add_argument("--days", metavar="N", type=int, default=365, help="validity in days (365)")
    one.add_argument("--overwrite", action="store_true", help="replace existing files")
    certs.set_defaults(handler=_certs, usage_error=certs.error)
    steps = certs.add_subparsers(
        dest="certs_command",
        prog="vfl certs",
        metavar="{ca,request,sign}",
        title="certificate requests (no private key leaves its party's machine)",
    )

    ca = steps.add_parser(
        "ca",
        help="CA operator: make only the job CA (ca.crt, ca.key)",
        description=(
            "Make the job CA: ca.crt (sent to every party) and ca.key (mode 0600, never "
            "leaves this machine). Prints ca.crt's SHA-256 fingerprint for the parties to "
            "check over a second channel."
        ),
    )
    ca.add_argument("--out", metavar="DIR", required=True, help="directory to write them to")
    ca.add_argument("--days", metavar="N", type=int, default=365, help="validity in days (365)")
    ca.add_argument("--overwrite", action="store_true", help="replace an existing CA")
    ca.set_defaults(handler=_certs_ca)

    request = steps.add_parser(
        "request",
        help="each party: make its own key and a certificate request (.key, .csr)",
        description=(
            "Make this party's private key (EC P-256, DIR/NAME.key, mode 0600) and a "
            "certificate request for its name (DIR/NAME.csr). Send only the .csr to the CA "
            "operator; the key never leaves this machine."
        ),
    )
    request.add_argument("--party", metavar="NAME", required=True, help="this party's name")
    request.add_argument(
        "--out", metavar="DIR", required=True, help="directory to write NAME.key, NAME.csr to"
    )
    request.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing key and request (the old key is lost)",
    )
    request.set_defaults(handler=_certs_request)

    sign = steps.add_parser(
        "sign",
        help="CA operator: check a party's request and issue its certificate (.crt)",
        description=(
            "Check a party's certificate request (its signature, an EC P-256 key, exactly "
            "one DNS name that is a valid party name, no other extension) and issue its "
            "certificate, signed by the job CA. Reads only the request and the CA's files."
        ),
    )
    sign.add_argument(
        "--ca",
        metavar="PATH",
        required=True,
        help="the CA's directory (with ca.crt and ca.key), or its certificate file",
    )
    sign.add_argument(
        "--ca-key", metavar="FILE", help="the CA key (default: next to the CA certificate)"
    )
    sign.add_argument("--csr", metavar="FILE", required=True, help="the party's request")
    sign.add_argument("--party", metavar="NAME", help="refuse the request unless it names NAME")
    sign.add_argument(
        "--config", metavar="JOB", help="refuse the request unless it names a party of JOB"
    )
    sign.add_argument(
        "--expect-fingerprint",
        metavar="HEX",
        help="refuse the request unless its SHA-256 fingerprint is HEX (as its party read it out)",
    )
    sign.add_argument(
        "--out",
        metavar="PATH",
        help="certificate file, or directory for NAME.crt (default: the request's directory)",
    )
    sign.add_argument(
        "--days",
        metavar="N",
        type=int,
        default=365,
        help="validity in days (365), never beyond the CA's",
    )
    sign.add_argument("--overwrite", action="store_true", help="replace an existing certificate")
    sign.set_defaults(handler=_certs_sign)

    for name, handler, text in (
        ("run", _run, "run one party's side of a job over mutual TLS"),
        ("simulate", _simulate, "run every party of a job in this process (no network)"),
    ):
        command = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument("--config", required=True, help="the job file (TOML)")
        if name == "run":
            command.add_argument("--party", required=True, help="which party this process is")
            command.add_argument(
                "--progress",
                choices=PROGRESS_STYLES,
                default="auto",
                help="bar, a line per tenth of each step, or none (auto: a bar on a terminal)",
            )
            command.add_argument("--no-progress", action="store_true", help="--progress none")
            command.add_argument(
                "--transcript",
                metavar="FILE",
                help="append every message sent and received to FILE (JSON lines, for audits)",
            )
        command.add_argument(
            "--resume",
            action="store_true",
            help=(
                "continue an interrupted run: keep the steps it finished and go on training "
                "from the last epoch every party checkpointed (every party must resume)"
            ),
        )
        command.add_argument(
            "--log-level",
            default="INFO",
            choices=["DEBUG", "INFO", "WARNING", "ERROR"],
            help="log detail on stderr (INFO); logs never contain data values",
        )
        command.set_defaults(handler=handler)

    audit = commands.add_parser(
        "audit",
        help="check a party's audit log (output/<party>/audit.jsonl)",
        description="Check a party's audit log: one hash-chained JSON line per step and epoch.",
    )
    audit_commands = audit.add_subparsers(
        dest="audit_command", required=True, metavar="{verify}", prog="vfl audit"
    )
    verify = audit_commands.add_parser(
        "verify",
        help="check that no line was edited, removed, inserted or moved",
        description=(
            "Check the hash chain of an audit log from its first line to its last: exit 0 "
            "with a summary (and the last line's hash, to compare with the one `vfl run` "
            "printed) when intact, 1 naming the first bad line otherwise."
        ),
    )
    verify.add_argument("file", metavar="FILE", help="the audit log (audit.jsonl)")
    verify.add_argument(
        "--last",
        metavar="HASH",
        help="also require the last line's hash to be HASH (as `vfl run` printed it)",
    )
    verify.set_defaults(handler=_audit_verify)

    board = commands.add_parser(
        "board",
        help="serve a read-only live page of the jobs under a folder (127.0.0.1)",
        description=(
            "Serve a read-only page of the jobs under DIR (a job's output folder, a "
            "party's folder or a folder of output folders), updated live while `vfl run` "
            "works: steps, loss and metric curves, progress, bytes per peer, audit log, "
            "model versions and evaluation reports.  No data values are shown."
        ),
    )
    board.add_argument("folder", metavar="DIR", nargs="?", help="the jobs' folder")
    board.add_argument(
        "--config",
        help="the job file: its output folder (when DIR is left out), its steps and max_iter",
    )
    board.add_argument("--port", type=int, default=8765, help="the port (8765; 0: any free)")
    board.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (127.0.0.1: this machine)"
    )
    board.set_defaults(handler=_board, usage_error=board.error)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vfl`` console script; returns the exit status."""
    arguments = build_parser().parse_args(argv)
    try:
        return int(arguments.handler(arguments))
    except (VflError, CryptoError, ProtocolError, OSError) as error:
        from vfl.runtime.runner import describe_failure

        print(f"vfl: error: {describe_failure(error)}", file=sys.stderr)
        return 1
    except Terminated:
        print("vfl: terminated (SIGTERM); the peers were told", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("vfl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
