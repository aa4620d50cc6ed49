// The Code pane: open files as tabs, one CodeMirror view whose state is swapped per file, and
// autosave. A file's text is never dropped on a refused save: it stays in the editor and in
// localStorage (until a save succeeds), and "Not saved: <reason>" offers a retry.
import { request } from "../lib/api.js";
import { emit } from "../lib/bus.js";
import { undo, redo } from "@codemirror/commands";
import { openSearchPanel, closeSearchPanel, searchPanelOpen } from "@codemirror/search";
import { EditorState, createView, extensionsFor, languageFor, themeFor } from "./codemirror.js";
import { reasonOf } from "./problems.js";

const SAVE_DELAY_MS = 700;

export function fileUrl(projectId, path) {
  return `/v1/projects/${projectId}/files/${path.split("/").map(encodeURIComponent).join("/")}`;
}

export class CodePane {
  constructor(root, projectId) {
    this.root = root;
    this.projectId = projectId;
    this.tabs = root.querySelector(".editor-tabs");
    this.bar = root.querySelector(".editor-bar");
    this.state = root.querySelector(".save-state");
    this.retry = root.querySelector(".save-retry");
    this.host = root.querySelector(".editor-host");
    this.empty = root.querySelector(".editor-empty");
    this.files = new Map();   // path -> {state, saved, status, reason, timer, saving}
    this.order = [];          // open paths, as the tabs show them
    this.path = null;         // the one shown
    const { view, theme } = createView(this.host);
    this.view = view;
    this.theme = theme;

    this.retry.addEventListener("click", () => { if (this.path) { this.save(this.path); } });
    root.querySelector("[data-editor-action=undo]").addEventListener("click", () => this.run(undo));
    root.querySelector("[data-editor-action=redo]").addEventListener("click", () => this.run(redo));
    root.querySelector("[data-editor-action=search]").addEventListener("click", () => {
      // The search panel takes the focus itself (its field); closing it gives it back.
      if (searchPanelOpen(this.view.state)) { this.run(closeSearchPanel); } else { openSearchPanel(this.view); }
    });
    // Saves refused while offline go again when the connection is back.
    window.addEventListener("online", () => this.saveAllWaiting());
    // Closing the page with a save pending: try it now, and let the browser warn.
    window.addEventListener("beforeunload", (event) => {
      if ([...this.files.values()].some((f) => f.status !== "saved")) {
        this.saveAllWaiting();
        event.preventDefault();
      }
    });
    this.render();
  }

  // The open tabs, for this browser tab's next load (a phone's browser reloads pages it put
  // away): paths only, the texts are on the server or in the drafts.
  remember() {
    if (!this.restored) { return; }  // not before the last load's tabs are back
    try {
      sessionStorage.setItem(`offcoder:open:${this.projectId}`, JSON.stringify({ order: this.order, path: this.path }));
    } catch (_) { /* private mode */ }
  }

  async restore(exists) {
    let kept = null;
    try { kept = JSON.parse(sessionStorage.getItem(`offcoder:open:${this.projectId}`) || "null"); } catch (_) { /* none */ }
    if (!kept || !Array.isArray(kept.order)) { this.restored = true; return; }
    for (const path of kept.order.filter(exists)) {
      try { await this.open(path); } catch (_) { /* deleted meanwhile: its tab is not brought back */ }
    }
    this.restored = true;
    if (kept.path && this.files.has(kept.path)) { this.show(kept.path); } else { this.render(); }
  }

  draftKey(path) { return `offcoder:draft:${this.projectId}:${path}`; }

  keepDraft(path, text) {
    try { localStorage.setItem(this.draftKey(path), text); } catch (_) { /* full or private */ }
  }

  dropDraft(path) {
    try { localStorage.removeItem(this.draftKey(path)); } catch (_) { /* private mode */ }
  }

  readDraft(path) {
    try { return localStorage.getItem(this.draftKey(path)); } catch (_) { return null; }
  }

  run(command) {
    command(this.view);
    this.view.focus();
  }

  current() {
    if (!this.path) { return null; }
    return { path: this.path, content: this.text(this.path) };
  }

