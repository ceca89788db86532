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
