// The account page and a project's settings page: their buttons and forms call /v1 (lib/api.js)
// and show the answer in place. The server renders both pages whole; without this script the
// forms that matter most (erasure, deleting a project, setting a secret, linking an account)
// still work as plain posts.
import { api, ApiError } from "../lib/api.js";

// Sentences for the fields whose 422 the API words for programs ("String should match
// pattern ..."): people get the rule instead.
const FIELD_RULES = {
  handle: "A handle is 2 to 39 lowercase letters, digits and single hyphens, not at either end.",
  display_name: "A display name is 1 to 100 characters.",
  name: "A project name is 1 to 100 characters.",
  code: "Enter the 6-digit code your authenticator app shows.",
};

function sentence(error) {
  if (error instanceof ApiError) {
    if (error.status === 0 || error.status >= 500) {
      return "The server could not do that just now. Try again in a moment.";
    }
    return error.message;
  }
  return "The server could not be reached. Check your connection and try again.";
}

function show(element, text) {
  if (!element) { return; }
  element.textContent = text || "";
  element.hidden = !text;
}

// Clears a form's messages, then shows each 422 field detail next to its field and anything
// else as one sentence above the button.
function clearErrors(form) {
  for (const slot of form.querySelectorAll("[data-error-for]")) {
    show(slot, "");
    const input = form.querySelector(`[name="${slot.dataset.errorFor}"]`);
    if (input) { input.removeAttribute("aria-invalid"); }
  }
  show(form.querySelector("[data-form-error]"), "");
  show(form.querySelector("[data-form-ok]"), "");
}

function showErrors(form, error, fieldFor = {}) {
  const problem = error instanceof ApiError ? error.problem : {};
  let placed = false;
  for (const detail of problem.errors || []) {
    const field = (detail.loc || []).filter((p) => p !== "body").join(".");
    const slot = form.querySelector(`[data-error-for="${field}"]`);
    if (slot) {
      show(slot, FIELD_RULES[field] || detail.msg);
      const input = form.querySelector(`[name="${field}"]`);
      if (input) { input.setAttribute("aria-invalid", "true"); }
      placed = true;
    }
  }
  // A refusal that is about one field (a taken handle, a wrong code) goes next to it too.
  const field = fieldFor[error.status];
  if (!placed && field) {
    const slot = form.querySelector(`[data-error-for="${field}"]`);
    if (slot) {
      show(slot, sentence(error));
      form.querySelector(`[name="${field}"]`)?.setAttribute("aria-invalid", "true");
      placed = true;
    }
  }
  if (!placed) { show(form.querySelector("[data-form-error]"), sentence(error)); }
}

async function busy(button, work) {
  if (button) { button.disabled = true; }
  try { return await work(); } finally { if (button) { button.disabled = false; } }
}

function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function copy(text, button) {
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (_) {
    button.textContent = "Select the text to copy it";
  }
  setTimeout(() => { button.textContent = label; }, 2000);
}

// ------------------------------------------------------------------ the account page

function profile(root) {
  const form = root.querySelector("#profile-form");
  if (!form) { return; }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const handle = form.elements.handle.value.trim();
    const displayName = form.elements.display_name.value.trim();
    const changes = {};
    if (handle) { changes.handle = handle; }
    if (displayName) { changes.display_name = displayName; }
    busy(form.querySelector("button[type=submit]"), async () => {
      try {
        const user = await api.patch("/v1/me", changes);
        show(form.querySelector("[data-form-ok]"), "Profile saved.");
        // The word that confirms erasure is the handle when there is one.
        if (user.handle) {
          root.dataset.confirmWord = user.handle;
          for (const text of root.querySelectorAll("[data-confirm-text]")) { text.textContent = user.handle; }
        }
      } catch (error) {
        showErrors(form, error, { 409: "handle" });
      }
    });
  });
}

function identities(root) {
  const error = root.querySelector("#identities-error");
  root.querySelector("#identities")?.addEventListener("click", (event) => {
    const button = event.target.closest("[data-unlink]");
    if (!button) { return; }
    show(error, "");
    busy(button, async () => {
      try {
        await api.delete(`/v1/me/identities/${encodeURIComponent(button.dataset.unlink)}`);
        button.closest("li").remove();
      } catch (failure) {
        show(error, failure.status === 409
          ? `${button.dataset.name} is the only account you sign in with; link another before unlinking it.`
          : sentence(failure));
      }
    });
  });
}

