// The sign-in page: its conversation with Firefox over the WebChannel
// "account_updates" and with the accounts API of this origin.
//
// Firefox opens the page with the OAuth parameters of a flow it began
// (client_id, state, code_challenge, keys_jwk…); opened bare, the page asks
// Firefox to begin one (fxaccounts:oauth_flow_begin). The page stretches the
// password, logs in, fetches and unwraps kB, seals the oldsync key to
// Firefox's keys_jwk, gets an authorization code, and hands Firefox the
// session (fxaccounts:login) and then the code (fxaccounts:oauth_login).
// Firefox redeems the code itself. Neither the password nor kB leaves the
// page. <body data-state> tells tests where the page is: loading, ready,
// working, done or error:<reason>.
import * as kc from "/crypto.js";
import { $, MIN_PASSWORD, PageError, apiClient, newClientSalt, openChannel, setState } from "/common.js";

const SCOPES = [kc.OLDSYNC, "profile"];

const form = $("signin");
const emailInput = $("email");
const passwordInput = $("password");
const confirmInput = $("confirm");
const submitButton = $("submit");
const errorBox = $("error");
const statusBox = $("status");

const params = new URLSearchParams(location.search);
const invite = params.get("invite");

function showError(err) {
  errorBox.textContent = err.message;
  for (const input of [emailInput, passwordInput, confirmInput]) {
    input.removeAttribute("aria-invalid");
  }
  if (err.field) {
    err.field.setAttribute("aria-invalid", "true");
    err.field.focus();
  }
  setState("error:" + err.reason);
}

function setStatus(text) {
  statusBox.textContent = text;
}

// ---- WebChannel ---------------------------------------------------------------

// send sends a command to Firefox and resolves with the data it answers.
const send = openChannel({
  noChannel: error => error ? new PageError("no-channel", noChannelText(error)) : null,
  noAnswer: () => new PageError("no-channel", "Firefox did not answer. Open this page from Firefox's \"Sign in to Sync\" " +
    "with identity.fxaccounts.autoconfig.uri set to " + location.origin + "."),
  defaultTimeoutMs: 60000,
});

function noChannelText(detail) {
  return "Firefox does not trust this page for Sync sign-in (" + detail + "). Set identity.fxaccounts.autoconfig.uri " +
    "in about:config to exactly " + location.origin + " and use Firefox's own \"Sign in\" button.";
}

// ---- accounts API -------------------------------------------------------------

// ApiError texts by FxA errno: what the user can do about it.
const apiErrors = {
  102: ["unknown-account", "There is no account with this email address.", "email"],
  103: ["incorrect-password", "Incorrect email or password.", "password"],
  114: ["too-many-tries", "Too many attempts. Wait a few minutes, then try again.", null],
  101: ["account-exists", "An account with this email address already exists.", "email"],
  125: ["account-disabled", "This account is disabled. Ask the person who runs this server.", "email"],
};

// api calls an endpoint of this origin. token ({id, key}) signs it with
// Hawk. Errors become PageErrors the user can read.
const api = apiClient(apiError);

function apiError(status, data) {
  const errno = data && data.errno;
  const known = apiErrors[errno];
  if (errno === 114 && data && Number.isFinite(data.retryAfter) && data.retryAfter > 0) {
    const minutes = Math.ceil(data.retryAfter / 60);
    return new PageError("too-many-tries", `Too many attempts. Try again in ${minutes} minute${minutes === 1 ? "" : "s"}.`);
  }
  if (known) {
    const [reason, text, field] = known;
    return new PageError(reason, text, field === "email" ? emailInput : field === "password" ? passwordInput : null);
  }
  const message = (data && typeof data.message === "string" && data.message) || `HTTP ${status}`;
  if (/disabled/i.test(message) || (data && data.error === "Account disabled")) {
    return new PageError("account-disabled", "This account is disabled. Ask the person who runs this server.", emailInput);
  }
  if (invite && status === 400 && /invite/i.test(message)) {
    return new PageError("bad-invite", "This sign-up link is not valid any more (used or expired). Ask for a new one.");
  }
  return new PageError("server", `The server refused: ${message} (errno ${errno ?? "none"}).`);
}

