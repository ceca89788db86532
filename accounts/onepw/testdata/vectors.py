#!/usr/bin/env python3
"""Independent computation of the generated known answers in vectors.go.

Where FxA or gecko publish no value (v2 quickStretchedPW, keyRequestKey,
kB/k/kid of the v2 chain, the FakeClientSalt case, the scrypt verifier), the
Go tests pin constants printed by this script. It uses only Python's hashlib
and hmac plus a ten-line RFC 5869 HKDF, so a bug in the Go code cannot make
both agree. Run: python3 vectors.py
"""
import base64
import hashlib
import hmac

NS = "identity.mozilla.com/picl/v1/"


def hkdf(ikm, info, n):
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()  # empty salt = 32 zero bytes
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info.encode() + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def oldsync(kb, ts):
    return b64(hkdf(kb, NS + "oldsync", 64)), "%d-%s" % (ts, b64(hashlib.sha256(kb).digest()[:16]))


def bundle(krk, ka, wrapkb):
    keys = hkdf(krk, NS + "account/keys", 96)
    ct = xor(ka + wrapkb, keys[32:])
    return (ct + hmac.new(keys[:32], ct, hashlib.sha256).digest()).hex()


password = "pässwörd"
email = "andré@example.org"
salt = NS + "quickStretchV2:0123456789abcdef0123456789abcdef"
qs = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 650000, 32)
print("v2 qs        ", qs.hex())
print("v2 authPW    ", hkdf(qs, NS + "authPW", 32).hex())
unwrap = hkdf(qs, NS + "unwrapBkey", 32)
print("v2 unwrapBKey", unwrap.hex())
qs1 = hashlib.pbkdf2_hmac("sha256", password.encode(), (NS + "quickStretch:" + email).encode(), 1000, 32)
print("v1 qs        ", qs1.hex())

kft = bytes(range(0x80, 0xa0))
krk = hkdf(kft, NS + "keyFetchToken", 96)[64:]
print("keyRequestKey", krk.hex())
ka = bytes(range(0x20, 0x40))
wrapkb = bytes(range(0x40, 0x60))
print("bundle       ", bundle(krk, ka, wrapkb))
kb = xor(wrapkb, unwrap)
print("v2 kB        ", kb.hex())
print("v2 k, kid    ", oldsync(kb, 1510726317123))

st = bytes(range(0xa0, 0xc0))
for kind in ("sessionToken", "keyFetchToken"):
    out = hkdf(st, NS + kind, 96)
    print(kind, "id", out[:32].hex(), "hmac", out[32:64].hex(), "krk", out[64:].hex())

print("fake salt    ", NS + "quickStretchV2:" + hmac.new(b"server secret", b"nobody@example.org", hashlib.sha256).digest()[:16].hex())
print("pkce         ", b64(hashlib.sha256(b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").digest()))

authpw = bytes.fromhex("247b675ffb4c46310bc87e26d712153abe5e1c90ef00a4784594f97ef54f2375")
authsalt = bytes(range(32))
s = hashlib.scrypt(authpw, salt=authsalt, n=1 << 16, r=8, p=1, dklen=32, maxmem=128 << 20)
print("verifyHash   ", hkdf(s, NS + "verifyHash", 32).hex())
print("wrapWrapKb   ", xor(wrapkb, hkdf(s, NS + "wrapwrapKey", 32)).hex())

# keys_jwe with fixed keys and IV, built as Firefox's jwcrypto.sys.mjs
# expects (spec: ECDH-ES, Concat KDF with empty PartyU/PartyV, A256GCM,
# AAD = the ASCII b64url header, "hdr..iv.ct.tag"). Needs python3-cryptography
# for the curve arithmetic and AES-GCM only; the KDF is written out here.
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
import json
import struct

recipient = ec.derive_private_key(int("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721", 16), ec.SECP256R1())
ephemeral = ec.derive_private_key(int("519b423d715f8b581f4fa8ee59f4771a5b44c8130b4e3eacca54a56dda72b464", 16), ec.SECP256R1())
z = ephemeral.exchange(ec.ECDH(), recipient.public_key())
alg = b"A256GCM"
cek = hashlib.sha256(struct.pack(">I", 1) + z + struct.pack(">I", len(alg)) + alg +
                     struct.pack(">I", 0) + struct.pack(">I", 0) + struct.pack(">I", 256)).digest()
pub = ephemeral.public_key().public_numbers()
epk = {"kty": "EC", "crv": "P-256", "x": b64(pub.x.to_bytes(32, "big")), "y": b64(pub.y.to_bytes(32, "big"))}
hdr = b64(json.dumps({"alg": "ECDH-ES", "enc": "A256GCM", "epk": epk}, separators=(",", ":")).encode())
iv = bytes(range(12))
kb = bytes.fromhex("eaf9570b7219a4187d3d6bf3cec2770c2e0719b7cc0dfbb38243d6f1881675e9")
k, kid = oldsync(kb, 1510726317123)
scope = "https://identity.mozilla.com/apps/oldsync"
pt = json.dumps({scope: {"kid": kid, "k": k, "kty": "oct", "scope": scope}}, separators=(",", ":")).encode()
sealed = AESGCM(cek).encrypt(iv, pt, hdr.encode())
print("jwe plaintext", pt.decode())
print("jwe cek      ", cek.hex())
print("jwe          ", ".".join([hdr, "", b64(iv), b64(sealed[:-16]), b64(sealed[-16:])]))
rp = recipient.public_key().public_numbers()
print("keys_jwk     ", b64(json.dumps({"crv": "P-256", "ext": True, "key_ops": [], "kty": "EC",
                                        "x": b64(rp.x.to_bytes(32, "big")), "y": b64(rp.y.to_bytes(32, "big"))}).encode()))
