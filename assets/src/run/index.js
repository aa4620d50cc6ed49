// The Run pane (templates/ide/run.html): the project's run line, remembered on the project
// (PATCH /v1/projects/{id} run_command), run exactly as shown (command.js), with the network
// mode chosen here; Run, Stop (POST /v1/jobs/{id}/cancel) and Run again in one button; the
// output of the latest job (output.js) and the job history. Emits `job-started` {job} and
// `job-ended` {job, log} on the bus. Without this script the form posts to the console.
import { api } from "../lib/api.js";
import { emit } from "../lib/bus.js";
import { OutputView } from "./output.js";
import { imageFor, isEnded, jobCommand, jobWords, shownCommand } from "./command.js";

const pane = document.querySelector(".run-pane");
const ide = document.getElementById("ide");

if (pane && ide) {
  const projectId = ide.dataset.projectId;
  const form = pane.querySelector("#run-form");
  const line = pane.querySelector("#run-line");
  const button = pane.querySelector("#run");
  const exact = pane.querySelector("#run-argv");
  const network = pane.querySelector("#run-network");
  const port = pane.querySelector("#run-port");
  const portLabel = pane.querySelector("#run-port-label");
  const failure = pane.querySelector("#run-error");
  const history = pane.querySelector("#jobs");
  const KEY = `offcoder:run-network:${projectId}`;
  let saved = line.value;   // what the project holds (or the default proposed)
  let job = null;           // the job the button and the output are about
  let busy = false;
  let stopping = "";        // the job whose cancel was asked, until it has ended
  let listed = "";          // the job and status the history was last read for

  const view = new OutputView(pane.querySelector("#output"), {
    onChanged: (changed) => {
      job = changed;
      mode();
      if (`${changed.id}:${changed.status}` !== listed) { listJobs(); }  // its state in the list
    },
    onEnded: (ended, text) => {
      emit("job-ended", { job: ended, log: text });
    },
    onPreviewWanted: async (wantedPort, current) => {
      network.value = "preview";
      port.value = String(wantedPort);
      remember();
      shown();
      if (current && !isEnded(current.status)) { await stop(current); }
      await run();
    },
  });

  // The network choice is the person's, per project, in this browser.
  try {
    const kept = JSON.parse(localStorage.getItem(KEY) || "null");
    if (kept && ["none", "egress", "preview"].includes(kept.network)) {
      network.value = kept.network;
      if (kept.port) { port.value = String(kept.port); }
    }
  } catch (_) { /* private mode, or nothing kept */ }

  function remember() {
    try {
      localStorage.setItem(KEY, JSON.stringify({ network: network.value, port: Number(port.value) }));
    } catch (_) { /* private mode */ }
  }

  // What will run, shown before it does.
  function shown() {
    const text = line.value.trim();
    const command = text ? jobCommand(text) : [];
    exact.textContent = text ? shownCommand(command) : "…";
    portLabel.hidden = network.value !== "preview";
    const image = text ? imageFor(command) : "python";
    exact.title = `in the ${image} image`;
  }

  // The button: Run, Stop while the job is on its way or running, Run again after.
  function mode() {
    const running = Boolean(job && !isEnded(job.status));
    const halting = running && stopping === job.id;
    const next = halting ? "stopping" : running ? "stop" : job ? "again" : "run";
    button.dataset.mode = next;
    button.textContent = { run: "Run", stop: "Stop", stopping: "Stopping…", again: "Run again" }[next];
    button.classList.toggle("danger", running);
    // Ended, its last output still on its way: "Run again" waits for it (and job-ended).
    const settling = Boolean(job && isEnded(job.status) && view.jobId === job.id && !view.done);
    button.disabled = busy || halting || settling;
  }

  function fail(error) {
    const lines = error.fieldErrors && error.fieldErrors.length ? error.fieldErrors : [error.message];
    failure.textContent = lines.join(" ");
    failure.hidden = false;
  }

  async function run() {
    const text = line.value.trim();
    failure.hidden = true;
    if (!text) {
      fail(new Error("Give a command to run."));
      line.focus();
      return;
    }
    busy = true;
    mode();
    try {
      if (text !== saved) {
        await api.patch(`/v1/projects/${projectId}`, { run_command: text });
        saved = text;
      }
      const command = jobCommand(text);
      const body = { command, image: imageFor(command), network: network.value };
      if (network.value === "preview") { body.ports = [Number(port.value)]; }
      const accepted = await api.post(`/v1/projects/${projectId}/jobs`, body);
      const started = await api.get(`/v1/jobs/${accepted.id}`);
      job = started;
      view.show(started, { fresh: true });
      emit("job-started", { job: started });
    } catch (error) {
      fail(error);
    } finally {
      busy = false;
      mode();
    }
  }

  // The cancel is asked; the job's own status says when it has stopped (the output view).
  async function stop(current) {
    busy = true;
    mode();
    try {
      await api.post(`/v1/jobs/${current.id}/cancel`);
      stopping = current.id;
    } catch (error) {
      if (error.status !== 409) { fail(error); }  // 409: it had ended already
    } finally {
      busy = false;
      mode();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (busy) { return; }
    if (button.dataset.mode === "stop" && job) { stop(job); } else { run(); }
  });
  line.addEventListener("input", shown);
  network.addEventListener("change", () => { remember(); shown(); });
  port.addEventListener("change", remember);

  // The latest jobs, each a link to its page, the state in words.
  async function listJobs() {
    listed = job ? `${job.id}:${job.status}` : "";
    try {
      const listed = await api.get(`/v1/projects/${projectId}/jobs?limit=20`);
      const items = listed.items.map((j) => {
        const li = document.createElement("li");
        const link = document.createElement("a");
        link.href = `/console/jobs/${j.id}`;
        const code = document.createElement("code");
        code.textContent = shownCommand(j.command);
        const state = document.createElement("span");
        state.className = "status";
        state.dataset.status = j.status;
        state.textContent = jobWords(j.status, j.reason, j.detail)[0];
        const when = document.createElement("time");
        when.dateTime = j.created_at;
        when.textContent = new Date(j.created_at).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
        link.append(code, " ", state, " ", when);
        li.append(link);
        return li;
      });
      if (!items.length) {
        const empty = document.createElement("li");
        empty.className = "empty";
        empty.textContent = "No jobs yet.";
        items.push(empty);
      }
      history.replaceChildren(...items);
    } catch (_) { /* the list rendered with the page stays */ }
  }

  // Open on the latest job's output, live if it still runs.
  const latest = pane.querySelector("#output").dataset.jobId;
  shown();
  mode();
  if (latest) {
    api.get(`/v1/jobs/${latest}`).then((found) => { job = found; view.show(found); mode(); })
      .catch(() => { /* gone: the pane stays as rendered */ });
  }
}
