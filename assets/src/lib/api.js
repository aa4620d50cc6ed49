// The console's one way to call /v1: the browser's session cookie goes along, with this
// page's CSRF token in the header the API asks for beside it (auth/dependencies.caller_token).
// A 401 renews the session once (POST /console/session/refresh) and tries again; when that is
// refused too the person is sent to sign in. Errors are thrown as ApiError with the problem.

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `The server answered ${status}.`);
    this.status = status;
    this.problem = problem || {};
  }

  // The field-level details of a 422, as "where: what" lines (the console shows each).
  get fieldErrors() {
    const errors = this.problem.errors || [];
    return errors.map((e) => {
      const where = (e.loc || []).filter((p) => p !== "body").join(".");
      return where ? `${where}: ${e.msg}` : e.msg;
    });
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

let renewing = null;

async function renew() {
  // One renewal at a time: two calls that both got 401 share it (a refresh token works once).
  if (!renewing) {
    renewing = fetch("/console/session/refresh", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-OffCoder-CSRF": csrfToken() },
    }).finally(() => { setTimeout(() => { renewing = null; }, 0); });
  }
  const answer = await renewing;
  return answer.status === 204;
}

async function isSessionRefusal(answer) {
  try {
    const problem = await answer.clone().json();
    return !problem.type || problem.type.endsWith("/unauthorized");
  } catch (_) {
    return true;  // not a problem document: the session's, as far as we can tell
  }
}

export async function request(method, path, { json, body, headers = {}, signal, raw = false } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { "X-OffCoder-CSRF": csrfToken(), ...headers },
    signal,
  };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let answer = await fetch(path, init);
  // Only the session's own 401 renews it: another (a provider refusing the person's AI key)
  // would be sent twice for nothing.
  if (answer.status === 401 && (await isSessionRefusal(answer))) {
    if (await renew()) {
      answer = await fetch(path, init);
    } else {
      window.location.assign("/console");
      throw new ApiError(401, { detail: "Your session has ended; sign in again." });
    }
  }
  if (!answer.ok) {
    let problem = null;
    try { problem = await answer.json(); } catch (_) { /* not JSON: the status says it */ }
    throw new ApiError(answer.status, problem);
  }
  if (raw) { return answer; }
  if (answer.status === 204) { return null; }
  const type = answer.headers.get("content-type") || "";
  return type.includes("json") ? answer.json() : answer.text();
}

export const api = {
  get: (path, options) => request("GET", path, options),
  post: (path, json, options = {}) => request("POST", path, { ...options, json }),
  put: (path, json, options = {}) => request("PUT", path, { ...options, json }),
  patch: (path, json, options = {}) => request("PATCH", path, { ...options, json }),
  delete: (path, options) => request("DELETE", path, options),
};
