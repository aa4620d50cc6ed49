// What went wrong with a file request, as a sentence a person can act on.
import { ApiError } from "../lib/api.js";

export function bytesText(n) {
  if (n < 1024) { return `${n} bytes`; }
  if (n < 1024 * 1024) { return `${Math.round(n / 102.4) / 10} KB`; }
  return `${Math.round(n / (1024 * 104.8576)) / 10} MB`;
}

function sentence(text) {
  const t = String(text || "").trim();
  if (!t) { return ""; }
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

// `what` names the file in the sentence ("this file", "photo.png").
export function reasonOf(error, what = "This file") {
  if (!(error instanceof ApiError)) {
    // fetch rejects with a TypeError when the request never got an answer.
    return "The server could not be reached; check the connection.";
  }
  const detail = error.problem.detail || "";
  if (error.status === 413) {
    // The body limit speaks of "the request body"; say it of the file.
    const limit = /larger than (\d+) bytes/.exec(detail);
    if (limit && /request body/.test(detail)) {
      return `${what} is larger than ${bytesText(Number(limit[1]))}, the most one file may hold.`;
    }
    return sentence(detail) || `${what} is too large to store.`;
  }
  if (error.status === 422) {
    const fields = error.fieldErrors;
    return sentence(detail || fields.join("; ")) || "The server refused the file's name or content.";
  }
  if (error.status === 404) { return "This project or file no longer exists."; }
  if (error.status === 429) { return "Too many saves at once; trying again shortly."; }
  if (error.status >= 500) { return "The server had a problem; your text is kept here."; }
  return sentence(detail) || `The server answered ${error.status}.`;
}
