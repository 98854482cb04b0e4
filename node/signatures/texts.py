"""Screen and command-line texts of signature results, as catalogue msgids.

The msgids are English; pages translate them with Flask-Babel and the
`theodoi sign` commands with `translator(locale)`.
"""

from __future__ import annotations

from collections.abc import Callable

from babel.support import Translations

from node.core.catalogs import TRANSLATIONS_DIR, compile_catalogs
from node.signatures import verify


def _l(text: str) -> str:
    """Mark `text` as a msgid for `pybabel extract`; it is translated where it is shown."""
    return text


# Verification still running, or stopped by an unexpected error.
PENDING = "pending"
FAILED = "failed"

STATUS_TITLES = {
    verify.VALID: _l("Authenticated"),
    verify.UNTRUSTED: _l("Valid signature, untrusted root certificate"),
    verify.MODIFIED: _l("Modified after signing"),
    verify.INVALID: _l("Invalid signature"),
    verify.UNSIGNED: _l("Not signed"),
    PENDING: _l("Checking the signatures"),
    FAILED: _l("Verification failed"),
}

STATUS_EXPLANATIONS = {
    verify.VALID: _l("Every signature is intact and cryptographically valid, its certificate "
                     "chains to a certificate authority that this node trusts and was valid "
                     "at the signing time, and the file was not changed after the last "
                     "signature."),
    verify.UNTRUSTED: _l("The signatures are intact and valid, but the certificate chain ends "
                         "at a root certificate that is not among this node's trust anchors, "
                         "so the signer's identity is not confirmed. The document is stored as "
                         "not authenticated until an administrator adds the root certificate "
                         "to the trust folder and the file is checked again."),
    verify.MODIFIED: _l("The file was changed after the last signature: the signed part is "
                        "intact, but content was added afterwards. The document is stored as "
                        "not authenticated; ask the issuing office for the signed original."),
    verify.INVALID: _l("At least one signature does not match the file or its certificate was "
                       "not valid: the document may have been altered or signed with an "
                       "unusable certificate. It is stored as not authenticated; ask the "
                       "issuing office for the signed original."),
    verify.UNSIGNED: _l("The PDF carries no digital signature, so its content cannot be "
                        "authenticated. It is stored as not authenticated."),
    PENDING: _l("The node is checking the signatures of this file; this page refreshes "
                "until the result is ready."),
    FAILED: _l("The check stopped on an unexpected error; upload the file again or ask the "
               "administrator to read the node's log."),
}

PROBLEM_TEXTS = {
    verify.INTEGRITY_FAILED: _l("The signed bytes of the file do not match the signature: the "
                                "file was altered after signing."),
    verify.SIGNATURE_INVALID: _l("The signature value is not valid for the signer's "
                                 "certificate."),
    verify.CERTIFICATE_EXPIRED: _l("The certificate had expired at the signing time."),
    verify.CERTIFICATE_NOT_YET_VALID: _l("The certificate was not yet valid at the signing "
                                         "time."),
    verify.CHAIN_UNTRUSTED: _l("The certificate chain ends at a root certificate outside the "
                               "node's trust anchors."),
    verify.CHAIN_INVALID: _l("The certificate chain is not valid (a certificate in it is "
                             "revoked, misused or badly formed)."),
    verify.MODIFIED_AFTER_SIGNING: _l("Content was added to the file after this signature."),
    verify.UNREADABLE_SIGNATURE: _l("The signature data cannot be read."),
}

# Rejection texts by the `reason` of PdfRejectedError or ConfidentialDocumentError.
# The error's own message adds the values.
REJECTION_TEXTS = {
    "not_pdf": _l("The file is not a PDF. Upload the signed PDF of the document."),
    "wrong_type": _l("Only PDF files (.pdf) can be uploaded as the signed document."),
    "empty": _l("The file is empty. Upload the signed PDF with its content."),
    "too_large": _l("The file is larger than the node's upload limit. Send a smaller file or "
                    "ask the administrator about the limit."),
    "unreadable": _l("The PDF cannot be read: it is damaged or not a valid PDF. Ask the "
                     "issuing office for the file as it was signed."),
    "encrypted": _l("The PDF is encrypted or protected by a password, so its signatures "
                    "cannot be checked. Ask the issuing office for the signed PDF without "
                    "encryption."),
    "missing": _l("Choose the signed PDF of the document, then upload it."),
    "confidential": _l("Confidential and top-secret documents keep no content in the system, "
                       "so their signed PDF is not uploaded here; it stays in the confidential "
                       "archive."),
}

AUTHENTICATED = _l("Authenticated")
NOT_AUTHENTICATED = _l("Not authenticated")


def translator(locale: str) -> Callable[[str], str]:
    """Return gettext for `locale` ("vi" or "en") outside a request, for the CLI."""
    compile_catalogs()
    translations = Translations.load(str(TRANSLATIONS_DIR), [locale], domain="messages")
    return translations.gettext
