"""Optional trusted timestamps (RFC 3161) on receipts: a time-stamping authority (TSA) the user configures
(`tsa_url`) countersigns the SHA-256 of receipt.json, so the receipt provably existed at that time, even
to someone who does not trust this machine's clock or key. The answer is kept as `receipt.tsr` beside
the receipt. Best effort: a TSA that cannot be reached costs the run nothing but the timestamp (logged).
`optout verify --tsa-cert ROOT.pem` checks each timestamp up to the TSA's root certificate."""

from __future__ import annotations

import hashlib
import logging
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import rfc3161_client
from cryptography import x509

from optout.daemon_thread import run_in_daemon_thread
from optout.errors import BadInput
from optout.redact import scrub, shown_url

log = logging.getLogger(__name__)

TIMESTAMP = "receipt.tsr"
TSA_TIMEOUT_S = 10
MAX_RESPONSE_BYTES = 100_000
SHA256_OID = "2.16.840.1.101.3.4.2.1"  # optout asks for SHA-256 imprints only


async def stamp(tsa_url: str, data: bytes) -> bytes | None:
    """The TSA's DER answer over `data`, or None (logged) when there is none to keep, without holding up
    the event loop: a batch's other accounts go on while the TSA answers. At most TSA_TIMEOUT_S in all
    (the abandoned request stops reading at the same deadline); cancelled (Ctrl-C), it stops waiting at
    once."""
    deadline = time.monotonic() + TSA_TIMEOUT_S

    def ask() -> tuple[bytes | None, str | None]:
        try:
            return _ask(tsa_url, data, deadline), None
        except Exception as exc:  # noqa: BLE001  any failure costs only the timestamp
            return None, f"{type(exc).__name__}: {exc}"

    try:
        answer, why = await run_in_daemon_thread(ask, TSA_TIMEOUT_S, name="optout-tsa")
    except TimeoutError:
        answer, why = None, f"no complete answer within {TSA_TIMEOUT_S:g} s"
    return _kept(tsa_url, answer, why)


def _kept(tsa_url: str, answer: bytes | None, why: str | None) -> bytes | None:
    """The answer to keep. Only here is anything logged, once per request: an abandoned request says
    nothing later, under another account's line."""
    if why is not None:
        log.warning("timestamp: none from %s: %s", shown_url(tsa_url), scrub(why[:2000], tsa_url)[:200])
    return answer


def _ask(tsa_url: str, data: bytes, deadline: float) -> bytes:
    query = (rfc3161_client.TimestampRequestBuilder().data(data)
             .hash_algorithm(rfc3161_client.HashAlgorithm.SHA256).cert_request(cert_request=True).build())
    post = urllib.request.Request(tsa_url, data=query.as_bytes(), method="POST",
                                  headers={"Content-Type": "application/timestamp-query"})
    answer = bytearray()
    with urllib.request.urlopen(post, timeout=TSA_TIMEOUT_S) as response:
        while chunk := response.read1(8192):
            answer += chunk
            if len(answer) > MAX_RESPONSE_BYTES:
                raise ValueError("answer too large")
            if time.monotonic() > deadline:
                raise TimeoutError("still answering at the deadline")
    token = rfc3161_client.decode_timestamp_response(bytes(answer))
    granted = rfc3161_client.PKIStatus(token.status) == rfc3161_client.PKIStatus.GRANTED
    if not granted or token.tst_info.message_imprint.message != hashlib.sha256(data).digest():
        raise ValueError("the TSA did not grant a timestamp of this receipt")
    return bytes(answer)


def load_roots(paths: list[Path]) -> list[x509.Certificate]:
    """The TSA root certificates `verify --tsa-cert` trusts."""
    roots = []
    for path in paths:
        try:
            roots += x509.load_pem_x509_certificates(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise BadInput(f"{path} is not a readable PEM certificate ({type(exc).__name__}).",
                           hint="Give the root certificate of your time-stamping authority.") from None
    return roots


def check(tsr_path: Path, receipt_bytes: bytes,
          roots: list[x509.Certificate] | None) -> tuple[str | None, datetime | None]:
    """(why the timestamp does not hold or None, the time it states). Without `roots` only that it is a
    granted timestamp of exactly these bytes is checked, not who signed it."""
    try:
        token = rfc3161_client.decode_timestamp_response(tsr_path.read_bytes())
    except (OSError, ValueError):
        return "timestamp receipt.tsr is unreadable (edited or damaged)", None
    when = token.tst_info.gen_time
    imprint = token.tst_info.message_imprint
    if imprint.hash_algorithm != x509.ObjectIdentifier(SHA256_OID) or \
            imprint.message != hashlib.sha256(receipt_bytes).digest():
        return "timestamp is for other bytes than this receipt (edited after it was timestamped)", when
    if roots:
        builder = rfc3161_client.VerifierBuilder()
        for root in roots:
            builder = builder.add_root_certificate(root)
        try:
            builder.build().verify_message(token, receipt_bytes)
        except (rfc3161_client.VerificationError, ValueError) as exc:
            return f"timestamp does not verify against the --tsa-cert given ({exc})", when
    return None, when
