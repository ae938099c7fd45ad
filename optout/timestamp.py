"""Optional trusted timestamps (RFC 3161) on receipts: a time-stamping authority (TSA) the user configures
(`tsa_url`) countersigns the SHA-256 of receipt.json, so the receipt provably existed at that time, even
to someone who does not trust this machine's clock or key. The answer is kept as `receipt.tsr` beside
the receipt. Best effort: a TSA that cannot be reached costs the run nothing but the timestamp (logged).
`optout verify --tsa-cert ROOT.pem` checks each timestamp up to the TSA's root certificate."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import queue
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import rfc3161_client
from cryptography import x509

from optout.errors import BadInput
from optout.redact import scrub, shown_url

log = logging.getLogger(__name__)

TIMESTAMP = "receipt.tsr"
TSA_TIMEOUT_S = 10
MAX_RESPONSE_BYTES = 100_000
SHA256_OID = "2.16.840.1.101.3.4.2.1"  # optout asks for SHA-256 imprints only


def request(tsa_url: str, data: bytes) -> bytes | None:
    """The TSA's DER answer over `data`, or None (logged) when there is none to keep, waiting here (a
    caller outside the event loop's work, or one that must not return before the receipt is whole)."""
    answers: queue.SimpleQueue[tuple[bytes | None, str | None]] = queue.SimpleQueue()
    _ask_in_thread(tsa_url, data, answers.put)
    try:
        answer, why = answers.get(timeout=TSA_TIMEOUT_S)
    except queue.Empty:
        answer, why = None, f"no complete answer within {TSA_TIMEOUT_S:g} s"
    return _kept(tsa_url, answer, why)


async def stamp(tsa_url: str, data: bytes) -> bytes | None:
    """`request` without holding up the event loop: a batch's other accounts go on while the TSA answers.
    Cancelled (Ctrl-C), it stops waiting at once; the abandoned request ends at its own deadline."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[tuple[bytes | None, str | None]] = loop.create_future()

    def deliver(outcome: tuple[bytes | None, str | None]) -> None:
        try:
            loop.call_soon_threadsafe(lambda: answered.done() or answered.set_result(outcome))
        except RuntimeError:  # the loop has closed: nobody waits for this answer any more
            pass

    _ask_in_thread(tsa_url, data, deliver)
    try:
        async with asyncio.timeout(TSA_TIMEOUT_S):  # not wait_for: on 3.11 it can swallow a cancel that
            answer, why = await answered           # arrives as the answer does
    except TimeoutError:
        answer, why = None, f"no complete answer within {TSA_TIMEOUT_S:g} s"
    return _kept(tsa_url, answer, why)


def _ask_in_thread(tsa_url: str, data: bytes, deliver) -> None:
    """Ask the TSA in a daemon thread, handing `deliver` (answer, why-not) once. At most TSA_TIMEOUT_S in
    all: urllib's timeout bounds each socket operation, not a name lookup or a TSA that trickles its
    answer, so the caller gives up on the thread at the deadline (a daemon thread cannot keep the process
    alive at exit) and the thread stops reading at the same deadline."""
    deadline = time.monotonic() + TSA_TIMEOUT_S

    def ask() -> None:
        try:
            deliver((_ask(tsa_url, data, deadline), None))
        except Exception as exc:  # noqa: BLE001  any failure costs only the timestamp
            deliver((None, f"{type(exc).__name__}: {exc}"))

    threading.Thread(target=ask, name="optout-tsa", daemon=True).start()


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
