// The account settings page (/settings, /settings/clients): devices,
// password change and account deletion, for the signed-in user.
//
// Firefox's "Manage account" opens it. The page first asks Firefox over
// the WebChannel (fxaccounts:fxa_status) for the signed-in user: on this
// origin Firefox answers with the session token, so no second sign-in is
// needed. Opened in a browser that is not signed in here, the page asks
// for the password and keeps the session it gets in sessionStorage (this
// tab only). A password change keeps kB: the page unwraps it with the old
// password and wraps it again with the new one, so Sync data stays
// readable; Firefox then gets the new session (fxaccounts:change_password)
// and stays signed in, while every other device must sign in again.
// <body data-state> tells tests where the page is: loading, signin, ready,
// working, changed, deleted or error:<reason>.
import * as kc from "/crypto.js";
import { $, MIN_PASSWORD, PageError, apiClient, newClientSalt, openChannel, setState } from "/common.js";

const STORED = "syncserver.settings.session";

const errorBox = $("error");
const statusBox = $("status");

function setStatus(text) {
  statusBox.textContent = text;
}

function showError(err) {
  if (!(err instanceof PageError)) {
    console.error("settings page:", err);
    err = new PageError("internal", "Something went wrong in this page: " + err.message);
  }
  setStatus("");
  errorBox.textContent = err.message;
  if (err.field) {
    err.field.setAttribute("aria-invalid", "true");
    err.field.focus();
  }
  setState("error:" + err.reason);
}

// "No Such Channel" means Firefox is not set up for this origin.
const send = openChannel({
  noChannel: () => new PageError("no-channel", "Firefox is not signed in to this server"),
  noAnswer: () => new PageError("no-channel", "Firefox did not answer"),
  defaultTimeoutMs: 30000,
});

const api = apiClient((status, data) => {
  const errno = data && data.errno;
  if (errno === 103) return new PageError("incorrect-password", "Incorrect password.");
  if (errno === 114) return new PageError("too-many-tries", "Too many attempts. Wait a few minutes, then try again.");
  if (status === 401 && errno === 110) return new PageError("signed-out", "This session has ended. Sign in again.");
  const message = (data && typeof data.message === "string" && data.message) || `HTTP ${status}`;
  return new PageError("server", `The server refused: ${message} (errno ${errno ?? "none"}).`);
});

// ---- the session ---------------------------------------------------------------

// user is {email, uid, sessionToken, fromFirefox}; token is its Hawk key.
let user = null;
let token = null;

async function useSession(u) {
  user = u;
  token = await kc.deriveToken(u.sessionToken, "sessionToken");
  if (!u.fromFirefox) sessionStorage.setItem(STORED, JSON.stringify(u));
}

function forgetSession() {
  user = null;
  token = null;
  sessionStorage.removeItem(STORED);
}

// stretch is what the sign-in page computes: the salt the server keeps
// for email, and the password's authPW and unwrapBKey.
async function stretch(email, password) {
  const { clientSalt } = await api("POST", "/v1/account/credentials/status", { email });
  if (typeof clientSalt !== "string" || !clientSalt) throw new PageError("server", "The server sent no password salt.");
  return kc.credentials(await kc.quickStretchV2(password, clientSalt));
}

async function start() {
  $("noscript").hidden = true;
  let found = null;
  try {
    const status = await send("fxaccounts:fxa_status", { service: "sync", context: "oauth_webchannel_v1", isPairing: false }, 5000);
    const su = status.signedInUser;
    if (su && su.sessionToken && su.email) found = { email: su.email, uid: su.uid, sessionToken: su.sessionToken, fromFirefox: true };
  } catch {
    // Not Firefox, or not signed in to this server: ask for the password.
  }
  if (!found) {
    try {
      found = JSON.parse(sessionStorage.getItem(STORED) || "null");
    } catch {
      found = null;
    }
  }
  if (found) {
    await useSession(found);
    try {
      await showAccount();
      return;
    } catch (err) {
      if (!(err instanceof PageError) || err.reason !== "signed-out") throw err;
      forgetSession();
    }
  }
  showSignIn();
}

function showSignIn() {
  $("account").hidden = true;
  $("signin").hidden = false;
  const email = new URLSearchParams(location.search).get("email");
  if (email && !$("email").value) $("email").value = email;
  ($("email").value ? $("password") : $("email")).focus();
  setState("signin");
}

async function signIn(event) {
  event.preventDefault();
  await run(async () => {
    const email = $("email").value.trim();
    if (!email || !$("email").checkValidity()) throw new PageError("invalid-email", "Enter a valid email address.", $("email"));
    setStatus("Signing in… this takes a few seconds.");
    const { authPW } = await stretch(email, $("password").value);
    const login = await api("POST", "/v1/account/login", { email, authPW });
    $("password").value = "";
    await useSession({ email: login.email || email, uid: login.uid, sessionToken: login.sessionToken, fromFirefox: false });
    $("signin").hidden = true;
    await showAccount();
  });
}

async function showAccount() {
  const status = await api("GET", "/v1/recovery_email/status", null, token);
  user.email = status.email || user.email;
  $("account-email").textContent = user.email;
  await listDevices();
  $("signin").hidden = true;
  $("account").hidden = false;
  setStatus("");
  setState("ready");
}