// ---- the flow -------------------------------------------------------------------

let channel = false; // Firefox answered fxa_status
let engines = [];
let oauth = null; // the OAuth parameters of Firefox's flow
let busy = false;

async function start() {
  $("noscript").hidden = true;
  form.hidden = false;
  if (params.get("email")) emailInput.value = params.get("email");
  if (invite) {
    document.title = "Create your Firefox Sync account";
    $("title").textContent = "Create your Firefox Sync account";
    $("password-hint").hidden = false;
    $("confirm-field").hidden = false;
    confirmInput.required = true;
    passwordInput.autocomplete = "new-password";
    submitButton.textContent = "Create account";
  }
  try {
    // Firefox answers only if this origin is its accounts root: this
    // proves the page is where Firefox expects it.
    const status = await send("fxaccounts:fxa_status",
      { service: "sync", context: params.get("context") || "oauth_webchannel_v1", isPairing: false }, 10000);
    channel = true;
    engines = (status.capabilities && Array.isArray(status.capabilities.engines)) ? status.capabilities.engines : [];
    if (!emailInput.value && status.signedInUser && status.signedInUser.email) {
      emailInput.value = status.signedInUser.email;
    }
    if (params.get("client_id")) {
      oauth = {
        client_id: params.get("client_id"),
        state: params.get("state"),
        scope: params.get("scope") || SCOPES.join(" "),
        access_type: params.get("access_type") || "offline",
        code_challenge: params.get("code_challenge"),
        code_challenge_method: params.get("code_challenge_method"),
        keys_jwk: params.get("keys_jwk"),
      };
    } else {
      // Opened bare (typed, bookmarked, an invite link): Firefox makes
      // the state, PKCE verifier and ephemeral key, and keeps them.
      oauth = await send("fxaccounts:oauth_flow_begin", { scopes: SCOPES });
    }
    for (const k of ["client_id", "state", "code_challenge", "keys_jwk"]) {
      if (!oauth[k]) throw new PageError("bad-request", `Firefox's sign-in request lacks ${k}. Start again from Firefox's "Sign in" button.`);
    }
  } catch (err) {
    if (!(err instanceof PageError)) throw err;
    if (!(invite && err.reason === "no-channel")) {
      // Nothing to sign in to: keep the form but refuse it.
      submitButton.disabled = true;
      showError(err);
      return;
    }
    // An invite opened in a browser that is not set up for this server
    // can still create the account; signing in comes later.
    setStatus("This browser is not set up for this server: the account will be created, and you can then sign in from Firefox.");
  }
  setState("ready");
  (emailInput.value ? passwordInput : emailInput).focus();
}

async function submit(event) {
  event.preventDefault();
  if (busy) return;
  busy = true;
  submitButton.disabled = true;
  form.setAttribute("aria-busy", "true");
  errorBox.textContent = "";
  setState("working");
  try {
    await signIn();
    form.hidden = true;
    $("done").hidden = false;
    if (!channel) {
      $("done-title").textContent = "Your account is ready";
      $("done").querySelector("p").textContent = "Now sign in to Sync in Firefox with this email and password.";
    }
    $("done-title").focus();
    setState("done");
  } catch (err) {
    setStatus("");
    if (err instanceof PageError) {
      showError(err);
    } else {
      console.error("sign-in page: sign-in failed", err);
      showError(new PageError("internal", "Something went wrong in this page: " + err.message));
    }
  } finally {
    busy = false;
    form.removeAttribute("aria-busy");
    submitButton.disabled = !channel && !invite;
  }
}

