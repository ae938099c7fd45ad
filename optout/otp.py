"""TOTP codes for X's two-factor screen, and checking a secret before it is stored.

pyotp (2.12+) refuses secrets shorter than 112 bits, but X and many other services hand out 16-character
base32 keys (80 bits), so the minimum here is 80 bits: what X issues must work."""

from __future__ import annotations

import re

import pyotp

from optout.errors import BadInput

MIN_SECRET_BITS = 80
MIN_SECRET_CHARS = MIN_SECRET_BITS // 5


class ServiceTOTP(pyotp.TOTP):
    min_secret_length_bits = MIN_SECRET_BITS


def normalize_totp_secret(raw: str) -> str:
    """Accept what authenticator set-up screens show: spaced groups, lower case, or an otpauth:// URI."""
    text = raw.strip()
    if text.lower().startswith("otpauth://"):
        try:
            text = pyotp.parse_uri(text).secret
        except Exception:  # pyotp raises several types; the URI itself must not reach the message
            raise BadInput("The TOTP link could not be read.", hint="Paste the otpauth:// link or the base32 key.") from None
    secret = re.sub(r"[\s-]", "", text).upper()
    try:
        ServiceTOTP(secret).now()
        valid = len(secret) >= MIN_SECRET_CHARS
    except Exception:
        valid = False
    if not valid:
        raise BadInput(
            f"The TOTP secret is not a valid base32 key (letters A-Z and digits 2-7, at least {MIN_SECRET_CHARS}).",
            hint="Use the key shown under 'can't scan the QR code?' when you set up the authenticator app.",
        )
    return secret
