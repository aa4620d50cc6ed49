// WebAuthn for the admin dashboard: the browser's side of py_webauthn's ceremonies.
// Buttons marked data-webauthn="register" (the keys page) or "authenticate" (the factor page).
// The JSON posts carry this page's CSRF token in a header (the dashboard's double submit).

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

function fromB64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buffer) {
  let raw = "";
  for (const byte of new Uint8Array(buffer)) raw += String.fromCharCode(byte);
  return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-offcoder-admin-csrf": csrf() },
    body: JSON.stringify(body ?? {}),
    credentials: "same-origin",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || "That did not work; reload the page and try again.");
  return answer;
}

async function register() {
  const options = await post("/keys/options");
  options.challenge = fromB64url(options.challenge);
  options.user.id = fromB64url(options.user.id);
  options.excludeCredentials = (options.excludeCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) }));
  const made = await navigator.credentials.create({ publicKey: options });
  const credential = {
    id: made.id,
    rawId: toB64url(made.rawId),
    type: made.type,
    response: {
      clientDataJSON: toB64url(made.response.clientDataJSON),
      attestationObject: toB64url(made.response.attestationObject),
      transports: made.response.getTransports ? made.response.getTransports() : [],
    },
    clientExtensionResults: made.getClientExtensionResults(),
  };
  return post("/keys", { credential });
}

async function authenticate(next) {
  const options = await post("/factor/webauthn/options");
  options.challenge = fromB64url(options.challenge);
  options.allowCredentials = (options.allowCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) }));
  const got = await navigator.credentials.get({ publicKey: options });
  const credential = {
    id: got.id,
    rawId: toB64url(got.rawId),
    type: got.type,
    response: {
      clientDataJSON: toB64url(got.response.clientDataJSON),
      authenticatorData: toB64url(got.response.authenticatorData),
      signature: toB64url(got.response.signature),
      userHandle: got.response.userHandle ? toB64url(got.response.userHandle) : null,
    },
    clientExtensionResults: got.getClientExtensionResults(),
  };
  return post("/factor/webauthn", { credential, next });
}

for (const button of document.querySelectorAll("[data-webauthn]")) {
  const error = button.parentElement.querySelector("[data-webauthn-error]");
  button.addEventListener("click", async () => {
    error.hidden = true;
    button.disabled = true;
    try {
      const done = button.dataset.webauthn === "register"
        ? await register()
        : await authenticate(button.dataset.next || "/");
      window.location.assign(done.next || "/");
    } catch (problem) {
      error.textContent = problem.name === "NotAllowedError"
        ? "The security key did not answer, or the request was cancelled."
        : problem.message;
      error.hidden = false;
      button.disabled = false;
    }
  });
}
