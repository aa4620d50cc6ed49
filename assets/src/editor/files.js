// The Files pane: a tree made from the listing (folders are the paths' parts), with create,
// rename (POST .../files:move), delete and upload, each followed by `files-changed`.
import { api, request } from "../lib/api.js";
import { emit } from "../lib/bus.js";
import { fileUrl } from "./editor.js";
import { reasonOf, bytesText } from "./problems.js";

const CHEVRON = '<svg class="chevron" viewBox="0 0 24 24" aria-hidden="true"><path d="m9 6 6 6-6 6"/></svg>';
const FOLDER_ICON = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 6a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"/></svg>';
const FILE_ICON = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M14 3H6a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V9z M14 3v6h6"/></svg>';

// The listing as nested folders: {folders: Map(name -> node), files: [{name, path, size}]}.
export function treeOf(items) {
  const root = { folders: new Map(), files: [] };
  for (const item of items) {
    const parts = item.path.split("/");
    let node = root;
    let prefix = "";
    for (const part of parts.slice(0, -1)) {
      prefix = prefix ? `${prefix}/${part}` : part;
      if (!node.folders.has(part)) { node.folders.set(part, { path: prefix, folders: new Map(), files: [] }); }
      node = node.folders.get(part);
    }
    node.files.push({ name: parts[parts.length - 1], path: item.path, size: item.size });
  }
  return root;
}

export class FilesPane {
  constructor(root, projectId, code) {
    this.root = root;
    this.projectId = projectId;
    this.code = code;
    this.list = root.querySelector("#files");
    this.message = root.querySelector(".files-message");
    this.dialog = root.querySelector("#files-dialog");
    this.upload = root.querySelector("#files-upload");
    this.maxFileBytes = Number(this.list.dataset.maxFileBytes) || Infinity;
    this.items = [];
    this.closed = new Set();  // folders folded by the person
    this.uploadInto = "";

    root.querySelector(".files-actions").hidden = false;
    root.querySelector(".files-noscript").hidden = true;
    root.querySelector("[data-files-action=new]").addEventListener("click", () => this.create(""));
    root.querySelector("[data-files-action=upload]").addEventListener("click", () => this.pick(""));
    this.upload.addEventListener("change", () => this.send([...this.upload.files]));
  }

  say(text, kind = "note") {
    clearTimeout(this.quiet);
    // A success says so for a moment; a refusal stays until the next action.
    if (kind === "ok") { this.quiet = setTimeout(() => this.say(""), 6000); }
    this.message.textContent = text;
    this.message.className = `files-message ${kind}`;
    this.message.hidden = !text;
  }

