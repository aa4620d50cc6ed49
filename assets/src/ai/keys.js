// The person's AI keys in the assistant pane: GET /v1/ai/keys (provider and last four, never
// the key), PUT /v1/ai/keys/{provider} to add or replace, DELETE after a confirmation.
import { api } from "../lib/api.js";
import { providerName } from "./errors.js";

function button(text, className, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  if (className) { b.className = className; }
  b.addEventListener("click", onClick);
  return b;
}

export function keysSection(root, { onChange }) {
  const list = root.querySelector("#ai-key-list");
  const form = root.querySelector("#ai-key-form");
  const provider = root.querySelector("#ai-key-provider");
  const value = root.querySelector("#ai-key-value");
  const status = root.querySelector("#ai-key-status");
  let keys = [];
  let loaded = null;

  const say = (text, kind = "") => {
    status.textContent = text;
    status.className = `ai-status${kind ? ` ${kind}` : ""}`;
  };

  const render = () => {
    if (!keys.length) {
      const empty = document.createElement("li");
      empty.className = "ai-key-none";
      empty.textContent = "No keys yet. Add the key of the provider you use.";
      list.replaceChildren(empty);
      return;
    }
    list.replaceChildren(...keys.map((key) => {
      const li = document.createElement("li");
      li.className = "ai-key";
      li.dataset.provider = key.provider;
      const name = document.createElement("span");
      name.className = "ai-key-name";
      name.textContent = `${providerName(key.provider)} `;
      const last4 = document.createElement("code");
      last4.textContent = `…${key.last4}`;
      last4.title = "The last four characters of the key";
      name.append(last4);
      const actions = document.createElement("span");
      actions.className = "ai-key-actions";
      const replace = button("Replace", "quiet", () => {
        provider.value = key.provider;
        value.focus();
        say(`Paste your new ${providerName(key.provider)} key and save it.`);
      });
      replace.setAttribute("aria-label", `Replace the ${providerName(key.provider)} key`);
      const remove = button("Delete", "quiet", () => confirmDelete(li, key, actions));
      remove.setAttribute("aria-label", `Delete the ${providerName(key.provider)} key`);
      actions.append(replace, remove);
      li.append(name, actions);
      return li;
    }));
  };

  const confirmDelete = (li, key, actions) => {
    const who = providerName(key.provider);
    const ask = document.createElement("span");
    ask.className = "ai-key-confirm";
    const question = document.createElement("span");
    question.textContent = `Delete your ${who} key? `;
    const yes = button("Delete key", "danger", async () => {
      yes.disabled = true;
      try {
        await api.delete(`/v1/ai/keys/${encodeURIComponent(key.provider)}`);
        say(`Your ${who} key was deleted.`, "ok");
      } catch (error) {
        say(error.status === 404 ? `Your ${who} key was already deleted.`
          : `The ${who} key could not be deleted: ${error.message}`, error.status === 404 ? "ok" : "error");
      }
      await refresh();
    });
    const no = button("Cancel", "", () => { ask.replaceWith(actions); actions.querySelector("button").focus(); });
    ask.append(question, yes, no);
    actions.replaceWith(ask);
    no.focus();
  };

  // Resolves with the keys, or null when they could not be read (then the next load tries
  // again, and a chat goes ahead: the server says if the key is missing).
  const refresh = async () => {
    try {
      keys = (await api.get("/v1/ai/keys")).items || [];
    } catch (error) {
      loaded = null;
      say(`Your keys could not be loaded: ${error.message}`, "error");
      return null;
    }
    render();
    onChange(keys);
    return keys;
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = provider.value;
    const who = providerName(chosen);
    const had = keys.some((k) => k.provider === chosen);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const saved = await api.put(`/v1/ai/keys/${encodeURIComponent(chosen)}`, { api_key: value.value.trim() });
      value.value = "";
      say(`${had ? "Replaced" : "Saved"} your ${who} key ending in ${saved.last4}.`, "ok");
    } catch (error) {
      say(error.status === 422
        ? "That is not a key: a key is 8 to 512 characters, with no spaces."
        : `The key could not be saved: ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
    await refresh();
  });

  return {
    keys: () => keys,
    // Loaded once, when the pane is first shown (or a chat needs to know).
    load: () => {
      const pending = loaded || refresh();
      loaded = loaded || pending;
      return pending.then((found) => (found ? keys : null));
    },
    refresh,
    choose: (name) => { provider.value = name; },
  };
}
