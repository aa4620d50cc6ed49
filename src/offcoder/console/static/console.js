// The live log of one job: Socket.IO (the browser client from npm), authenticated by the
// console's session cookie. A job page opens on the log's last screen (a tail subscription,
// several chunks to a packet), pages earlier output in above when the log is scrolled to its
// top, and resumes after the last seq shown when the connection comes back.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || typeof io === "undefined") { return; }
  var jobId = log.dataset.jobId;
  var statusEl = document.getElementById("status");
  var exitEl = document.getElementById("exit-code");
  var note = document.getElementById("live-note");
  var TAIL = 100;       // chunks shown first: at least a screen, whatever their size
  var EARLIER = 200;    // chunks per page scrolled back in
  var NEAR_TOP_PX = 400;
  var firstSeq = 0;     // the first seq shown (0: none yet); seqs start at 1, one per chunk
  var lastSeq = 0;
  var hasEarlier = false;
  var paging = false;
  var ended = false;
  var socket = io({ transports: ["websocket"], withCredentials: true });

  function subscribe() {
    if (ended) { return; }  // nothing more will come; the socket stays for paging back
    var request = lastSeq > 0
      ? { job_id: jobId, after_seq: lastSeq, batch: true }
      : { job_id: jobId, tail: TAIL, batch: true };
    socket.emit("job:subscribe", request, function (answer) {
      if (answer && answer.ok) {
        note.textContent = "Live.";
      } else {
        note.textContent = "The live log is not available (" + (answer && answer.error) + ").";
      }
    });
  }

  // One text node per run of a stream's chunks, built off the page and added at once.
  function fragment(chunks) {
    var built = document.createDocumentFragment();
    var stream = null;
    var text = [];
    function close() {
      if (stream === null) { return; }
      var span = document.createElement("span");
      span.className = stream;
      span.textContent = text.join("");  // text, never HTML
      built.appendChild(span);
    }
    chunks.forEach(function (chunk) {
      if (chunk.stream !== stream) { close(); stream = chunk.stream; text = []; }
      text.push(chunk.data);
    });
    close();
    return built;
  }

  function atBottom() {
    return log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  }

  function append(chunks) {
    var fresh = chunks.filter(function (c) { return c.seq > lastSeq; });
    if (!fresh.length) { return; }
    var follow = atBottom();  // a reader scrolled up keeps their place
    log.appendChild(fragment(fresh));
    if (firstSeq === 0) { firstSeq = fresh[0].seq; hasEarlier = firstSeq > 1; }
    lastSeq = fresh[fresh.length - 1].seq;
    if (follow) { log.scrollTop = log.scrollHeight; }
    pageBack();
  }

  // Earlier output goes in above what is on screen, which stays where it was.
  function prepend(chunks) {
    var earlier = chunks.filter(function (c) { return c.seq < firstSeq; });
    if (!earlier.length) { return; }
    var height = log.scrollHeight;
    log.insertBefore(fragment(earlier), log.firstChild);
    log.scrollTop += log.scrollHeight - height;
    firstSeq = earlier[0].seq;
  }

  function pageBack() {
    if (paging || !hasEarlier || log.scrollTop > NEAR_TOP_PX) { return; }
    paging = true;
    socket.emit("job:earlier", { job_id: jobId, before_seq: firstSeq, limit: EARLIER }, function (answer) {
      paging = false;
      if (!answer || !answer.ok) { return; }
      prepend(answer.chunks);
      hasEarlier = answer.has_earlier;
      pageBack();  // still near the top (a short page): the next one
      release();
    });
  }

  // The connection is kept while the job runs or earlier output is left to page in.
  function release() {
    if (ended && !hasEarlier && !paging) { socket.disconnect(); }
  }

  log.addEventListener("scroll", pageBack, { passive: true });
  socket.on("connect", subscribe);
  socket.on("connect_error", function () { note.textContent = "Reconnecting…"; });
  socket.on("job:logs", function (packet) {
    if (packet.job_id === jobId) { append(packet.chunks); }
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
      release();
    }
  });
  socket.on("job:behind", function () { if (!ended) { subscribe(); } });
})();