  async load() {
    const items = [];
    let cursor = null;
    do {
      const query = new URLSearchParams({ limit: "200" });
      if (cursor) { query.set("cursor", cursor); }
      const page = await api.get(`/v1/projects/${this.projectId}/files?${query}`);
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    this.items = items;
    this.render();
  }

  has(path) { return this.items.some((i) => i.path === path); }

  under(folder) { return this.items.filter((i) => i.path.startsWith(`${folder}/`)).map((i) => i.path); }

  render() {
    this.list.className = "tree";
    if (!this.items.length) {
      const li = document.createElement("li");
      li.className = "tree-empty";
      li.innerHTML = '<p class="note">No files yet. Create one, or upload from this device.</p>';
      const create = document.createElement("button");
      create.type = "button";
      create.className = "primary";
      create.textContent = "New file";
      create.addEventListener("click", () => this.create(""));
      li.append(create);
      this.list.replaceChildren(li);
      return;
    }
    this.list.replaceChildren(...this.nodes(treeOf(this.items), 0));
  }

  nodes(node, depth) {
    const out = [];
    const folders = [...node.folders.entries()].sort(([a], [b]) => a.localeCompare(b));
    for (const [name, folder] of folders) {
      const open = !this.closed.has(folder.path);
      const li = document.createElement("li");
      li.className = "tree-folder";
      const toggle = this.row(li, depth, `${CHEVRON}${FOLDER_ICON}<span></span>`, name, folder.path, true);
      toggle.setAttribute("aria-expanded", String(open));
      toggle.addEventListener("click", () => {
        if (open) { this.closed.add(folder.path); } else { this.closed.delete(folder.path); }
        this.render();
        this.list.querySelector(`[data-folder="${CSS.escape(folder.path)}"]`)?.focus();
      });
      if (open) {
        const ul = document.createElement("ul");
        ul.className = "tree-children";
        ul.append(...this.nodes(folder, depth + 1));
        li.append(ul);
      }
      out.push(li);
    }
    const files = [...node.files].sort((a, b) => a.name.localeCompare(b.name));
    for (const file of files) {
      const li = document.createElement("li");
      li.className = "tree-file";
      const button = this.row(li, depth, `${FILE_ICON}<span></span>`, file.name, file.path, false);
      if (file.path === this.code.path) { button.setAttribute("aria-current", "true"); }
      button.addEventListener("click", () => this.openFile(file.path));
      out.push(li);
    }
    return out;
  }

  row(li, depth, icon, name, path, folder) {
    const row = document.createElement("div");
    row.className = "tree-row";
    row.style.setProperty("--depth", String(depth));
    const main = document.createElement("button");
    main.type = "button";
    main.className = "tree-item";
    main.innerHTML = icon;
    main.querySelector("span").textContent = name;
    main.title = path;
    main.dataset[folder ? "folder" : "path"] = path;
    const more = document.createElement("button");
    more.type = "button";
    more.className = "tree-more";
    more.setAttribute("aria-label", `Actions for ${path}`);
    more.textContent = "⋯";
    more.addEventListener("click", () => this.actions(path, folder));
    row.append(main, more);
    li.append(row);
    return main;
  }

  async openFile(path) {
    try {
      await this.code.open(path);
      this.say("");
      this.render();
      emit("show-pane", { pane: "editor" });
      this.code.view.focus();
    } catch (error) {
      this.say(error.status ? reasonOf(error) : error.message, "error");
    }
  }

  // --- the dialog: a bottom sheet on a phone, a small window on a wide screen ---------------

  // Ask for a path (`field`), a choice among `choices`, or a yes (neither). Resolves with the
  // field's text, the choice's value, true, or null when cancelled. `check(value)` may return
  // a sentence that keeps the dialog open (or a promise of one: the action itself).
  ask({ title, text = "", field = null, value = "", ok = "OK", danger = false, choices = null, check = null }) {
    const d = this.dialog;
    d.querySelector("h2").textContent = title;
    const p = d.querySelector(".sheet-text");
    p.textContent = text;
    p.hidden = !text;
    const label = d.querySelector(".sheet-field");
    const input = label.querySelector("input");
    label.hidden = !field;
    label.querySelector("span").textContent = field || "";
    input.value = value;
    input.required = Boolean(field);
    const error = d.querySelector(".sheet-error");
    error.hidden = true;
    const okButton = d.querySelector(".sheet-ok");
    okButton.textContent = ok;
    okButton.hidden = Boolean(choices);
    okButton.className = danger ? "danger sheet-ok" : "primary sheet-ok";
    const box = d.querySelector(".sheet-choices");
    box.replaceChildren();
    return new Promise((resolve) => {
      let answer = null;
      const finish = (result) => { answer = result; d.close(); };
      for (const choice of choices || []) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = choice.label;
        if (choice.danger) { b.classList.add("danger-text"); }
        b.addEventListener("click", () => finish(choice.value));
        box.append(b);
      }
      const form = d.querySelector("form");
      const submit = async (event) => {
        event.preventDefault();
        const result = field ? input.value.trim() : true;
        if (check) {
          okButton.disabled = true;
          const problem = await check(result);
          okButton.disabled = false;
          if (problem) {
            error.textContent = problem;
            error.hidden = false;
            return;
          }
        }
        finish(result);
      };
      const cancel = () => finish(null);
      form.addEventListener("submit", submit);
      d.querySelector(".sheet-cancel").addEventListener("click", cancel);
      d.addEventListener("close", () => {
        form.removeEventListener("submit", submit);
        d.querySelector(".sheet-cancel").removeEventListener("click", cancel);
        resolve(answer);
      }, { once: true });
      d.showModal();
      if (field) {
        input.focus();
        // Select the name, not the folders before it nor the extension after it.
        const slash = value.lastIndexOf("/") + 1;
        const dot = value.lastIndexOf(".");
        input.setSelectionRange(slash, dot > slash ? dot : value.length);
      }
    });
  }

  async actions(path, folder) {
    const choices = folder
      ? [
        { label: "New file here", value: "new" },
        { label: "Upload here", value: "upload" },
        { label: "Rename folder", value: "rename" },
        { label: "Delete folder", value: "delete", danger: true },
      ]
      : [
        { label: "Open", value: "open" },
        { label: "Rename", value: "rename" },
        { label: "Delete", value: "delete", danger: true },
      ];
    const choice = await this.ask({ title: path, choices });
    if (choice === "open") { await this.openFile(path); }
    if (choice === "new") { await this.create(`${path}/`); }
    if (choice === "upload") { this.pick(path); }
    if (choice === "rename") { await this.rename(path, folder); }
    if (choice === "delete") { await this.remove(path, folder); }
  }

