"""JWT-shaped bearer tokens (HS256) like KSeF's: OperationToken after /auth/ksef-token,
ContextToken (access) and RefreshToken after redeem (test-vectors.md TV-8)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

OPERATION = "OperationToken"
ACCESS = "ContextToken"
REFRESH = "RefreshToken"
ISSUER = "ksef-sim"


class TokenError(Exception):
    """A bearer token that is malformed, forged, expired or of the wrong kind."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Claims:
    token_type: str
    operation_reference: str
    context_type: str
    context_value: str
    iat: int
    exp: int


class TokenSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def issue(self, claims: Claims) -> str:
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps({
            "token-type": claims.token_type,
            "operation-reference-number": claims.operation_reference,
            "context-identifier-type": claims.context_type,
            "context-identifier-value": claims.context_value,
            "authentication-method": "Token",
            "iat": claims.iat, "exp": claims.exp, "iss": ISSUER, "aud": ISSUER,
        }, separators=(",", ":")).encode())
        signature = hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url(signature)}"

    def verify(self, token: str, expected_type: str, now_s: float) -> Claims:
        try:
            header, payload, signature = token.split(".")
            good = hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(good, _unb64url(signature)):
                raise TokenError("token signature does not verify (token from another simulator instance?)")
            data = json.loads(_unb64url(payload))
        except TokenError:
            raise
        except Exception as exc:  # malformed base64/json/shape
            raise TokenError("malformed bearer token") from exc
        if data.get("token-type") != expected_type:
            raise TokenError(f"this endpoint needs a {expected_type}, got {data.get('token-type')}")
        if now_s >= data["exp"]:
            raise TokenError("token expired; refresh it with POST /auth/token/refresh or authenticate again")
        return Claims(data["token-type"], data["operation-reference-number"],
                      data["context-identifier-type"], data["context-identifier-value"],
                      int(data["iat"]), int(data["exp"]))

    def context_of(self, token: str) -> str | None:
        """Context value of a genuine token, ignoring kind and expiry (to key rate limits)."""
        try:
            header, payload, signature = token.split(".")
            good = hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(good, _unb64url(signature)):
                return None
            return str(json.loads(_unb64url(payload))["context-identifier-value"])
        except Exception:
            return None
