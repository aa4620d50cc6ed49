// One job's output, for the Run pane and the job page (templates/ide/output.html).
//
// Live over Socket.IO with the session cookie (docs/api.md "Live logs"): a tail subscription
// first, several chunks to a packet, earlier output paged in above when the log is scrolled to
// its top, and a resumption after the last seq shown when the connection comes back. ANSI
// colours through ansi_up (HTML-escaped; stderr red), the view follows the end unless the reader
// scrolled up ("Jump to latest"), search, download of the whole log (REST pages), times on
// demand (each chunk's `at`), and the ending in words with what the job used. The job's state
// never waits for a reload: besides the live status, a long poll of GET /v1/jobs/{id} watches it.
import { io } from "socket.io-client";
import { AnsiUp } from "ansi_up";
import { api, csrfToken } from "../lib/api.js";
import {
  PREVIEW_PORTS, SHARE_WORDS, duration, isEnded, jobWords, servesHttp, shownCommand, usageLine,
} from "./command.js";

const TAIL = 100;        // chunks shown first: at least a screen, whatever their size
const EARLIER = 200;     // chunks per page scrolled back in
const NEAR_TOP_PX = 400;
const WAIT_S = 25;       // the long poll's hold

// ------------------------------------------------------------------ the page's one connection

let socket = null;
const views = new Set();

function liveSocket() {
  if (socket) { return socket; }
  socket = io({ transports: ["websocket"], withCredentials: true });
  let renewals = 0;
  socket.on("connect", () => {
    renewals = 0;
    for (const view of views) { view.subscribe(); }
  });
  socket.on("connect_error", async () => {
    for (const view of views) { view.note("Reconnecting…"); }
    if (socket.active) { return; }  // a network error: the client retries by itself
    // Refused (an expired access cookie): renew the session once, then connect again.
    if (renewals++ > 2) {
      for (const view of views) { view.note("The live output is not available; reload the page."); }
      return;
    }
    const renewed = await fetch("/console/session/refresh", {
      method: "POST", credentials: "same-origin", headers: { "X-OffCoder-CSRF": csrfToken() },
    }).catch(() => null);
    if (renewed && renewed.status === 204) {
      socket.connect();
    } else if (renewed && renewed.status === 401) {
      window.location.assign("/console");
    }
  });
  socket.on("job:logs", (packet) => {
    for (const view of views) { if (view.jobId === packet.job_id) { view.append(packet.chunks); } }
  });
  socket.on("job:status", (s) => {
    for (const view of views) { if (view.jobId === s.job_id) { view.status(s); } }
  });
  socket.on("job:behind", (b) => {
    for (const view of views) { if (view.jobId === b.job_id) { view.subscribe(); } }
  });
  return socket;
}

// ------------------------------------------------------------------ ANSI to safe nodes

// ansi_up escapes the text; its inline styles (bold, 256 and true colours) would be refused by
// the page's CSP (style-src 'self'), so they are moved to classes and the CSSOM here.
const STYLE_CLASSES = {
  "font-weight:bold": "ansi-bold", "opacity:0.7": "ansi-faint",
  "font-style:italic": "ansi-italic", "text-decoration:underline": "ansi-underline",
};
const RGB = /^(color|background-color):rgb\((\d{1,3}),(\d{1,3}),(\d{1,3})\)$/;

function styled(html) {
  const template = document.createElement("template");
  template.innerHTML = html.replace(/ style="([^"]*)"/g, ' data-ansi-style="$1"');
  for (const el of template.content.querySelectorAll("[data-ansi-style]")) {
    for (const rule of el.dataset.ansiStyle.split(";")) {
      const rgb = RGB.exec(rule);
      if (STYLE_CLASSES[rule]) { el.classList.add(STYLE_CLASSES[rule]); }
      if (rgb) { el.style.setProperty(rgb[1], `rgb(${rgb[2]},${rgb[3]},${rgb[4]})`); }
    }
    delete el.dataset.ansiStyle;
  }
  for (const link of template.content.querySelectorAll("a")) {
    link.target = "_blank";
    link.rel = "noopener noreferrer";
  }
  return template.content;
}

function converter() {
  const ansi = new AnsiUp();
  ansi.use_classes = true;  // the 16 colours as classes (run.css), themed for light and dark
  ansi.escape_html = true;
  return ansi;
}