  // --- actions --------------------------------------------------------------------------------

  async create(folder) {
    const path = await this.ask({
      title: "New file",
      text: "A name with / in it makes folders too, like src/app.py.",
      field: "Name",
      value: folder,
      ok: "Create",
      check: async (value) => {
        if (!value || value.endsWith("/")) { return "Give the file a name."; }
        if (this.has(value)) { return `${value} already exists.`; }
        try {
          await request("PUT", fileUrl(this.projectId, value), {
            body: "", headers: { "Content-Type": "application/octet-stream" },
          });
        } catch (error) {
          return reasonOf(error, value);
        }
        return null;
      },
    });
    if (!path) { return; }
    this.changed(`Created ${path}.`);
    await this.load();
    await this.openFile(path);
  }

  async rename(path, folder) {
    const to = await this.ask({
      title: folder ? "Rename folder" : "Rename file",
      text: "Change the folders in the name to move it.",
      field: "New name",
      value: path,
      ok: "Rename",
      check: async (value) => {
        if (!value) { return "Give it a name."; }
        if (value === path) { return "That is its name already."; }
        // Unsaved text goes to the old name first, so the move carries it.
        if (!(await this.code.flush(path))) { return "Its unsaved text could not be saved first; try again."; }
        try {
          await api.post(`/v1/projects/${this.projectId}/files:move`, { from: path, to: value });
        } catch (error) {
          return reasonOf(error, value);
        }
        return null;
      },
    });
    if (!to) { return; }
    await this.code.moved(path, to);
    if (this.closed.delete(path)) { this.closed.add(to); }
    this.changed(`Renamed ${path} to ${to}.`);
  }

  async remove(path, folder) {
    const paths = folder ? this.under(path) : [path];
    const yes = await this.ask({
      title: folder ? `Delete ${path}?` : `Delete ${path}?`,
      text: folder
        ? `Its ${paths.length} file${paths.length === 1 ? "" : "s"} will be deleted. This cannot be undone.`
        : "This cannot be undone.",
      ok: "Delete",
      danger: true,
      check: async () => {
        for (const one of paths) {
          try {
            await api.delete(fileUrl(this.projectId, one));
          } catch (error) {
            if (error.status !== 404) {
              this.load();
              return `${one} was not deleted: ${reasonOf(error, one)}`;
            }
          }
        }
        return null;
      },
    });
    if (!yes) { return; }
    this.code.deleted(paths);
    this.changed(`Deleted ${path}.`);
  }

  pick(folder) {
    this.uploadInto = folder;
    this.upload.value = "";
    this.upload.click();
  }

  async send(chosen) {
    if (!chosen.length) { return; }
    const folder = this.uploadInto;
    const refused = [];
    let done = 0;
    const replacing = chosen.filter((f) => this.has(folder ? `${folder}/${f.name}` : f.name));
    if (replacing.length) {
      const names = replacing.map((f) => f.name).join(", ");
      const yes = await this.ask({
        title: "Replace files?",
        text: `${names} already exist${replacing.length === 1 ? "s" : ""} here and will be replaced.`,
        ok: "Replace",
        danger: true,
      });
      if (!yes) { return; }
    }
    for (const file of chosen) {
      const path = folder ? `${folder}/${file.name}` : file.name;
      if (file.size > this.maxFileBytes) {
        refused.push(`${file.name} is ${bytesText(file.size)}; one file may be at most ${bytesText(this.maxFileBytes)}.`);
        continue;
      }
      this.say(`Uploading ${file.name} (${done + refused.length + 1} of ${chosen.length})…`);
      try {
        await request("PUT", fileUrl(this.projectId, path), {
          body: file, headers: { "Content-Type": "application/octet-stream" },
        });
        done += 1;
      } catch (error) {
        refused.push(`${file.name} was not uploaded: ${reasonOf(error, file.name)}`);
      }
    }
    const summary = done ? `Uploaded ${done} file${done === 1 ? "" : "s"}.` : "";
    if (done) { emit("files-changed", {}); }
    this.say([summary, ...refused].filter(Boolean).join(" "), refused.length ? "error" : "ok");
  }

  changed(text) {
    this.say(text, "ok");
    emit("files-changed", {});
  }
}