  text(path) {
    const file = this.files.get(path);
    if (!file) { return null; }
    return path === this.path ? this.view.state.doc.toString() : file.state.doc.toString();
  }

  async newState(path, doc, selection) {
    const language = await languageFor(path);
    return EditorState.create({
      doc,
      selection,
      extensions: extensionsFor(path, language, () => this.changed(path), this.theme),
    });
  }

  // Open `path` (reading it from the server the first time) and show it.
  async open(path) {
    if (!this.files.has(path)) {
      let answer;
      try {
        answer = await request("GET", fileUrl(this.projectId, path), { raw: true });
      } catch (error) {
        if (error.status !== 404) { throw error; }
        answer = null;  // not stored yet: a new file, saved by its first change
      }
      let saved = "";
      if (answer) {
        const bytes = await answer.arrayBuffer();
        try {
          saved = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
        } catch (_) {
          throw new Error(`${path} is not text, so it cannot be edited here.`);
        }
      }
      const draft = this.readDraft(path);
      const doc = draft !== null && draft !== saved ? draft : saved;
      const state = await this.newState(path, doc);
      if (this.files.has(path)) { return this.show(path); }  // opened meanwhile
      this.files.set(path, {
        state, saved, status: "saved", reason: "", timer: null, saving: null,
      });
      this.order.push(path);
      if (doc !== saved) {
        // A text not saved in an earlier visit: it comes back, and goes to the server.
        this.files.get(path).status = "waiting";
        this.schedule(path);
      } else if (draft !== null) {
        this.dropDraft(path);
      }
    }
    this.show(path);
  }

  show(path) {
    if (this.path && this.path !== path && this.files.has(this.path)) {
      this.files.get(this.path).state = this.view.state;
    }
    this.path = path;
    this.view.setState(this.files.get(path).state);
    // Each state was made with the theme of its time; the system's setting may have changed.
    this.view.dispatch({ effects: this.theme.reconfigure(themeFor()) });
    this.render();
    emit("file-opened", { path });
  }

  close(path) {
    const file = this.files.get(path);
    if (!file) { return; }
    const text = this.text(path);
    if (text !== file.saved && !window.confirm(`${path} is not saved yet. Close it anyway?`)) {
      return;
    }
    clearTimeout(file.timer);
    this.files.delete(path);
    const at = this.order.indexOf(path);
    this.order.splice(at, 1);
    if (this.path === path) {
      this.path = null;
      const next = this.order[Math.min(at, this.order.length - 1)];
      if (next) { this.show(next); return; }
    }
    this.render();
  }

  // The text of `path` was changed (typed, pasted, undone, applied).
  changed(path) {
    const file = this.files.get(path);
    if (!file) { return; }
    const text = this.text(path);
    this.keepDraft(path, text);
    if (file.status !== "error") { file.status = "waiting"; }
    this.schedule(path);
    this.render();
  }

  schedule(path, delay = SAVE_DELAY_MS) {
    const file = this.files.get(path);
    clearTimeout(file.timer);
    file.timer = setTimeout(() => this.save(path), delay);
  }

  saveAllWaiting() {
    for (const [path, file] of this.files) {
      if (file.status !== "saved") { this.save(path); }
    }
  }

  async save(path) {
    const file = this.files.get(path);
    if (!file) { return; }
    clearTimeout(file.timer);
    if (file.saving) {
      // One save of a file at a time; the latest text goes after the one in flight.
      file.again = true;
      return;
    }
    const text = this.text(path);
    file.status = "saving";
    this.render();
    file.saving = request("PUT", fileUrl(this.projectId, path), {
      body: text, headers: { "Content-Type": "application/octet-stream" },
    });
    try {
      const stored = await file.saving;
      file.saved = text;
      file.reason = "";
      if (this.text(path) === text) {
        file.status = "saved";
        this.dropDraft(path);
      } else {
        file.status = "waiting";
        file.again = true;
      }
      emit("file-saved", { path, sha256: stored.sha256 });
    } catch (error) {
      file.status = "error";
      file.reason = reasonOf(error);
      file.again = false;
      if (error.status === 429) { this.schedule(path, 5000); }
    } finally {
      file.saving = null;
    }
    if (this.files.get(path) !== file) { return; }  // closed meanwhile
    if (file.again) {
      file.again = false;
      this.save(path);
      return;
    }
    this.render();
  }