const escapeAttr = (text) => text.replace(/[&"<>]/g, (c) => ({ "&": "&amp;", '"': "&quot;", "<": "&lt;", ">": "&gt;" })[c]);

function clock(at) {
  if (!at) { return ""; }
  const when = new Date(at);
  return Number.isNaN(when.getTime()) ? "" : when.toLocaleTimeString([], { hour12: false });
}

// ------------------------------------------------------------------ the view

export class OutputView {
  // root: the .output element; options: onStarted(job), onEnded(job, text),
  // onPreviewWanted(port) (the hint's "Run again with preview").
  constructor(root, options = {}) {
    this.root = root;
    this.options = options;
    this.$ = (id) => root.querySelector(`#${id}`);
    this.log = this.$("job-log");
    this.log.hidden = false;  // hidden for a browser without scripts, which sees the page's tail
    this.jobId = "";
    this.job = null;
    this.shares = null;
    views.add(this);
    this.wire();
    liveSocket();  // connecting while the job is read
  }

  wire() {
    const { log } = this;
    log.addEventListener("scroll", () => {
      this.follow = this.atBottom();
      this.$("log-jump").hidden = this.follow;
      this.pageBack();
    }, { passive: true });
    // A pane shown again (a phone's tabs) or resized keeps following the end.
    new ResizeObserver(() => {
      if (this.follow) { this.toEnd(); } else { this.pageBack(); }
    }).observe(log);
    this.$("log-jump").addEventListener("click", () => {
      this.follow = true;
      this.toEnd();
      this.$("log-jump").hidden = true;
    });
    this.$("log-times").addEventListener("click", (event) => {
      const on = event.currentTarget.getAttribute("aria-pressed") !== "true";
      event.currentTarget.setAttribute("aria-pressed", String(on));
      log.classList.toggle("with-times", on);
    });
    this.$("log-download").addEventListener("click", () => this.download());
    const bar = this.$("log-search");
    const toggle = this.$("log-search-toggle");
    const field = this.$("log-search-text");
    toggle.addEventListener("click", () => {
      bar.hidden = !bar.hidden;
      toggle.setAttribute("aria-expanded", String(!bar.hidden));
      if (!bar.hidden) { field.focus(); } else { this.clearSearch(); }
    });
    field.addEventListener("input", () => this.search(field.value, 0, true));
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); this.step(event.shiftKey ? -1 : 1); }
      if (event.key === "Escape") { toggle.click(); toggle.focus(); }
    });
    this.$("log-search-prev").addEventListener("click", () => this.step(-1));
    this.$("log-search-next").addEventListener("click", () => this.step(1));
  }

  // Start showing a job (the API's job object); `fresh`: just started here.
  show(job, { fresh = false } = {}) {
    const previous = this.jobId;
    if (previous && previous !== job.id && socket && socket.connected) {
      socket.emit("job:unsubscribe", { job_id: previous });
    }
    this.jobId = job.id;
    this.root.dataset.jobId = job.id;
    this.root.querySelector(".job-line").hidden = false;
    this.log.dataset.empty = "No output yet.";
    this.firstSeq = 0;       // the first seq shown (0: none yet); seqs start at 1
    this.lastSeq = 0;
    this.hasEarlier = false;
    this.paging = false;
    this.ended = false;
    this.finishing = null;
    this.done = false;
    this.follow = true;
    this.sawRunning = fresh || !isEnded(job.status);
    this.atLineStart = true;
    this.ansi = { stdout: converter(), stderr: converter() };
    this.hinted = false;
    this.log.replaceChildren();
    this.log.classList.remove("purged");
    this.$("log-jump").hidden = true;
    this.$("job-hint").hidden = true;
    for (const id of ["log-search-toggle", "log-times", "log-download"]) { this.$(id).hidden = false; }
    this.clearSearch();
    this.render(job);
    this.note(isEnded(job.status) ? "" : "Connecting to the live output…");
    if (liveSocket().connected) { this.subscribe(); }
    if (this.polling) { this.polling.abort(); }
    this.polling = new AbortController();
    this.watch(job.id, this.polling.signal);
  }

  note(text) { this.$("log-note").textContent = text; }

  subscribe() {
    if (!this.jobId || this.ended) { return; }  // nothing more will come
    const jobId = this.jobId;
    const request = this.lastSeq > 0
      ? { job_id: jobId, after_seq: this.lastSeq, batch: true }
      : { job_id: jobId, tail: TAIL, batch: true };
    socket.emit("job:subscribe", request, (answer) => {
      if (jobId !== this.jobId) { return; }
      if (answer && answer.ok) {
        this.note("");
      } else if (answer && answer.error === "log_purged") {
        this.purged();
      } else {
        this.note("The live output is not available; the job's state still updates.");
      }
    });
  }

  purged() {
    const when = this.job && this.job.log_purged_at ? new Date(this.job.log_purged_at).toLocaleDateString() : "";
    this.note(`This job's output was deleted${when ? ` on ${when}` : ""}, after the time this server keeps logs; its ending and usage are kept.`);
    this.log.classList.add("purged");
    this.ended = true;
  }

  atBottom() {
    const { log } = this;
    return log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  }

  toEnd() {
    if (this.atBottom()) { return; }
    this.log.scrollTop = this.log.scrollHeight;
  }

  // Chunks as one fragment: a span per chunk with its stream and, at a line's start, its time.
  fragment(chunks, ansi, startsLine) {
    let atStart = startsLine;
    const html = chunks.map((chunk) => {
      const time = atStart ? clock(chunk.at) : "";
      atStart = chunk.data.endsWith("\n");
      const converted = ansi[chunk.stream === "stderr" ? "stderr" : "stdout"].ansi_to_html(chunk.data);
      const stamp = time ? ` data-time="${escapeAttr(time)}"` : "";
      return `<span class="chunk ${chunk.stream === "stderr" ? "stderr" : "stdout"}"${stamp}>${converted}</span>`;
    }).join("");
    return { nodes: styled(html), endsLine: atStart };
  }

  append(chunks) {
    const fresh = chunks.filter((c) => c.seq > this.lastSeq);
    if (!fresh.length) { return; }
    const { nodes, endsLine } = this.fragment(fresh, this.ansi, this.atLineStart);
    this.atLineStart = endsLine;
    this.log.appendChild(nodes);
    if (this.firstSeq === 0) { this.firstSeq = fresh[0].seq; this.hasEarlier = this.firstSeq > 1; }
    this.lastSeq = fresh[fresh.length - 1].seq;
    if (this.follow) { this.toEnd(); } else { this.$("log-jump").hidden = false; }
    this.lookForServer(fresh.map((c) => c.data).join(""));
    if (this.query) { this.search(this.query, this.current); }
    this.pageBack();
  }

  // Earlier output goes in above what is on screen, which stays where it was.
  prepend(chunks) {
    const earlier = chunks.filter((c) => c.seq < this.firstSeq);
    if (!earlier.length) { return; }
    const { log } = this;
    const height = log.scrollHeight;
    // A page of its own colour state: what was set before it is not known here.
    const { nodes } = this.fragment(earlier, { stdout: converter(), stderr: converter() }, true);
    log.insertBefore(nodes, log.firstChild);
    log.scrollTop += log.scrollHeight - height;
    this.firstSeq = earlier[0].seq;
  }

  pageBack() {
    const { log } = this;
    if (this.paging || !this.hasEarlier || !log.clientHeight || log.scrollTop > NEAR_TOP_PX) { return; }
    if (!socket || !socket.connected) { return; }
    this.paging = true;
    const jobId = this.jobId;
    socket.emit("job:earlier", { job_id: jobId, before_seq: this.firstSeq, limit: EARLIER }, (answer) => {
      if (jobId !== this.jobId) { return; }
      this.paging = false;
      if (!answer || !answer.ok) { return; }
      this.prepend(answer.chunks);
      this.hasEarlier = answer.has_earlier;
      this.pageBack();  // still near the top (a short page): the next one
    });
  }

  // A live status: the word at once; the ending (and what the job used) once it has ended.
  status(s) {
    if (!this.job || s.job_id !== this.jobId) { return; }
    const job = { ...this.job, status: s.status, exit_code: s.exit_code ?? this.job.exit_code };
    if ("reason" in s) { job.reason = s.reason; job.detail = s.detail; }
    if (s.status === "running" && this.job.status !== "running") {
      this.refresh();  // its start time and preview address
    }
    this.render(job);
    if (isEnded(s.status)) { this.finish(); }
  }

  async refresh() {
    const jobId = this.jobId;
    try {
      const job = await api.get(`/v1/jobs/${jobId}`);
      if (jobId === this.jobId) { this.render(job); }
      return job;
    } catch (_) {
      return null;
    }
  }

  // The long poll: the state changes even when the live connection is down.
  async watch(jobId, signal) {
    let seen = this.job.status;
    while (jobId === this.jobId && !isEnded(seen)) {
      let job = null;
      try {
        job = await api.get(`/v1/jobs/${jobId}?wait_s=${WAIT_S}&seen_status=${seen}`, { signal });
      } catch (error) {
        if (signal.aborted) { return; }
        await new Promise((resolve) => { setTimeout(resolve, error.status === 429 ? 5000 : 2000); });
        continue;
      }
      if (jobId !== this.jobId) { return; }
      if (job.status !== seen) {
        seen = job.status;
        this.render({ ...job });
      }
    }
    if (jobId === this.jobId) { this.finish(); }
  }

  // Once, when the job has ended: the rest of its output (if the live connection missed any),
  // its ending and usage, and the `job-ended` event with the text shown.
  finish() {
    if (this.finishing) { return this.finishing; }
    const jobId = this.jobId;
    this.finishing = (async () => {
      let job = await this.refresh();
      if (jobId !== this.jobId) { return; }
      if (job && !isEnded(job.status)) { this.finishing = null; return; }  // not yet
      this.ended = true;
      if (job && job.log_purged_at) { this.purged(); }
      try {
        for (let guard = 0; guard < 10_000 && job && !job.log_purged_at; guard++) {
          const page = await api.get(`/v1/jobs/${jobId}/logs?after_seq=${this.lastSeq}`);
          if (jobId !== this.jobId) { return; }
          this.append(page.chunks);
          if (page.done || !page.chunks.length) { break; }
        }
      } catch (_) { /* what was shown stays; the download reads the whole log again */ }
      if (jobId !== this.jobId) { return; }
      job = job || this.job;
      this.done = true;  // all of it is shown: the pane may offer to run again
      this.render(job);
      this.note("");
      if (this.sawRunning && this.options.onEnded) { this.options.onEnded(job, this.text()); }
    })();
    return this.finishing;
  }

  text() { return this.log.textContent; }

  render(job) {
    this.job = job;
    const [word, sentence] = jobWords(job.status, job.reason, job.detail);
    const state = this.$("job-status");
    state.textContent = word;
    state.dataset.status = job.status;
    state.dataset.reason = job.reason || "";
    this.$("job-exit-code").textContent = job.exit_code !== null && job.exit_code !== undefined ? `exit ${job.exit_code}` : "";
    this.$("job-detail").textContent = sentence;
    this.$("job-reason").textContent = job.reason || "";
    this.$("job-usage").textContent = isEnded(job.status) ? usageLine(job) : "";
    this.$("job-ending").hidden = !isEnded(job.status);
    this.tick();
    this.renderPreview(job);
    if (this.options.onChanged) { this.options.onChanged(job); }
  }

  // The running clock: time since the job started, until it ends.
  tick() {
    clearTimeout(this.ticker);
    const job = this.job;
    const el = this.$("job-clock");
    if (!job || isEnded(job.status) || !job.started_at) {
      el.textContent = job && isEnded(job.status) && job.usage ? duration(job.usage.wall_ms) : "";
      return;
    }
    // Whole seconds while it runs (the two clocks may differ by a little).
    const seconds = Math.max(0, Math.floor((Date.now() - new Date(job.started_at).getTime()) / 1000));
    el.textContent = duration(seconds * 1000 || 0).replace(/^0 ms$/, "0 s");
    this.ticker = setTimeout(() => this.tick(), 1000);
  }

  async renderPreview(job) {
    const el = this.$("job-preview");
    if (job.network !== "preview") { el.hidden = true; return; }
    const port = job.ports && job.ports[0];
    if (isEnded(job.status)) {
      el.hidden = false;
      el.replaceChildren(`The preview on port ${port} stopped with the job.`);
      return;
    }
    if (!job.preview_url) {
      el.hidden = false;
      el.replaceChildren(`A preview of port ${port} opens once the job runs.`);
      return;
    }
    if (this.shares === null) {
      this.shares = {};
      try {
        const listed = await api.get(`/v1/projects/${job.project_id}/previews`);
        for (const item of listed.items) { this.shares[item.port] = item.share; }
      } catch (_) { /* owner only is the default, said below */ }
    }
    if (job.id !== this.jobId || isEnded(this.job.status)) { return; }
    const link = document.createElement("a");
    link.href = job.preview_url;
    link.target = "_blank";
    link.rel = "noopener";
    link.className = "button preview-open";
    link.id = "job-preview-link";
    link.textContent = "Open preview ↗";
    const share = document.createElement("span");
    share.className = "preview-share";
    share.id = "job-preview-share";
    share.textContent = `Port ${port}. ${SHARE_WORDS[this.shares[port] || "owner"]}`;
    el.replaceChildren(link, " ", share);
    el.hidden = false;
  }

  // A program that says it serves HTTP without preview mode: offer to run it with preview.
  lookForServer(text) {
    if (this.hinted || !this.job) { return; }
    const found = servesHttp(text);
    if (!found) { return; }
    const job = this.job;
    if (job.network === "preview" && (job.ports || []).includes(found.port) && !found.local) { return; }
    this.hinted = true;
    const hint = this.$("job-hint");
    const parts = [];
    const said = document.createElement("p");
    if (!PREVIEW_PORTS.includes(found.port)) {
      said.textContent = `This program serves HTTP on port ${found.port}. A preview can show ports ${PREVIEW_PORTS.join(", ")}: make it listen on one of them.`;
      parts.push(said);
    } else if (found.local) {
      said.textContent = `This program serves HTTP on port ${found.port}, but on 127.0.0.1 (localhost) only, inside its sandbox. Make it listen on 0.0.0.0 for a preview to reach it.`;
      parts.push(said);
    } else {
      said.textContent = `This program serves HTTP on port ${found.port}. See it in a browser with a preview.`;
      parts.push(said);
      if (this.options.onPreviewWanted) {
        const again = document.createElement("button");
        again.type = "button";
        again.className = "primary";
        again.id = "job-hint-preview";
        again.textContent = `Run again with preview on port ${found.port}`;
        again.addEventListener("click", () => this.options.onPreviewWanted(found.port, job));
        parts.push(again);
      }
    }
    hint.replaceChildren(...parts);
    hint.hidden = false;
  }

  // The whole log as a file, read through the REST pages (what is on screen may be a tail).
  async download() {
    const button = this.$("log-download");
    const jobId = this.jobId;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    this.note("Downloading the whole log…");
    try {
      const parts = [];
      let after = 0;
      for (;;) {
        const page = await api.get(`/v1/jobs/${jobId}/logs?after_seq=${after}`);
        for (const chunk of page.chunks) { parts.push(chunk.data); }
        if (!page.chunks.length || page.done) { break; }
        after = page.chunks[page.chunks.length - 1].seq;
      }
      const url = URL.createObjectURL(new Blob(parts, { type: "text/plain;charset=utf-8" }));
      const link = document.createElement("a");
      link.href = url;
      link.download = `job-${jobId.slice(0, 8)}.log`;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      this.note(`The log could not be downloaded: ${error.message}`);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      if (this.$("log-note").textContent.startsWith("Downloading")) { this.note(""); }
    }
  }

  // Search within the output loaded (the download holds all of it): every match highlighted
  // (CSS Custom Highlights where the browser has them), the current one scrolled to.
  search(query, current, scroll = false) {
    this.query = query;
    this.matches = [];
    const count = this.$("log-search-count");
    if (!query) { this.paint(); count.textContent = ""; return; }
    const needle = query.toLowerCase();
    const walker = document.createTreeWalker(this.log, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node && this.matches.length < 5000; node = walker.nextNode()) {
      const hay = node.textContent.toLowerCase();
      for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + needle.length)) {
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + needle.length);
        this.matches.push(range);
      }
    }
    this.current = this.matches.length ? Math.min(current, this.matches.length - 1) : 0;
    count.textContent = this.matches.length
      ? `${this.current + 1} of ${this.matches.length}${this.hasEarlier ? " (in the output loaded)" : ""}`
      : "No match";
    this.paint(scroll);
  }

  step(by) {
    if (!this.matches || !this.matches.length) { return; }
    this.current = (this.current + by + this.matches.length) % this.matches.length;
    this.$("log-search-count").textContent = `${this.current + 1} of ${this.matches.length}`;
    this.paint(true);
  }

  paint(scroll = false) {
    const supported = typeof CSS !== "undefined" && CSS.highlights && typeof Highlight !== "undefined";
    if (supported) {
      CSS.highlights.set("log-match", new Highlight(...(this.matches || [])));
      const now = this.matches && this.matches[this.current];
      if (now) { CSS.highlights.set("log-match-now", new Highlight(now)); } else { CSS.highlights.delete("log-match-now"); }
    }
    const now = this.matches && this.matches[this.current];
    if (now && scroll) {
      const box = this.log.getBoundingClientRect();
      const at = now.getBoundingClientRect();
      if (at.top < box.top || at.bottom > box.bottom) {
        this.follow = false;
        this.log.scrollTop += at.top - box.top - box.height / 3;
        this.$("log-jump").hidden = false;
      }
    }
  }

  clearSearch() {
    this.query = "";
    this.matches = [];
    this.$("log-search-count").textContent = "";
    if (typeof CSS !== "undefined" && CSS.highlights) {
      CSS.highlights.delete("log-match");
      CSS.highlights.delete("log-match-now");
    }
  }
}

export { shownCommand };
