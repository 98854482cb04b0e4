"""`theodoi sign`: verify signed PDFs, sign PDFs with the node's key, check approval signatures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from node.core.cli_support import cli_settings
from node.core.timezone import VN_TZ
from node.signatures import texts
from node.signatures.texts import _l

LABELS = {
    "file": _l("File"),
    "status": _l("Status"),
    "signature": _l("Signature"),
    "signer": _l("Signer"),
    "organisation": _l("Organisation"),
    "signing_time": _l("Signing time (Vietnam)"),
    "fingerprint": _l("Certificate SHA-256"),
    "validity": _l("Certificate valid from %(start)s to %(end)s"),
    "issuer": _l("Issued by"),
    "node": _l("Signed with this node's certificate"),
    "none": _l("Not given"),
}


@click.group()
def sign() -> None:
    """Verify signed PDFs and sign PDFs with the node's key."""


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None


def _node_certificate_sha256(settings) -> str | None:  # noqa: ANN001
    from node.signatures.signing import SigningKeyError, load_signing_identity

    try:
        return load_signing_identity(settings).certificate_sha256
    except SigningKeyError:
        return None


def _print_report(path: Path, report, gettext) -> None:  # noqa: ANN001
    click.echo(f"{gettext(LABELS['file'])}: {path} (SHA-256 {report.sha256})")
    click.echo(f"{gettext(LABELS['status'])}: {gettext(texts.STATUS_TITLES[report.status])}")
    click.echo(f"  {gettext(texts.STATUS_EXPLANATIONS[report.status])}")
    for number, item in enumerate(report.signatures, start=1):
        click.echo(f"{gettext(LABELS['signature'])} {number} ({item.field_name}): "
                   f"{gettext(texts.STATUS_TITLES[item.status])}")
        signing_time = (item.signing_time.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M:%S")
                        if item.signing_time else gettext(LABELS["none"]))
        rows = [
            (LABELS["signer"], item.signer_name or gettext(LABELS["none"])),
            (LABELS["organisation"], item.signer_organisation or gettext(LABELS["none"])),
            (LABELS["signing_time"], signing_time),
            (LABELS["fingerprint"], item.certificate_sha256),
            (LABELS["issuer"], item.certificate_issuer),
        ]
        for label, value in rows:
            click.echo(f"  {gettext(label)}: {value}")
        click.echo("  " + gettext(LABELS["validity"]) % {
            "start": item.not_before.astimezone(VN_TZ).strftime("%d/%m/%Y"),
            "end": item.not_after.astimezone(VN_TZ).strftime("%d/%m/%Y")})
        if item.is_node_certificate:
            click.echo(f"  {gettext(LABELS['node'])}")
        for problem in item.problems:
            click.echo(f"  - {gettext(texts.PROBLEM_TEXTS[problem])}")


@sign.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--lang", type=click.Choice(["vi", "en"]),
              help="Language of the text output (default: the node's default_locale).")
def sign_verify(file: Path, as_json: bool, lang: str | None) -> None:
    """Verify every signature of the PDF FILE; exit 0 only when it is authenticated.

    Exit status 1 means the file is not authenticated (unsigned, untrusted,
    modified or invalid) and 2 that it cannot be verified at all.
    """
    from node.signatures.trust import load_trust_anchors
    from node.signatures.verify import PdfRejectedError, verify_pdf

    settings = cli_settings()
    data = _read_file(file)
    try:
        report = verify_pdf(data, load_trust_anchors(settings.signatures_trust_dir),
                            max_bytes=max(settings.max_upload_bytes, len(data)),
                            node_certificate_sha256=_node_certificate_sha256(settings))
    except PdfRejectedError as exc:
        if as_json:
            click.echo(json.dumps({"file": str(file), "error": exc.reason,
                                   "detail": exc.message}, ensure_ascii=False))
        else:
            click.echo(f"Error: {file}: {exc.message}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps({"file": str(file), **report.as_json()}, ensure_ascii=False,
                              indent=2))
    else:
        _print_report(file, report, texts.translator(lang or settings.default_locale))
    sys.exit(0 if report.is_authenticated else 1)


@sign.command("report")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the signed PDF (default: FILE with .signed.pdf).")
@click.option("--reason", default="Báo cáo do hệ thống theo dõi, đánh giá phát hành",
              show_default=True, help="Reason written into the signature.")
@click.option("--location", default="Việt Nam", show_default=True,
              help="Place written into the signature.")
def sign_report(file: Path, output: Path | None, reason: str, location: str) -> None:
    """Sign the PDF FILE with the node's key and certificate (PAdES, visible block)."""
    from node.signatures.signing import SigningKeyError, sign_pdf
    from node.signatures.verify import PdfRejectedError

    settings = cli_settings()
    target = output or file.with_suffix(".signed.pdf")
    try:
        signed = sign_pdf(_read_file(file), settings, reason=reason, location=location)
    except (PdfRejectedError, SigningKeyError) as exc:
        raise click.ClickException(f"{file}: {exc.message}") from None
    target.write_bytes(signed)
    click.echo(f"Signed PDF written to {target}")


@sign.command("make-demo-pdf")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def sign_make_demo_pdf(folder: Path) -> None:
    """Write a demo root certificate and signed sample PDFs into FOLDER.

    FOLDER/trust/demo-root-ca.pem is a demo certification authority made on
    the spot; FOLDER/signed-sample.pdf is signed by a certificate it issued,
    and FOLDER/modified-sample.pdf is the same file with a page added after
    signing. Point signatures_trust_dir at FOLDER/trust to trust the demo
    authority.
    """
    from node.signatures.demo import write_demo_samples

    samples = write_demo_samples(folder)
    trust = samples.authority_certificate.parent
    click.echo(f"Demo authority: {samples.authority_certificate}")
    click.echo(f"Signed sample: {samples.signed_pdf}")
    click.echo(f"Modified after signing: {samples.modified_pdf}")
    click.echo(f"Try: THEODOI_SIGNATURES_TRUST_DIR={trust} theodoi sign verify "
               f"{samples.signed_pdf}")


def print_approval_check(result) -> None:  # noqa: ANN001
    """Print the outcome of `approvals.check_approvals`, one line per problem."""
    for item in result.problems:
        fields = f" ({', '.join(item.changed_fields)})" if item.changed_fields else ""
        click.echo(f"Approval at audit entry #{item.audit_sequence} ({item.action} "
                   f"{item.object_type}:{item.object_id}): {item.problem}{fields}")
    noun = "decision" if result.checked == 1 else "decisions"
    if result.ok:
        click.echo(f"Approval signatures intact: {result.checked} signed {noun}")
    else:
        click.echo(f"Approval signatures broken: {len(result.problems)} of {result.checked} "
                   f"{noun}")


@sign.command("check-approvals")
def sign_check_approvals() -> None:
    """Check the node's signature on every approval decision; exit 1 when one does not hold."""
    from node.core.cli_support import open_session
    from node.signatures.approvals import check_approvals

    settings = cli_settings()
    with open_session(settings) as session:
        result = check_approvals(session, settings)
    print_approval_check(result)
    if not result.ok:
        sys.exit(1)