function sessions(root) {
  const list = root.querySelector("#sessions");
  if (!list) { return; }
  const error = root.querySelector("#sessions-error");
  const ok = root.querySelector("#sessions-ok");
  const others = root.querySelector("#end-others");
  const refresh = () => { others.hidden = list.querySelectorAll("li:not([data-current])").length === 0; };
  list.addEventListener("click", (event) => {
    const button = event.target.closest("[data-end-session]");
    if (!button) { return; }
    show(error, ""); show(ok, "");
    busy(button, async () => {
      try {
        await api.delete(`/v1/auth/sessions/${encodeURIComponent(button.dataset.endSession)}`);
      } catch (failure) {
        if (failure.status !== 404) { show(error, sentence(failure)); return; }
        // Already ended elsewhere: it goes from the list all the same.
      }
      button.closest("li").remove();
      show(ok, "That device is signed out.");
      refresh();
    });
  });
  others?.addEventListener("click", () => {
    show(error, ""); show(ok, "");
    busy(others, async () => {
      try {
        const answer = await api.post("/v1/auth/sessions/revoke-others");
        for (const item of list.querySelectorAll("li:not([data-current])")) { item.remove(); }
        show(ok, answer.ended === 1 ? "1 other device is signed out." : `${answer.ended} other devices are signed out.`);
        refresh();
      } catch (failure) {
        show(error, sentence(failure));
      }
    });
  });
}

function secondFactor(root) {
  const start = root.querySelector("#mfa-start");
  if (!start) { return; }
  const setup = root.querySelector("#mfa-setup");
  const error = root.querySelector("#mfa-error");
  const confirm = root.querySelector("#mfa-confirm");
  let secret = "";
  start.addEventListener("click", () => {
    show(error, "");
    busy(start, async () => {
      try {
        const enrolment = await api.post("/v1/auth/mfa/totp");
        secret = enrolment.secret;
        // Drawn here from the URI: the secret goes from our API to this page and nowhere else.
        // Loaded only now (its own chunk): most visits to these pages never enrol.
        const { default: QRCode } = await import("qrcode");
        root.querySelector("#mfa-qr").innerHTML = await QRCode.toString(enrolment.otpauth_uri, {
          type: "svg", margin: 2, errorCorrectionLevel: "M",
        });
        root.querySelector("#mfa-secret").textContent = secret.replace(/(.{4})(?=.)/g, "$1 ");
        setup.hidden = false;
        start.hidden = true;
        confirm.elements.code.focus();
      } catch (failure) {
        show(error, sentence(failure));
      }
    });
  });
  root.querySelector("#mfa-copy-secret").addEventListener("click", (event) => copy(secret, event.currentTarget));
  confirm.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(confirm);
    show(error, "");
    const code = confirm.elements.code.value.replace(/\s+/g, "");
    busy(confirm.querySelector("button[type=submit]"), async () => {
      try {
        const answer = await api.post("/v1/auth/mfa/totp/confirm", { code });
        const codes = answer.recovery_codes;
        const list = root.querySelector("#recovery-codes");
        list.replaceChildren(...codes.map((c) => {
          const item = document.createElement("li");
          item.textContent = c;
          return item;
        }));
        const text = codes.join("\n") + "\n";
        root.querySelector("#codes-copy").addEventListener("click", (e) => copy(text, e.currentTarget));
        root.querySelector("#codes-download").addEventListener("click", () => {
          download("offcoder-recovery-codes.txt", new Blob([text], { type: "text/plain" }));
        });
        setup.hidden = true;
        root.querySelector("#mfa-status").textContent = "On.";
        root.querySelector("#mfa-done").hidden = false;
        secret = "";
      } catch (failure) {
        if (failure.status === 400) {
          show(confirm.querySelector('[data-error-for="code"]'), "That code was not right. Enter the code the app shows now.");
          confirm.elements.code.setAttribute("aria-invalid", "true");
        } else if (failure.status === 422) {
          showErrors(confirm, failure);
        } else {
          show(error, sentence(failure));
        }
      }
    });
  });
}

