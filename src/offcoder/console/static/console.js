// The live log of one job: Socket.IO (the browser client from npm), authenticated by the
// console's session cookie, resuming after the last seq shown when the connection comes back.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || typeof io === "undefined") { return; }
  var jobId = log.dataset.jobId;
  var statusEl = document.getElementById("status");
  var exitEl = document.getElementById("exit-code");
  var note = document.getElementById("live-note");
  var lastSeq = 0;
  var ended = false;
  var socket = io({ transports: ["websocket"], withCredentials: true });

  function subscribe() {
    socket.emit("job:subscribe", { job_id: jobId, after_seq: lastSeq }, function (answer) {
      if (answer && answer.ok) {
        note.textContent = "Live.";
      } else {
        note.textContent = "The live log is not available (" + (answer && answer.error) + ").";
      }
    });
  }

  socket.on("connect", subscribe);
  socket.on("connect_error", function () { note.textContent = "Reconnecting…"; });
  socket.on("job:log", function (chunk) {
    if (chunk.job_id !== jobId || chunk.seq <= lastSeq) { return; }
    lastSeq = chunk.seq;
    var span = document.createElement("span");
    span.className = chunk.stream;
    span.textContent = chunk.data;  // text, never HTML
    log.appendChild(span);
  });
  socket.on("job:status", function (s) {
    if (s.job_id !== jobId) { return; }
    statusEl.textContent = s.status;
    if (s.exit_code !== null && s.exit_code !== undefined) { exitEl.textContent = "exit " + s.exit_code; }
    // The final status names the ending: a code to read (reason) and a sentence (detail).
    if (s.reason) { document.getElementById("reason").textContent = "(" + s.reason + ")"; }
    if (s.detail) { document.getElementById("detail").textContent = s.detail; }
    if (["succeeded", "failed", "timed_out", "cancelled"].indexOf(s.status) >= 0) {
      ended = true;
      note.textContent = "Finished.";
      socket.disconnect();
    }
  });
  socket.on("job:behind", function () { if (!ended) { subscribe(); } });
})();
