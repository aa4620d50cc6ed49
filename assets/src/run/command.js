// What the Run button runs, and a job's state in words: the same rules as the server's
// (src/offcoder/console/run.py), so the page shows exactly what will run before it does.

// A word that means the same to a shell and to a split on spaces.
const PLAIN_WORD = /^[A-Za-z0-9_./:@%+,=-]+$/;

// Ports a preview may publish (jobs/schemas.PREVIEW_PORTS).
export const PREVIEW_PORTS = [3000, 4000, 5000, 5173, 8000, 8080, 8888];

// A line of plain words runs as those words (a missing program is then the engine's own
// "command not found"); anything a shell gives a meaning to runs as ["sh", "-c", line].
export function jobCommand(line) {
  const words = line.trim().split(/\s+/).filter(Boolean);
  const plain = words.length > 0 && words.every((w) => PLAIN_WORD.test(w)) && !words[0].includes("=");
  return plain ? words : ["sh", "-c", line.trim()];
}

// node's image for node, npm and npx (also behind sh -c), python's otherwise.
export function imageFor(command) {
  const shell = command.length === 3 && command[0] === "sh" && command[1] === "-c";
  const program = shell ? (command[2].trim().split(/\s+/)[0] || "") : command[0];
  return ["node", "npm", "npx"].includes(program) ? "node" : "python";
}

// `sh -c '<line>'` for a shell line, as typed (not re-quoted); its words otherwise.
export function shownCommand(command) {
  if (command.length === 3 && command[0] === "sh" && command[1] === "-c") {
    return `sh -c '${command[2]}'`;
  }
  return command.join(" ");
}

// The line proposed for a project without one, from its files.
export function defaultRunLine(paths) {
  const held = new Set(paths);
  if (held.has("main.py")) { return "python3 main.py"; }
  if (held.has("package.json")) { return "npm start"; }
  if (held.has("index.js")) { return "node index.js"; }
  if (held.has("app.py")) { return "python3 app.py"; }
  const scripts = [...held].filter((p) => p.endsWith(".py") && !p.includes("/")).sort();
  return scripts.length ? `python3 ${scripts[0]}` : "python3 main.py";
}

const RUNNING = { queued: "Waiting to start", starting: "Starting", running: "Running" };
const ENDED = {
  exit_code: "Failed",
  memory_limit: "Out of memory",
  command_not_found: "Command not found",
  command_not_executable: "Cannot run",
  output_limit: "Stopped",
  timed_out: "Timed out",
  cancelled: "Stopped",
};
// Endings that are OffCoder's doing, not the program's (and not charged).
const OURS = new Set(["sandbox_lost", "log_storage_failed", "worker_lost", "internal_error",
  "runtime_unavailable", "worker_stopped", "not_started"]);

export const isEnded = (status) => ["succeeded", "failed", "timed_out", "cancelled"].includes(status);

// [status in words, the ending as a sentence ("" while it runs)], by the reason code: a job
// stopped at its output cap reads "Stopped", never "failed, exit 0".
export function jobWords(status, reason, detail) {
  if (RUNNING[status]) { return [RUNNING[status], ""]; }
  if (status === "succeeded") { return ["Succeeded", "Finished: the program exited with code 0."]; }
  const code = status === "timed_out" ? "timed_out" : reason;
  const word = ENDED[code] || (OURS.has(code) ? "Interrupted" : "Failed");
  const said = (detail || "it ended without saying why").replace(/\.$/, "");
  let sentence = `${word}: ${said}.`;
  if (OURS.has(code)) {
    sentence += " This was OffCoder's doing, not your program's; it was not charged.";
  }
  return [word, sentence];
}

// "40 ms", "1.2 s", "3 min 4 s"; "12.3 MiB".
export function duration(ms) {
  if (ms === null || ms === undefined) { return ""; }
  if (ms < 1000) { return `${ms} ms`; }
  if (ms < 60_000) { return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`; }
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

export function bytes(n) {
  if (n === null || n === undefined) { return ""; }
  if (n < 1024) { return `${n} B`; }
  if (n < 1024 * 1024) { return `${(n / 1024).toFixed(1)} KiB`; }
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// What a job used, in one line: exit code, time, CPU, peak memory (api.md "what a job used").
export function usageLine(job) {
  const parts = [];
  if (job.exit_code !== null && job.exit_code !== undefined) { parts.push(`Exit code ${job.exit_code}`); }
  const u = job.usage || {};
  if (u.wall_ms !== null && u.wall_ms !== undefined) { parts.push(`took ${duration(u.wall_ms)}`); }
  if (u.cpu_ms !== null && u.cpu_ms !== undefined) { parts.push(`CPU ${duration(u.cpu_ms)}`); }
  if (u.peak_memory_bytes !== null && u.peak_memory_bytes !== undefined) {
    parts.push(`peak memory ${bytes(u.peak_memory_bytes)}`);
  }
  return parts.join(" · ");
}

// A program's own words that it serves HTTP: "Running on http://0.0.0.0:8000",
// "listening on port 3000", "Local: http://localhost:5173/". Returns {port, local} or null
// (`local`: it listens on loopback only, which a preview cannot reach).
const SERVES = [
  /\bhttps?:\/\/(0\.0\.0\.0|127\.0\.0\.1|localhost|\[::\]|\[::1\]|[a-z0-9.-]+):(\d{2,5})\b/i,
  /\b(?:listening|serving|running|started|server)\b[^\n]{0,60}?\bport\s*:?\s*(\d{2,5})\b/i,
  /\blistening on [^\n]{0,20}?:(\d{2,5})\b/i,
];

export function servesHttp(text) {
  const url = SERVES[0].exec(text);
  if (url) {
    return { port: Number(url[2]), local: /^(127\.0\.0\.1|localhost|\[::1\])$/i.test(url[1]) };
  }
  for (const pattern of SERVES.slice(1)) {
    const found = pattern.exec(text);
    if (found) { return { port: Number(found[1]), local: false }; }
  }
  return null;
}

export const SHARE_WORDS = {
  owner: "Private: only you can open it.",
  authenticated: "Shared with anyone signed in to OffCoder.",
  public: "Public: anyone with the address can open it.",
};