async function signIn() {
  if (!channel && !invite) {
    throw new PageError("no-channel", "Open this page from Firefox's \"Sign in to Sync\".");
  }
  const email = emailInput.value.trim();
  const password = passwordInput.value;
  if (!email || !emailInput.checkValidity()) {
    throw new PageError("invalid-email", "Enter a valid email address.", emailInput);
  }
  if (!password) throw new PageError("missing-password", "Enter your password.", passwordInput);
  if (invite) {
    if (password.length < MIN_PASSWORD) {
      throw new PageError("short-password", `Choose a password of at least ${MIN_PASSWORD} characters.`, passwordInput);
    }
    if (confirmInput.value !== password) {
      throw new PageError("password-mismatch", "The two passwords differ.", confirmInput);
    }
  }
  setStatus("Unlocking your keys… this takes a few seconds.");
  let clientSalt;
  if (invite) {
    clientSalt = newClientSalt();
  } else {
    clientSalt = (await api("POST", "/v1/account/credentials/status", { email })).clientSalt;
    if (typeof clientSalt !== "string" || !clientSalt) throw new PageError("server", "The server sent no password salt.");
  }
  const qs = await kc.quickStretchV2(password, clientSalt);
  const { authPW, unwrapBKey } = await kc.credentials(qs);

  setStatus(invite ? "Creating your account…" : "Signing in…");
  const login = invite
    ? await api("POST", "/v1/account/create?keys=true", { email, authPW, clientSalt, invite })
    : await api("POST", "/v1/account/login?keys=true", { email, authPW });
  if (!channel) return; // invite without Firefox: the account exists now

  const session = await kc.deriveToken(login.sessionToken, "sessionToken");
  // Firefox warns when this profile was last linked to another account;
  // it knows accounts by uid (a signed-out profile keeps a hash of the
  // last one), so this comes after login, with the uid.
  const link = await send("fxaccounts:can_link_account", { email, uid: login.uid });
  if (!link.ok) {
    // Best effort: the session is of no use now.
    await api("POST", "/v1/session/destroy", {}, session).catch(() => {});
    throw new PageError("cannot-link", "Sign-in cancelled: Firefox keeps the account it had.");
  }

  const keyFetch = await kc.deriveToken(login.keyFetchToken, "keyFetchToken");
  const { bundle } = await api("GET", "/v1/account/keys", null, keyFetch);
  const { wrapKb } = await kc.unwrapBundle(keyFetch.keyRequestKey, bundle);
  const kB = kc.xor(wrapKb, unwrapBKey);

  const scoped = await api("POST", "/v1/account/scoped-key-data", { client_id: oauth.client_id, scope: oauth.scope }, session);
  const sync = scoped[kc.OLDSYNC];
  if (!sync) throw new PageError("server", "The server has no Sync key for this account.");
  const keysJWE = await kc.keysJWE(oauth.keys_jwk, kB, sync.keyRotationTimestamp);

  const authz = await api("POST", "/v1/oauth/authorization", {
    client_id: oauth.client_id,
    state: oauth.state,
    scope: oauth.scope,
    response_type: "code",
    access_type: oauth.access_type || "offline",
    code_challenge: oauth.code_challenge,
    code_challenge_method: oauth.code_challenge_method || "S256",
    keys_jwe: keysJWE,
  }, session);

  setStatus("Connecting Firefox…");
  // login first: oauth_login reads uid and sessionToken from the account
  // login stored.
  await send("fxaccounts:login", {
    email: login.email || email,
    uid: login.uid,
    sessionToken: login.sessionToken,
    verified: true,
    services: { sync: { offeredEngines: engines, declinedEngines: [] } },
  });
  await send("fxaccounts:oauth_login", {
    code: authz.code,
    state: authz.state || oauth.state,
    redirect: authz.redirect,
    action: "signin",
    scope: oauth.scope,
    declinedSyncEngines: [],
    offeredSyncEngines: engines,
  });
}

form.addEventListener("submit", submit);
start().catch(err => {
  console.error("sign-in page: failed to start", err);
  showError(new PageError("internal", "This page failed to start: " + err.message));
});
