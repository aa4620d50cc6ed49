// How the panes of a project page talk without importing each other: DOM events on document,
// named "offcoder:<what>", with the facts in `detail`. The events and their details:
//
//   offcoder:file-opened   {path}                 the editor shows this file
//   offcoder:file-saved    {path, sha256}         a save reached the server
//   offcoder:files-changed {}                     created, renamed, deleted or uploaded
//   offcoder:job-started   {job}                  the run panel started a job (the API's job)
//   offcoder:job-ended     {job, log}             it ended; `log` is the text shown (tail)
//   offcoder:ask-ai        {action, path, text}   "explain this error" / "fix this file"
//   offcoder:apply-edit    {path, content}        the assistant's change the person accepted
//   offcoder:show-pane     {pane}                 "files" | "editor" | "run" | "ai" (phones)
//
// And what a pane offers others, registered on `window.offcoder` (set by whichever pane owns it):
//   offcoder.editor.current() -> {path, content} | null

export function emit(name, detail = {}) {
  document.dispatchEvent(new CustomEvent(`offcoder:${name}`, { detail }));
}

export function on(name, handler) {
  const listener = (event) => handler(event.detail || {});
  document.addEventListener(`offcoder:${name}`, listener);
  return () => document.removeEventListener(`offcoder:${name}`, listener);
}

export function registry() {
  window.offcoder = window.offcoder || {};
  return window.offcoder;
}
