// The assistant pane: a chat with the person's own AI key (POST /v1/ai/chat, streamed), their
// keys, "explain this error" after a failed job and "fix this file" for the editor's file.
// It talks to the other panes only through lib/bus.js: it hears offcoder:job-ended and
// offcoder:ask-ai, reads offcoder.editor.current(), and emits offcoder:apply-edit and
// offcoder:show-pane.
import { api } from "../lib/api.js";
import { emit, on, registry } from "../lib/bus.js";
import { lineDiff, renderDiff, summary } from "./diff.js";
import {
  blockedSentence, failureSentence, noKeySentence, problemSentence, providerName,
} from "./errors.js";
import { keysSection } from "./keys.js";
import { codeBlocks, renderAnswer } from "./render.js";
import { streamChat } from "./stream.js";

// A model each provider has, for a first choice; the person may type any other.
const DEFAULT_MODELS = {
  openai: "gpt-4o-mini",
  anthropic: "claude-3-5-haiku-latest",
  google: "gemini-2.0-flash",
  mistral: "mistral-small-latest",
  groq: "llama-3.1-8b-instant",
  openrouter: "openai/gpt-4o-mini",
  deepseek: "deepseek-chat",
  xai: "grok-2-latest",
};
const MODEL = /^[\w.:/@+-]+$/;  // what the API takes (ai/schemas.py ChatRequest.model)
const CHOICE_KEY = "offcoder:ai:choice";
const OPEN_KEY = "offcoder:ai:open";
// What goes to the provider: the API takes 200 000 characters in all; the conversation keeps
// under this by dropping its oldest turns, a file or a log is cut to fit in one message.
const MAX_CONVERSATION = 150_000;
const MAX_FILE = 100_000;
const LOG_TAIL_CHARS = 4_000;
const LOG_TAIL_LINES = 80;
const SYSTEM = "You are the coding assistant of OffCoder, a cloud coding service people often "
  + "use from a phone. Answer briefly and plainly. Put code in fenced code blocks (```).";

const FLAG_REASONS = [
  "It is harmful or dangerous",
  "It is offensive",
  "It is wrong or misleading",
  "Something else",
];

function store(key, value) {
  try { localStorage.setItem(key, value); } catch (_) { /* private mode: not remembered */ }
}
function stored(key) {
  try { return localStorage.getItem(key); } catch (_) { return null; }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) { node.className = className; }
  if (text !== undefined) { node.textContent = text; }
  return node;
}

