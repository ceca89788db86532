// Key derivation for the sign-in page, with WebCrypto only.
//
// Everything secret is computed here, in the browser: the server gets
// authPW (a one-way function of the stretched password) and never the
// password, unwrapBKey, kB or the Sync key. The formats are FxA's onepw
// protocol (v2 stretch), and the key handed to Firefox is sealed to its
// ephemeral key as a JWE exactly as Firefox's jwcrypto.sys.mjs opens it.
// The known-answer tests load this module in Firefox and compare with the
// server's Go implementation.

export const NS = "identity.mozilla.com/picl/v1/";
export const OLDSYNC = "https://identity.mozilla.com/apps/oldsync";
// FxA's v2 stretch; the server stores a slow hash of what it yields.
export const STRETCH_ITERATIONS = 650000;

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();

// ---- encodings -------------------------------------------------------

export function hexToBytes(hex) {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new Error("not a hex string");
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(hex.substr(i * 2, 2), 16);
  }
  return out;
}

export function bytesToHex(bytes) {
  return Array.from(new Uint8Array(bytes), b => b.toString(16).padStart(2, "0")).join("");
}

// b64url is base64url without padding, as JOSE and Firefox's decoder
// (padding: "reject") want it.
export function b64url(bytes) {
  return b64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function b64urlDecode(s) {
  if (typeof s !== "string" || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) {
    throw new Error("not unpadded base64url");
  }
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, c => c.charCodeAt(0));
}

// b64 is standard, padded base64 (Hawk's encoding).
function b64(bytes) {
  let bin = "";
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function xor(a, b) {
  if (a.length !== b.length) throw new Error("xor of unequal lengths");
  return a.map((x, i) => x ^ b[i]);
}

export async function sha256(bytes) {
  return new Uint8Array(await subtle.digest("SHA-256", bytes));
}

// ---- onepw: stretch, HKDF, tokens, bundle ---------------------------------

// hkdf is HKDF-SHA256 with an empty salt, FxA's only use of it.
export async function hkdf(secret, info, length) {
  const key = await subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]);
  const bits = await subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: utf8.encode(info) },
    key, length * 8);
  return new Uint8Array(bits);
}

// quickStretchV2 is FxA's v2 stretch: PBKDF2-SHA256 over the password,
// with the clientSalt the server serves (NS + "quickStretchV2:" + 32 hex)
// as the salt, verbatim. iterations is for tests only.
export async function quickStretchV2(password, clientSalt, iterations = STRETCH_ITERATIONS) {
  const key = await subtle.importKey("raw", utf8.encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: utf8.encode(clientSalt), iterations },
    key, 256);
  return new Uint8Array(bits);
}

// credentials derives what login sends (authPW, hex) and what stays in
// the page (unwrapBKey) from the stretched password.
export async function credentials(qs) {
  return {
    authPW: bytesToHex(await hkdf(qs, NS + "authPW", 32)),
    unwrapBKey: await hkdf(qs, NS + "unwrapBkey", 32),
  };
}

// deriveToken splits a session or keyFetch token (64 hex) into its Hawk
// id (hex), Hawk key and, for keyFetch tokens, the key-request key.
export async function deriveToken(tokenHex, kind) {
  if (kind !== "sessionToken" && kind !== "keyFetchToken") throw new Error("unknown token kind");
  const out = await hkdf(hexToBytes(tokenHex), NS + kind, 96);
  return { id: bytesToHex(out.slice(0, 32)), key: out.slice(32, 64), keyRequestKey: out.slice(64, 96) };
}

