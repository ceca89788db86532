// What the sign-in page (app.js) and the settings page (settings.js) share:
// the errors they show, the WebChannel "account_updates" to Firefox and the
// accounts API of this origin. Each page says in its own words what a
// failure means to its user; the protocol is written once, here.
import * as kc from "/crypto.js";

const CHANNEL = "account_updates";
// iOS wants the event detail as an object; desktop and Android drop
// anything but a JSON string.
const DETAIL_AS_OBJECT = /\bFxiOS\//.test(navigator.userAgent);

// MIN_PASSWORD is the shortest password a page lets the user choose.
export const MIN_PASSWORD = 8;

export const $ = id => document.getElementById(id);

// PageError is a failure the page explains to the user; reason goes into
// data-state as error:<reason>, field (an input) is marked invalid.
export class PageError extends Error {
  constructor(reason, message, field) {
    super(message);
    this.reason = reason;
    this.field = field;
  }
}

export function setState(state) {
  document.body.dataset.state = state;
}

// newClientSalt makes the salt of a new password.
export function newClientSalt() {
  return kc.NS + "quickStretchV2:" + kc.bytesToHex(crypto.getRandomValues(new Uint8Array(16)));
}

// ---- WebChannel ---------------------------------------------------------------

// openChannel listens for Firefox's answers and returns send(command,
// data, timeoutMs), which resolves with the data Firefox answers.
// noChannel(error) is the PageError for a channel-level message (one
// without messageId, error being Firefox's text, if any), or null to
// ignore it; noAnswer() the PageError when Firefox does not answer within
// timeoutMs, defaultTimeoutMs unless the call says otherwise.
export function openChannel({ noChannel, noAnswer, defaultTimeoutMs }) {
  let nextMessageId = 1;
  const pending = new Map(); // messageId (string) → {resolve, reject, command}

  window.addEventListener("WebChannelMessageToContent", event => {
    let detail = event.detail;
    if (typeof detail === "string") {
      try {
        detail = JSON.parse(detail);
      } catch {
        return;
      }
    }
    if (!detail || detail.id !== CHANNEL || !detail.message) return;
    const message = detail.message;
    if (message.messageId === undefined || message.messageId === null) {
      // A channel-level error ("No Such Channel": this origin is not the
      // one Firefox's prefs name) carries no messageId: fail every request.
      for (const [id, p] of pending) {
        const err = noChannel(message.error);
        if (!err) return;
        pending.delete(id);
        p.reject(err);
      }
      return;
    }
    // iOS echoes messageId as a number: compare as strings.
    const p = pending.get(String(message.messageId));
    if (!p) return;
    pending.delete(String(message.messageId));
    const data = message.data || {};
    if (data.error) {
      const text = typeof data.error === "string" ? data.error : (data.error.message || JSON.stringify(data.error));
      p.reject(new PageError("firefox", `Firefox could not finish (${p.command}): ${text}`));
    } else {
      p.resolve(data);
    }
  });

  return function send(command, data, timeoutMs = defaultTimeoutMs) {
    const messageId = String(nextMessageId++);
    const message = { id: CHANNEL, message: { command, data, messageId } };
    return new Promise((resolve, reject) => {
      pending.set(messageId, { resolve, reject, command });
      setTimeout(() => {
        if (pending.delete(messageId)) reject(noAnswer());
      }, timeoutMs);
      window.dispatchEvent(new CustomEvent("WebChannelMessageToChrome", {
        detail: DETAIL_AS_OBJECT ? message : JSON.stringify(message),
      }));
    });
  };
}

// ---- accounts API -------------------------------------------------------------

// apiClient returns api(method, path, body, token), which calls an
// endpoint of this origin; token ({id, key}) signs the call with Hawk.
// toError(status, data) turns a refusal (data is the JSON body, or null)
// into the PageError the page shows.
export function apiClient(toError) {
  let clockOffset = 0; // seconds to add to this machine's clock for Hawk

  return async function api(method, path, body = null, token = null) {
    const url = location.origin + path;
    const text = body === null ? null : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      const headers = { Accept: "application/json" };
      if (text !== null) headers["Content-Type"] = "application/json";
      if (token) {
        headers.Authorization = await kc.hawkHeader({ method, url, id: token.id, key: token.key, body: text, offset: clockOffset });
      }
      let resp;
      try {
        resp = await fetch(url, { method, headers, body: text, credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" });
      } catch {
        throw new PageError("network", "The server cannot be reached. Check the connection and try again.");
      }
      let data = null;
      try {
        data = await resp.json();
      } catch {
        // handled below: a success needs a JSON body
      }
      const failed = !resp.ok || data === null || typeof data !== "object" || (!Array.isArray(data) && "error" in data);
      if (!failed) return data;
      const errno = data && data.errno;
      // A clock far off: take the server's time from Date and retry once.
      if (token && resp.status === 401 && errno === 111 && attempt === 0) {
        const server = Date.parse(resp.headers.get("Date") || "");
        if (!Number.isNaN(server)) {
          clockOffset = Math.round((server - Date.now()) / 1000);
          continue;
        }
      }
      throw toError(resp.status, data);
    }
  };
}
