// A streamed chat answer (POST /v1/ai/chat with "stream": true) read with fetch and a
// ReadableStream: EventSource can only GET, and the conversation is a POST body (decision 0030).
// The events, as docs/api.md "AI gateway" says: delta {text} ..., then done {output_id}, or
// blocked {category}, or error (a problem document).
import { ApiError, csrfToken, request } from "../lib/api.js";

// One block of the text/event-stream format: "event: x" and "data: ..." lines.
export function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) { event = line.slice(6).trim(); }
    else if (line.startsWith("data:")) { data.push(line.slice(5).replace(/^ /, "")); }
  }
  if (!data.length) { return null; }
  try {
    return { event, data: JSON.parse(data.join("\n")) };
  } catch (_) {
    return null;  // not one of ours: skip it rather than stop the answer
  }
}

// Calls `handlers[event](data)` for each event as it arrives; resolves with the last event's
// name ("done", "blocked", "error"), or "cut" when the stream ended without one of them.
// A refusal before the stream starts is thrown as the ApiError lib/api.js makes.
async function post(body, signal) {
  const headers = { Accept: "text/event-stream" };
  // Sent once by hand first: the API answers 401 both for an access token that ran out and for
  // a provider that refused the person's key (ai-key-rejected). lib/api.js renews the session
  // on any 401 and sends again, which would send the question to the provider a second time.
  const answer = await fetch("/v1/ai/chat", {
    method: "POST",
    credentials: "same-origin",
    headers: { ...headers, "Content-Type": "application/json", "X-OffCoder-CSRF": csrfToken() },
    body: JSON.stringify(body),
    signal,
  });
  if (answer.ok) { return answer; }
  let problem = null;
  try { problem = await answer.json(); } catch (_) { /* not JSON: the status says it */ }
  const kind = String((problem && problem.type) || "").split("/").pop();
  if (answer.status === 401 && kind !== "ai-key-rejected") {
    // The session's token: lib/api.js renews it (or sends the person to sign in) and asks again.
    return request("POST", "/v1/ai/chat", { json: body, headers, signal, raw: true });
  }
  throw new ApiError(answer.status, problem);
}

export async function streamChat(body, handlers, signal) {
  const answer = await post({ ...body, stream: true }, signal);
  const reader = answer.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let last = "cut";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) { break; }
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const parsed = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (!parsed) { continue; }
      const handler = handlers[parsed.event];
      if (handler) { handler(parsed.data); }
      if (parsed.event !== "delta") { last = parsed.event; }
    }
  }
  return last;
}