// unwrapBundle checks the MAC of /account/keys' bundle and returns kA and
// wrapKb.
export async function unwrapBundle(keyRequestKey, bundleHex) {
  const bundle = hexToBytes(bundleHex);
  if (bundle.length !== 96) throw new Error("key bundle has the wrong length");
  const keys = await hkdf(keyRequestKey, NS + "account/keys", 96);
  const mac = await subtle.importKey("raw", keys.slice(0, 32), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  const ct = bundle.slice(0, 64);
  if (!(await subtle.verify("HMAC", mac, bundle.slice(64), ct))) {
    throw new Error("key bundle MAC mismatch");
  }
  const plain = xor(ct, keys.slice(32, 96));
  return { kA: plain.slice(0, 32), wrapKb: plain.slice(32, 64) };
}

// ---- the oldsync key and its JWE ---------------------------------------------

// oldSyncKey is the scoped key Firefox stores for Sync (gecko's
// _deriveLegacyScopedKey): k is 64 bytes of HKDF (AES then HMAC key), kid
// is "<keysChangedAt ms>-<b64url(SHA-256(kB)[0:16])>", what the
// tokenserver reads as X-KeyID.
export async function oldSyncKey(kB, keysChangedAt) {
  if (!Number.isSafeInteger(keysChangedAt) || keysChangedAt <= 0) {
    throw new Error("keyRotationTimestamp must be a positive integer (ms)");
  }
  const k = b64url(await hkdf(kB, NS + "oldsync", 64));
  const kid = keysChangedAt + "-" + b64url((await sha256(kB)).slice(0, 16));
  return { scope: OLDSYNC, kty: "oct", k, kid };
}

// sealJWE encrypts plaintext (bytes) to the ephemeral public key Firefox
// put in the connect URL (keys_jwk: b64url of a JWK) as a compact JWE,
// ECDH-ES + A256GCM, the only form Firefox's jwcrypto decrypts: no
// apu/apv, an empty encrypted-key part, every part unpadded.
export async function sealJWE(keysJWK, plaintext) {
  const jwk = JSON.parse(new TextDecoder().decode(b64urlDecode(keysJWK)));
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.x !== "string" || typeof jwk.y !== "string") {
    throw new Error("keys_jwk is not a P-256 public key");
  }
  const ecdh = { name: "ECDH", namedCurve: "P-256" };
  const peer = await subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, ecdh, false, []);
  const eph = await subtle.generateKey(ecdh, true, ["deriveBits"]);
  const z = new Uint8Array(await subtle.deriveBits({ name: "ECDH", public: peer }, eph.privateKey, 256));
  // Concat KDF (NIST SP 800-56A) for one 256-bit block: counter 1, Z,
  // AlgorithmID "A256GCM", empty PartyUInfo and PartyVInfo, keydatalen 256.
  const alg = utf8.encode("A256GCM");
  const info = new Uint8Array(4 + z.length + 4 + alg.length + 4 + 4 + 4);
  const dv = new DataView(info.buffer);
  let o = 0;
  dv.setUint32(o, 1); o += 4;
  info.set(z, o); o += z.length;
  dv.setUint32(o, alg.length); o += 4;
  info.set(alg, o); o += alg.length;
  dv.setUint32(o, 0); o += 4;
  dv.setUint32(o, 0); o += 4;
  dv.setUint32(o, 256);
  const cek = await subtle.importKey("raw", await sha256(info), "AES-GCM", false, ["encrypt"]);
  const epk = await subtle.exportKey("jwk", eph.publicKey);
  const header = b64url(utf8.encode(JSON.stringify({
    alg: "ECDH-ES", enc: "A256GCM", epk: { kty: "EC", crv: "P-256", x: epk.x, y: epk.y },
  })));
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: utf8.encode(header), tagLength: 128 }, cek, plaintext));
  const ct = sealed.slice(0, sealed.length - 16);
  const tag = sealed.slice(sealed.length - 16);
  return [header, "", b64url(iv), b64url(ct), b64url(tag)].join(".");
}

// keysJWE is what oauth/authorization carries: the oldsync key, sealed.
export async function keysJWE(keysJWK, kB, keysChangedAt) {
  const key = await oldSyncKey(kB, keysChangedAt);
  return sealJWE(keysJWK, utf8.encode(JSON.stringify({ [OLDSYNC]: key })));
}

// ---- Hawk -------------------------------------------------------------------------

// hawkHeader signs a request with Hawk 1.0 header auth. url is absolute
// (the page's own origin: the server checks the host and port the browser
// used). The payload hash is sent only with a body. offset (seconds)
// corrects this machine's clock from the server's Date header.
export async function hawkHeader({ method, url, id, key, body = null, contentType = "application/json", offset = 0, nonce, ts }) {
  const u = new URL(url);
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  ts = ts ?? String(Math.floor(Date.now() / 1000) + offset);
  nonce = nonce ?? b64(globalThis.crypto.getRandomValues(new Uint8Array(6)));
  let hash = "";
  if (body !== null) {
    const mime = contentType.split(";")[0].trim().toLowerCase();
    hash = b64(await sha256(utf8.encode("hawk.1.payload\n" + mime + "\n" + body + "\n")));
  }
  const normalized = ["hawk.1.header", ts, nonce, method.toUpperCase(), u.pathname + u.search,
    u.hostname.toLowerCase(), port, hash, ""].join("\n") + "\n";
  const hmac = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = b64(await subtle.sign("HMAC", hmac, utf8.encode(normalized)));
  let header = `Hawk id="${id}", ts="${ts}", nonce="${nonce}"`;
  if (hash) header += `, hash="${hash}"`;
  return header + `, mac="${mac}"`;
}