// ---- devices ---------------------------------------------------------------------

async function listDevices() {
  const devices = await api("GET", "/v1/account/devices", null, token);
  const list = $("devices");
  list.replaceChildren();
  if (devices.length === 0) {
    const li = document.createElement("li");
    li.textContent = "No device is signed in.";
    list.append(li);
  }
  for (const d of devices) {
    const li = document.createElement("li");
    li.dataset.id = d.id;
    const label = document.createElement("span");
    const seen = d.lastAccessTime ? ", last seen " + new Date(d.lastAccessTime).toLocaleString() : "";
    label.textContent = `${d.name || "Unnamed device"} (${d.type || "device"}${seen})${d.isCurrentDevice ? " — this browser" : ""}`;
    li.append(label);
    if (!d.isCurrentDevice) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Sign out";
      button.setAttribute("aria-label", `Sign out ${d.name || "this device"}`);
      button.addEventListener("click", () => run(async () => {
        await api("POST", "/v1/account/device/destroy", { id: d.id }, token);
        await listDevices();
        setStatus(`${d.name || "The device"} is signed out.`);
      }, "ready"));
      li.append(button);
    }
    list.append(li);
  }
}

// ---- password change ---------------------------------------------------------------

async function changePassword(event) {
  event.preventDefault();
  await run(async () => {
    const oldPassword = $("old-password").value;
    const newPassword = $("new-password").value;
    if (newPassword.length < MIN_PASSWORD) {
      throw new PageError("short-password", `Choose a password of at least ${MIN_PASSWORD} characters.`, $("new-password"));
    }
    if ($("new-confirm").value !== newPassword) {
      throw new PageError("password-mismatch", "The two new passwords differ.", $("new-confirm"));
    }
    setStatus("Unlocking your key with the current password…");
    const email = user.email;
    const old = await stretch(email, oldPassword);
    // A login with the old password proves it and fetches wrapKb; its
    // session is the one that changes the password.
    const login = await api("POST", "/v1/account/login?keys=true", { email, authPW: old.authPW });
    const keyFetch = await kc.deriveToken(login.keyFetchToken, "keyFetchToken");
    const { bundle } = await api("GET", "/v1/account/keys", null, keyFetch);
    const { wrapKb } = await kc.unwrapBundle(keyFetch.keyRequestKey, bundle);
    const kB = kc.xor(wrapKb, old.unwrapBKey);

    setStatus("Wrapping your key with the new password…");
    const clientSalt = newClientSalt();
    const next = await kc.credentials(await kc.quickStretchV2(newPassword, clientSalt));
    const changed = await api("POST", "/v1/password/change", {
      oldAuthPW: old.authPW,
      authPW: next.authPW,
      clientSalt,
      wrapKb: kc.bytesToHex(kc.xor(kB, next.unwrapBKey)),
    }, await kc.deriveToken(login.sessionToken, "sessionToken"));

    const fromFirefox = user.fromFirefox;
    await useSession({ email, uid: changed.uid, sessionToken: changed.sessionToken, fromFirefox });
    if (fromFirefox) {
      // Every session went with the old password, Firefox's too: hand it
      // the new one so that this browser stays signed in and syncing.
      await send("fxaccounts:change_password", { email, uid: changed.uid, sessionToken: changed.sessionToken, verified: true });
    }
    for (const id of ["old-password", "new-password", "new-confirm"]) $(id).value = "";
    await listDevices();
    setStatus("Your password is changed. Your other devices ask for the new one.");
  }, "changed");
}

// ---- account deletion ------------------------------------------------------------

async function deleteAccount(event) {
  event.preventDefault();
  await run(async () => {
    if (!$("delete-confirm").checked) throw new PageError("not-confirmed", "Tick the box to confirm.", $("delete-confirm"));
    setStatus("Checking your password…");
    const { authPW } = await stretch(user.email, $("delete-password").value);
    await api("POST", "/v1/account/destroy", { email: user.email, authPW }, token);
    const { uid, fromFirefox } = user;
    forgetSession();
    if (fromFirefox) {
      // Firefox signs out of the account that no longer exists. Not
      // awaited: it answers only once its sign-out (Sync's reset
      // included) is over, and the account is gone whatever it says.
      send("fxaccounts:delete", { uid }).catch(() => {});
    }
    $("account").hidden = true;
    $("deleted").hidden = false;
    $("deleted-title").focus();
    setStatus("");
  }, "deleted");
}

// run runs an action of a form, with the page busy meanwhile; done is the
// state it leaves on success.
let busy = false;
async function run(action, done = null) {
  if (busy) return;
  busy = true;
  errorBox.textContent = "";
  for (const el of document.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const b of document.querySelectorAll("button")) b.disabled = true;
  setState("working");
  try {
    await action();
    if (done) setState(done);
  } catch (err) {
    if (err instanceof PageError && err.reason === "signed-out") {
      forgetSession();
      showSignIn();
    }
    showError(err);
  } finally {
    busy = false;
    for (const b of document.querySelectorAll("button")) b.disabled = false;
  }
}

$("signin").addEventListener("submit", signIn);
$("change").addEventListener("submit", changePassword);
$("delete").addEventListener("submit", deleteAccount);
start().catch(err => showError(err));
