// Runs the cases the Go test serves at /kat/cases.json through the sign-in
// page's own crypto.js, exactly as the page loads it, and puts the
// answers in #out for the Go test to compare with its own implementation.
import * as kc from "/crypto.js";

const hex = kc.bytesToHex;
const bytes = kc.hexToBytes;
const utf8 = new TextEncoder();

// each maps the cases of one kind through fn; an exception becomes
// {error}, so the Go test can also expect failures.
async function each(cases, fn) {
  const out = [];
  for (const c of cases || []) {
    try {
      out.push(await fn(c));
    } catch (e) {
      out.push({ error: String((e && e.message) || e) });
    }
  }
  return out;
}

async function run() {
  const cases = await (await fetch("/kat/cases.json")).json();
  const out = {
    stretch: await each(cases.stretch, async c => {
      const qs = await kc.quickStretchV2(c.password, c.salt, c.iterations);
      const cr = await kc.credentials(qs);
      return { qs: hex(qs), authPW: cr.authPW, unwrapBKey: hex(cr.unwrapBKey) };
    }),
    hkdf: await each(cases.hkdf, async c => ({ out: hex(await kc.hkdf(bytes(c.secret), c.info, c.length)) })),
    tokens: await each(cases.tokens, async c => {
      const k = await kc.deriveToken(c.token, c.kind);
      return { id: k.id, key: hex(k.key), keyRequestKey: hex(k.keyRequestKey) };
    }),
    bundles: await each(cases.bundles, async c => {
      const k = await kc.unwrapBundle(bytes(c.keyRequestKey), c.bundle);
      return { kA: hex(k.kA), wrapKb: hex(k.wrapKb) };
    }),
    oldsync: await each(cases.oldsync, async c => kc.oldSyncKey(bytes(c.kB), c.keysChangedAt)),
    jwe: await each(cases.jwe, async c => ({ jwe: await kc.sealJWE(c.keysJWK, utf8.encode(c.plaintext)) })),
    keysJWE: await each(cases.keysJWE, async c => ({ jwe: await kc.keysJWE(c.keysJWK, bytes(c.kB), c.keysChangedAt) })),
    hawk: await each(cases.hawk, async c => ({
      header: await kc.hawkHeader({ method: c.method, url: c.url, id: c.id, key: bytes(c.key), body: c.body ?? null }),
    })),
  };
  document.getElementById("out").textContent = JSON.stringify(out);
  document.body.dataset.state = "done";
}

run().catch(e => {
  document.body.dataset.state = "error:" + ((e && e.message) || e);
});