  // Replace the file's text as one undoable change (the assistant's accepted edit), and save.
  async apply(path, content) {
    await this.open(path);
    const { doc } = this.view.state;
    this.view.dispatch({
      changes: { from: 0, to: doc.length, insert: content },
      userEvent: "input.replace",
      scrollIntoView: true,
    });
    await this.save(path);
  }

  // After a rename elsewhere: the open files that moved take their new paths.
  async moved(from, to) {
    for (const old of [...this.order]) {
      let now = null;
      if (old === from) { now = to; } else if (old.startsWith(`${from}/`)) { now = to + old.slice(from.length); }
      if (!now) { continue; }
      const file = this.files.get(old);
      const state = old === this.path ? this.view.state : file.state;
      // A new state, since the language follows the name (the undo history starts again).
      file.state = await this.newState(now, state.doc.toString(), state.selection);
      this.files.delete(old);
      this.files.set(now, file);
      this.order[this.order.indexOf(old)] = now;
      const draft = this.readDraft(old);
      if (draft !== null) { this.keepDraft(now, draft); this.dropDraft(old); }
      if (this.path === old) { this.path = null; this.show(now); }
    }
    this.render();
  }

  // After a delete: its tabs close without asking (the person confirmed the delete).
  deleted(paths) {
    for (const path of paths) {
      const file = this.files.get(path);
      if (file) {
        file.saved = this.text(path);  // nothing to ask about: it is gone on purpose
        this.close(path);
      }
      this.dropDraft(path);
    }
  }

  // Unsaved text of `path` (or of anything under the folder `path`) goes to the server first.
  async flush(path) {
    const pending = [];
    for (const [open, file] of this.files) {
      if ((open === path || open.startsWith(`${path}/`)) && file.status !== "saved") {
        pending.push(this.save(open).then(() => file.saving));
      }
    }
    await Promise.all(pending);
    return [...this.files].every(([open, file]) =>
      !(open === path || open.startsWith(`${path}/`)) || file.status === "saved");
  }

  statusText(file) {
    if (file.status === "saved") { return "Saved"; }
    if (file.status === "error") { return `Not saved: ${file.reason}`; }
    return "Saving…";
  }

  render() {
    this.remember();
    const any = this.order.length > 0;
    this.tabs.hidden = !any;
    this.bar.hidden = !any;
    this.host.hidden = !any;
    this.empty.hidden = any;
    this.tabs.replaceChildren(...this.order.map((path) => this.tab(path)));
    const file = this.path ? this.files.get(this.path) : null;
    if (file) {
      const text = this.statusText(file);
      if (this.state.textContent !== text) { this.state.textContent = text; }
      this.state.dataset.status = file.status;
      this.retry.hidden = file.status !== "error";
    }
    const selected = this.tabs.querySelector("[aria-current=true]");
    if (selected) { selected.scrollIntoView({ block: "nearest", inline: "nearest" }); }
  }

  tab(path) {
    const file = this.files.get(path);
    const name = path.split("/").pop();
    const item = document.createElement("div");
    item.className = "editor-tab";
    const open = document.createElement("button");
    open.type = "button";
    open.className = "editor-tab-name";
    open.title = path;
    open.textContent = name;
    open.setAttribute("aria-label", `${path}${file.status === "saved" ? "" : ", not saved yet"}`);
    if (path === this.path) { open.setAttribute("aria-current", "true"); }
    if (file.status !== "saved") { open.classList.add(file.status === "error" ? "refused" : "unsaved"); }
    open.addEventListener("click", () => { if (path !== this.path) { this.show(path); } this.view.focus(); });
    const close = document.createElement("button");
    close.type = "button";
    close.className = "editor-tab-close";
    close.setAttribute("aria-label", `Close ${path}`);
    close.textContent = "×";
    close.addEventListener("click", () => this.close(path));
    item.append(open, close);
    return item;
  }
}
