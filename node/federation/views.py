"""HTTP endpoints of the exchange protocol, under /federation/v1."""

from __future__ import annotations

import threading
from contextlib import nullcontext

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import BadRequest

from node.core.errors_web import PROBLEM_JSON
from node.core.settings import Settings
from node.core.web import db_session
from node.federation import service
from node.federation.envelope import MAX_ENVELOPE_BYTES, EnvelopeRejected

federation = Blueprint("federation", __name__, url_prefix="/federation/v1")

REJECTION_TITLES = {
    "oversized": "Envelope too large",
    "malformed": "Malformed envelope",
    "unsupported_version": "Unsupported protocol version",
    "unsigned": "Unsigned envelope",
    "schema_invalid": "Invalid envelope",
    "unknown_type": "Unknown message type",
    "wrong_recipient": "Wrong recipient",
    "unknown_sender": "Unknown sender",
    "suspended_sender": "Suspended sender",
    "bad_signature": "Bad signature",
    "clock_skew": "Clock skew",
    "not_allowed_from_peer": "Message type not allowed from this node",
    "replay": "Message id reused",
    "sequence_reused": "Sequence number reused",
    "not_applicable": "Message cannot be applied",
}


# Titles of a batch request rejected as a whole; rejections of single
# envelopes inside a batch are listed in its response.
BATCH_REJECTION_TITLES = {
    "oversized": "Batch too large",
    "malformed": "Malformed batch",
    "unsupported_version": "Unsupported protocol version",
    "schema_invalid": "Invalid batch",
}


def _settings() -> Settings:
    return current_app.config["THEODOI_SETTINGS"]


def _rejection_response(rejection: EnvelopeRejected,  # noqa: ANN202
                        titles: dict[str, str] = REJECTION_TITLES):
    body = {
        "type": "about:blank",
        "title": titles[rejection.reason],
        "status": rejection.status,
        "detail": rejection.message,
        "reason": rejection.reason,
        "errors": [problem.as_dict() for problem in rejection.problems],
    }
    response = jsonify(body)
    response.status_code = rejection.status
    response.mimetype = PROBLEM_JSON
    return response


@federation.get("/info")
def info():  # noqa: ANN201
    return jsonify(service.node_info(_settings()))


@federation.post("/enrol")
def enrol():  # noqa: ANN201
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("the enrolment request must be a JSON object")
    return jsonify(service.enrol_child(db_session(), _settings(), body))


@federation.post("/messages")
def receive():  # noqa: ANN201
    # One byte past the limit is enough to tell that a message is oversized.
    raw = request.stream.read(MAX_ENVELOPE_BYTES + 1)
    session = db_session()
    try:
        receipt = service.receive_message(session, _settings(), raw,
                                          remote_address=request.remote_addr)
    except EnvelopeRejected as rejection:
        # The per-request session commits only successful responses, and the
        # quarantine row must be kept with an error response too.
        session.commit()
        return _rejection_response(rejection)
    return jsonify(receipt.as_dict())


# On SQLite one transaction writes at a time. Receiving one batch per process
# at a time leaves the batch that writes alone with its process's interpreter
# lock, while a batch in another process verifies its envelopes.
_RECEIVING_ON_SQLITE = threading.Lock()


@federation.post(service.BATCH_PATH)
def receive_batch():  # noqa: ANN201
    # One byte past the limit is enough to tell that a batch is oversized.
    body = request.stream.read(service.MAX_BATCH_BYTES + 1)
    session = db_session()
    sqlite = session.get_bind().dialect.name == "sqlite"
    with _RECEIVING_ON_SQLITE if sqlite else nullcontext():
        try:
            results = service.receive_batch(session, _settings(), body,
                                            remote_address=request.remote_addr)
        except EnvelopeRejected as rejection:
            session.commit()
            return _rejection_response(rejection, BATCH_REJECTION_TITLES)
        session.commit()
    return jsonify({"results": results})


@federation.post("/pull")
def pull():  # noqa: ANN201
    from node.federation.pull import serve_pull

    raw = request.stream.read(MAX_ENVELOPE_BYTES + 1)
    session = db_session()
    try:
        response = serve_pull(session, _settings(), raw, remote_address=request.remote_addr)
    except EnvelopeRejected as rejection:
        session.commit()
        return _rejection_response(rejection)
    return jsonify(response)