function button(text, className, onClick) {
  const b = el("button", className, text);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

// The last lines of a log, at most LOG_TAIL_CHARS of them.
export function logTail(log) {
  const lines = String(log || "").replace(/\s+$/, "").split("\n");
  let tail = lines.slice(-LOG_TAIL_LINES).join("\n");
  if (tail.length > LOG_TAIL_CHARS) { tail = `…${tail.slice(-LOG_TAIL_CHARS)}`; }
  return tail;
}

function commandOf(job) {
  const command = job && job.command;
  return Array.isArray(command) ? command.join(" ") : String(command || "the command");
}

function endingOf(job) {
  if (job.detail) { return job.detail; }
  if (job.status === "timed_out") { return "it reached its time limit"; }
  if (job.exit_code !== null && job.exit_code !== undefined) { return `it exited with code ${job.exit_code}`; }
  return `it ended ${job.status}`;
}

// A job that went wrong by its own doing: worth explaining. A cancel was the person's choice.
function failed(job) {
  return Boolean(job) && ["failed", "timed_out"].includes(job.status);
}

function start(root) {
  const ide = document.getElementById("ide");
  const pane = root.closest(".pane") || root;
  const toggle = document.getElementById("ai-toggle");
  const keysToggle = root.querySelector("#ai-keys-toggle");
  const keysBox = root.querySelector("#ai-keys");
  const providerSelect = root.querySelector("#ai-provider");
  const modelInput = root.querySelector("#ai-model");
  const offers = root.querySelector("#ai-offers");
  const fixButton = root.querySelector("#ai-fix");
  const log = root.querySelector("#ai-log");
  const status = root.querySelector("#ai-status");
  const form = root.querySelector("#ai-ask");
  const prompt = root.querySelector("#ai-prompt");
  const send = root.querySelector("#ai-send");
  const stop = root.querySelector("#ai-stop");
  const newChat = root.querySelector("#ai-new");

  let history = [];   // finished turns: {role, content}, what the next question carries along
  let running = null; // the AbortController of the answer being written

  const say = (text) => { status.textContent = text; };

  // --- which provider and model: the last choice, kept in localStorage ---------------------
  const choose = (provider, model) => {
    if (DEFAULT_MODELS[provider]) { providerSelect.value = provider; }
    modelInput.value = model || DEFAULT_MODELS[providerSelect.value] || "";
  };
  try {
    const last = JSON.parse(stored(CHOICE_KEY) || "null");
    choose((last && last.provider) || "openai", last && last.model);
  } catch (_) {
    choose("openai");
  }
  let shownDefault = DEFAULT_MODELS[providerSelect.value];
  const remember = () => {
    store(CHOICE_KEY, JSON.stringify({ provider: providerSelect.value, model: modelInput.value.trim() }));
  };
  providerSelect.addEventListener("change", () => {
    // A model typed for another provider means nothing here; the default of the new one does.
    if (!modelInput.value.trim() || modelInput.value.trim() === shownDefault) {
      modelInput.value = DEFAULT_MODELS[providerSelect.value] || "";
    }
    shownDefault = DEFAULT_MODELS[providerSelect.value];
    remember();
  });
  modelInput.addEventListener("change", remember);

  // --- keys ------------------------------------------------------------------------------
  const keys = keysSection(root, { onChange: () => {} });
  const showKeys = (open) => {
    keysBox.hidden = !open;
    keysToggle.setAttribute("aria-expanded", String(open));
    if (open) { keys.load(); }
  };
  keysToggle.addEventListener("click", () => showKeys(keysBox.hidden));

  // --- the column on a wide screen, the tab on a phone --------------------------------------
  const wide = window.matchMedia("(min-width: 900px)");
  const tab = ide ? ide.querySelector('.ide-tabs [data-pane="ai"]') : null;
  const ways = [toggle, tab].filter(Boolean);
  const seen = () => { for (const way of ways) { way.classList.remove("has-offer"); } };
  if (tab) { tab.addEventListener("click", seen); }
  const setOpen = (open) => {
    if (!ide) { return; }
    ide.classList.toggle("with-ai", open);
    if (toggle) { toggle.setAttribute("aria-pressed", String(open)); }
    if (open) { seen(); }
    store(OPEN_KEY, open ? "1" : "0");
  };
  const isOpen = () => (wide.matches ? Boolean(ide && ide.classList.contains("with-ai")) : !pane.hidden);
  const reveal = () => {
    if (wide.matches) { setOpen(true); } else { emit("show-pane", { pane: "ai" }); seen(); }
  };
  if (toggle) {
    toggle.addEventListener("click", () => {
      const open = !ide.classList.contains("with-ai");
      setOpen(open);
      if (open) { prompt.focus(); }
    });
  }
  if (stored(OPEN_KEY) === "1") { setOpen(true); }
  keys.load();

  // --- one turn of the conversation ---------------------------------------------------------
  const nearBottom = () => pane.scrollHeight - pane.scrollTop - pane.clientHeight < 80;
  const follow = (was) => { if (was) { pane.scrollTop = pane.scrollHeight; } };

  const addTurn = (who, className) => {
    const li = el("li", `ai-turn ${className}`);
    li.append(el("p", "ai-who", who));
    log.append(li);
    newChat.hidden = false;
    return li;
  };

  const flagControls = (turn, outputId) => {
    const actions = el("div", "ai-turn-actions");
    const flag = button("Flag", "quiet", () => {
      flag.hidden = true;
      actions.append(flagForm());
      actions.querySelector("select").focus();
    });
    flag.setAttribute("aria-label", "Flag this answer");
    const flagForm = () => {
      const formEl = el("form", "ai-flag");
      const picked = el("label", "", "Why flag it?");
      const select = el("select");
      for (const reason of FLAG_REASONS) { select.append(new Option(reason, reason)); }
      picked.append(select);
      const typed = el("label", "", "In your words (optional)");
      const words = el("input");
      words.maxLength = 1500;
      typed.append(words);
      const note = el("p", "ai-status", "");
      note.setAttribute("role", "status");
      const submit = el("button", "primary", "Send flag");
      submit.type = "submit";
      const cancel = button("Cancel", "", () => { formEl.remove(); flag.hidden = false; flag.focus(); });
      const row = el("div", "ai-row");
      row.append(submit, cancel);
      formEl.append(picked, typed, row, note);
      formEl.addEventListener("submit", async (event) => {
        event.preventDefault();
        const extra = words.value.trim();
        if (select.value === "Something else" && !extra) {
          note.textContent = "Say in a few words what is wrong with this answer.";
          words.focus();
          return;
        }
        submit.disabled = true;
        try {
          await api.post(`/v1/ai/outputs/${encodeURIComponent(outputId)}/flag`, {
            reason: extra ? `${select.value}: ${extra}` : select.value,
          });
          const done = el("p", "ai-flagged", "Flagged for review. Thank you.");
          done.setAttribute("role", "status");
          formEl.replaceWith(done);
          flag.remove();
          turn.classList.add("flagged");
        } catch (error) {
          note.textContent = `The flag could not be sent: ${failureSentence(error, {})}`;
          submit.disabled = false;
        }
      });
      return formEl;
    };
    actions.append(flag);
    turn.append(actions);
  };

  // The conversation to send: the system line, the oldest turns dropped to fit, the question.
  const conversation = (question) => {
    const turns = [...history];
    const size = () => turns.reduce((n, m) => n + m.content.length, question.length + SYSTEM.length);
    while (turns.length && size() > MAX_CONVERSATION) { turns.splice(0, 2); }
    return [{ role: "system", content: SYSTEM }, ...turns, { role: "user", content: question }];
  };

  // Asks `question`; `label` is what the person's turn shows when the question is long (a
  // whole file, a log). Resolves with the finished answer's text, or null.
  const ask = async (question, { label } = {}) => {
    if (running) {
      say("Wait for this answer to finish, or stop it.");
      return null;
    }
    const provider = providerSelect.value;
    const model = modelInput.value.trim();
    const chat = { provider, model };
    if (!MODEL.test(model)) {
      say("Type the name of a model first, like gpt-4o-mini.");
      modelInput.focus();
      return null;
    }
    remember();
    const mine = addTurn("You", "ai-mine");
    const text = el("div", "ai-answer");
    renderAnswer(text, label || question);
    mine.append(text);
    const turn = addTurn(`Assistant · ${providerName(provider)} ${model}`, "ai-theirs");
    const answer = el("div", "ai-answer");
    const note = el("p", "ai-note", "Writing…");
    turn.setAttribute("aria-busy", "true");
    turn.append(answer, note);
    follow(true);

    const known = await keys.load();
    if (known && !known.some((k) => k.provider === provider)) {
      note.textContent = noKeySentence(provider);
      note.className = "ai-note error";
      turn.removeAttribute("aria-busy");
      keys.choose(provider);
      showKeys(true);
      say(note.textContent);
      return null;
    }

    const controller = new AbortController();
    running = controller;
    send.disabled = true;
    stop.hidden = false;
    say("The assistant is answering.");
    let shown = "";
    let outputId = null;
    let ending = "cut";
    try {
      ending = await streamChat({ provider, model, messages: conversation(question) }, {
        delta: ({ text: piece }) => {
          const was = nearBottom();
          shown += piece || "";
          renderAnswer(answer, shown);
          follow(was);
        },
        done: ({ output_id: id }) => { outputId = id; },
        blocked: ({ category }) => {
          // The reply is withdrawn: what was shown of it goes too (docs/api.md).
          shown = "";
          answer.replaceChildren();
          turn.classList.add("blocked");
          note.textContent = blockedSentence(category);
          note.className = "ai-note error";
        },
        error: (problem) => {
          note.textContent = problemSentence(problem.status || 500, problem, chat);
          note.className = "ai-note error";
        },
      }, controller.signal);
    } catch (error) {
      ending = error && error.name === "AbortError" ? "stopped" : "error";
      note.textContent = failureSentence(error, chat);
      note.className = ending === "stopped" ? "ai-note" : "ai-note error";
      const slug = String((error && error.problem && error.problem.type) || "").split("/").pop();
      if (["ai-key-rejected", "ai-key-unreadable"].includes(slug) || /key is stored/.test(note.textContent)) {
        keys.choose(provider);
        showKeys(true);
      }
    } finally {
      running = null;
      send.disabled = false;
      stop.hidden = true;
      turn.removeAttribute("aria-busy");
    }
    if (ending === "cut") {
      note.textContent = "The answer stopped before it was finished. Ask again.";
      note.className = "ai-note error";
    }
    if (ending !== "done" || !outputId) {
      say(note.textContent);
      return null;
    }
    note.remove();
    flagControls(turn, outputId);
    history.push({ role: "user", content: question }, { role: "assistant", content: shown });
    say("The answer is finished.");
    return { text: shown, turn };
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = prompt.value.trim();
    if (!question) { prompt.focus(); return; }
    prompt.value = "";
    const answered = await ask(question);
    if (!answered && !prompt.value) { prompt.value = question; }  // to edit and send again
  });
  prompt.addEventListener("keydown", (event) => {
    // Ctrl/Cmd+Enter sends; Enter alone is a new line (phones have no Ctrl).
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  stop.addEventListener("click", () => { if (running) { running.abort(); } });
  newChat.addEventListener("click", () => {
    if (running) { running.abort(); }
    history = [];
    log.replaceChildren();
    newChat.hidden = true;
    say("A new chat: the assistant has forgotten the earlier one.");
    prompt.focus();
  });

  // --- fix this file -----------------------------------------------------------------------
  const fix = async () => {
    reveal();
    const editor = registry().editor;
    const file = editor && typeof editor.current === "function" ? editor.current() : null;
    if (!file || typeof file.content !== "string") {
      say("Open a file first.");
      return;
    }
    const { path, content } = file;
    if (content.length > MAX_FILE) {
      say(`This file is too long for the assistant: it takes files of up to ${MAX_FILE} characters.`);
      return;
    }
    const question = `Here is my file ${path}:\n\n\`\`\`\n${content}\n\`\`\`\n\n`
      + "Fix what is wrong in it. Answer with a short explanation, then the whole corrected "
      + "file in ONE fenced code block (```), with nothing left out.";
    const answered = await ask(question, { label: `Fix this file: ${path}` });
    if (!answered) { return; }
    const blocks = codeBlocks(answered.text);
    const box = el("div", "ai-change");
    answered.turn.insertBefore(box, answered.turn.querySelector(".ai-turn-actions"));
    if (!blocks.length) {
      box.append(el("p", "ai-note", "The answer holds no whole file, so there is nothing to apply."));
      return;
    }
    // The longest block is the file; a short one is more likely a snippet quoted before it.
    const longest = blocks.reduce((a, b) => (b.text.length > a.text.length ? b : a));
    let proposed = longest.text;
    // The whole file is shown once, as the diff below, not twice.
    const shownFile = [...answered.turn.querySelectorAll(".ai-answer .ai-code code")]
      .find((code) => code.textContent === longest.text);
    if (shownFile) {
      shownFile.parentElement.replaceWith(el("p", "ai-note", "(The whole file: see the change below.)"));
    }
    if (content.endsWith("\n") && !proposed.endsWith("\n")) { proposed += "\n"; }
    const ops = lineDiff(content, proposed);
    const title = el("p", "ai-change-title");
    title.append("Proposed change to ", el("code", "", path), `: ${summary(ops)}`);
    const accept = button("Accept", "primary", () => {
      const now = registry().editor && registry().editor.current ? registry().editor.current() : null;
      if (now && now.path === path && now.content !== content) {
        decided.textContent = "The file changed since you asked, so this change was not applied. Ask again.";
        return;
      }
      emit("apply-edit", { path, content: proposed });
      decided.textContent = `Accepted: the change was sent to the editor for ${path}.`;
      row.remove();
    });
    const reject = button("Reject", "", () => {
      decided.textContent = "Rejected: the file was left as it is.";
      row.remove();
    });
    const row = el("div", "ai-row");
    row.append(accept, reject);
    const decided = el("p", "ai-status");
    decided.setAttribute("role", "status");
    box.append(title, renderDiff(ops), row, decided);
    title.scrollIntoView({ block: "start" });
  };
  fixButton.addEventListener("click", fix);

  // --- explain this error ------------------------------------------------------------------
  let offer = null;
  const explain = async (job, text) => {
    reveal();
    const command = commandOf(job);
    const question = `I ran \`${command}\` and it failed: ${endingOf(job)}.\n\n`
      + `The end of its output:\n\n\`\`\`\n${logTail(text)}\n\`\`\`\n\n`
      + "Explain what went wrong and how to fix it.";
    await ask(question, { label: `Explain this error: ${command}` });
  };
  on("job-ended", ({ job, log: text }) => {
    if (offer) { offer.remove(); offer = null; }
    if (!failed(job)) { return; }
    offer = el("div", "ai-offer card");
    const what = el("p", "");
    what.append(el("code", "", commandOf(job)), ` failed: ${endingOf(job)}.`);
    const go = button("Explain this error", "primary", () => {
      offer.remove();
      offer = null;
      explain(job, text);
    });
    offer.append(what, go);
    offers.prepend(offer);
    // Seen from another pane: a mark on the way here (the header's button, or the phone's tab).
    if (!isOpen()) { for (const way of ways) { way.classList.add("has-offer"); } }
  });

  // Another pane's request: {action: "explain" | "fix", path, text}.
  on("ask-ai", ({ action, text }) => {
    if (action === "fix") { fix(); return; }
    reveal();
    if (action === "explain" && text) {
      ask(`Explain this error and how to fix it:\n\n\`\`\`\n${logTail(text)}\n\`\`\``, { label: "Explain this error" });
    } else if (text) {
      prompt.value = text;
      prompt.focus();
    }
  });
}

const root = document.getElementById("ai");
if (root) { start(root); }
