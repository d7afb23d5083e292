"""schemathesis hooks of scripts/api-fuzz: a real phone for the DPoP routes.

At load it binds a device to the server under test the way the core does (a binding
offer from the portal credential, the key registered with its signature over the
binding message, an access token for a DPoP proof), then gives every request to a
route secured by `dpop` a valid `Authorization: DPoP` token and a fresh proof for its
method and path, so the fuzzer reaches the handlers behind authentication.
"""

import base64
import hashlib
import json
import os
import secrets
import struct
import threading
import time
import urllib.parse
import urllib.request

import schemathesis
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

URL = os.environ["TAIPEI_FUZZ_URL"]
BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
# A token lives 10 minutes; a fresh one well before that.
TOKEN_REFRESH_S = 300


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def base45_decode(text: str) -> bytes:
    out = bytearray()
    for i in range(0, len(text), 3):
        chunk = [BASE45.index(c) for c in text[i : i + 3]]
        n = sum(v * 45**k for k, v in enumerate(chunk))
        out += n.to_bytes(2 if len(chunk) == 3 else 1, "big")
    return bytes(out)


def signed_message(tag: str, *fields: bytes) -> bytes:
    """The bytes a device signs (protocol/src/signed.rs): each field length-prefixed."""
    return b"".join(struct.pack(">I", len(f)) + f for f in (tag.encode(), *fields))


class Phone:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.lock = threading.Lock()
        self.token = None
        self.token_at = 0.0
        offer = self.call(
            "POST",
            "/v1/portal/bindings",
            {"user_id": "u-api-fuzz", "display_name": "API Fuzz"},
            {"Authorization": "Bearer " + os.environ["TAIPEI_FUZZ_PORTAL"]},
        )
        raw = base45_decode(offer["qr"].removeprefix("TPB1:"))
        bid, bnonce = raw[:16], raw[16:32]
        signature = self.sign(signed_message("TPQ-BIND-v1", bid, bnonce, self.public))
        device = self.call(
            "POST",
            "/v1/devices",
            {
                "bid": b64(bid),
                "public_key": b64(self.public),
                "assurance": "software",
                "device_name": "api fuzzer",
                "signature": b64(signature),
            },
            {"Idempotency-Key": secrets.token_hex(8)},
        )
        self.device_id = device["device_id"]

    def sign(self, message: bytes) -> bytes:
        r, s = utils.decode_dss_signature(self.key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def proof(self, method: str, path: str, token=None) -> str:
        header = {
            "typ": "dpop+jwt",
            "alg": "ES256",
            "jwk": {"kty": "EC", "crv": "P-256", "x": b64(self.public[1:33]), "y": b64(self.public[33:])},
        }
        claims = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": URL + path, "iat": int(time.time())}
        if token is not None:
            claims["ath"] = b64(hashlib.sha256(token.encode()).digest())
        signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        return signing_input + "." + b64(self.sign(signing_input.encode()))

    def call(self, method: str, path: str, body, headers) -> dict:
        request = urllib.request.Request(
            URL + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", **headers},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.load(reply)

    def access_token(self) -> str:
        with self.lock:
            if self.token is None or time.monotonic() - self.token_at > TOKEN_REFRESH_S:
                reply = self.call(
                    "POST", "/v1/token", {"device_id": self.device_id}, {"DPoP": self.proof("POST", "/v1/token")}
                )
                self.token, self.token_at = reply["access_token"], time.monotonic()
            return self.token


PHONE = Phone()


def secured_by_dpop(case) -> bool:
    security = case.operation.definition.raw.get("security") or []
    return any("dpop" in requirement for requirement in security)


@schemathesis.hook
def before_call(context, case, kwargs):
    # The fuzzer learns the phone's device id from `GET /v1/me`; revoking it would end
    # every later device request at `device_revoked`.
    if case.path == "/v1/admin/devices/{device_id}/revoke" and (case.path_parameters or {}).get("device_id") == PHONE.device_id:
        case.path_parameters["device_id"] = "d-other"
    if not secured_by_dpop(case):
        return
    token = PHONE.access_token()
    path = urllib.parse.urlsplit(case.as_transport_kwargs(base_url=URL)["url"]).path
    case.headers = {
        **(case.headers or {}),
        "Authorization": "DPoP " + token,
        "DPoP": PHONE.proof(case.method.upper(), path, token),
    }