// The archive is made by a worker (issue 18): ask for it, show its progress, then download it.
const EXPORT_POLL_MS = 1000;

function dataExport(root) {
  const button = root.querySelector("#export");
  if (!button) { return; }
  const progress = root.querySelector("#export-progress");
  const status = root.querySelector("#export-status");
  const report = (percent, text) => {
    progress.hidden = false;
    progress.value = percent;
    progress.textContent = `${percent}%`;
    status.textContent = text;
  };
  button.addEventListener("click", () => {
    const error = root.querySelector("#export-error");
    show(error, "");
    busy(button, async () => {
      try {
        let state = await api.post("/v1/me/exports");
        while (state.status === "queued" || state.status === "running") {
          report(state.percent, state.status === "queued"
            ? "Waiting for the archive to start…"
            : `Making the archive: ${state.percent}%`);
          await new Promise((done) => setTimeout(done, EXPORT_POLL_MS));
          state = await api.get(`/v1/me/exports/${state.id}`);
        }
        if (state.status !== "ready") {
          report(0, "");
          progress.hidden = true;
          show(error, state.error || "The archive could not be made. Try again.");
          return;
        }
        report(100, "Ready: downloading the archive. It is kept for a day.");
        const answer = await api.get(state.download, { raw: true });
        download("offcoder-export.zip", await answer.blob());
        status.textContent = "Downloaded. The archive is kept for a day, then deleted.";
      } catch (failure) {
        show(error, sentence(failure));
      }
    });
  });
}

// Typing the word: the button to erase stays off until it matches (the server checks again).
function confirmedBy(form, word) {
  if (!form) { return; }
  const input = form.elements.confirm;
  const button = form.querySelector("button[type=submit]");
  const check = () => { button.disabled = input.value.trim() !== word(); };
  input.addEventListener("input", check);
  check();
}

function account(root) {
  profile(root);
  identities(root);
  sessions(root);
  secondFactor(root);
  dataExport(root);
  confirmedBy(root.querySelector("#delete-form"), () => root.dataset.confirmWord);
}

// ------------------------------------------------------------------ a project's settings

function projectSettings(root) {
  const id = root.dataset.projectId;
  const rename = root.querySelector("#rename-form");
  rename.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(rename);
    const name = rename.elements.name.value;
    busy(rename.querySelector("button[type=submit]"), async () => {
      try {
        const project = await api.patch(`/v1/projects/${id}`, { name });
        root.dataset.projectName = project.name;
        root.querySelector("#project-name").textContent = project.name;
        for (const text of root.querySelectorAll("[data-confirm-text]")) { text.textContent = project.name; }
        document.title = `Settings of ${project.name} · OffCoder`;
        rename.elements.name.value = project.name;
        show(rename.querySelector("[data-form-ok]"), "Renamed.");
        root.querySelector("#delete-confirm").dispatchEvent(new Event("input"));
      } catch (error) {
        // The only field: a refusal without field details (the name's own rules) is about it.
        showErrors(rename, error, { 422: "name" });
      }
    });
  });

  const secrets = root.querySelector("#secrets");
  const secretsError = root.querySelector("#secrets-error");
  secrets.addEventListener("click", (event) => {
    const button = event.target.closest("[data-delete-secret]");
    if (!button) { return; }
    show(secretsError, "");
    const name = button.dataset.deleteSecret;
    busy(button, async () => {
      try {
        await api.delete(`/v1/projects/${id}/secrets/${encodeURIComponent(name)}`);
      } catch (failure) {
        if (failure.status !== 404) { show(secretsError, sentence(failure)); return; }
      }
      button.closest("li").remove();
      if (!secrets.querySelector("li")) {
        const empty = document.createElement("li");
        empty.className = "empty";
        empty.textContent = "No secrets.";
        secrets.append(empty);
      }
    });
  });

  confirmedBy(root.querySelector("#delete-form"), () => root.dataset.projectName);
}

const accountRoot = document.getElementById("account");
if (accountRoot) { account(accountRoot); }
const settingsRoot = document.getElementById("project-settings");
if (settingsRoot) { projectSettings(settingsRoot); }
