// The Files and Code panes of a project page. The Code pane offers, on `window.offcoder.editor`:
//   current() -> {path, content} | null    the file shown and its text (unsaved text included)
//   open(path) -> Promise                  open a file (or a new, empty one) and show it
//   apply(path, content) -> Promise        replace its text as one undoable change, then save
// and applies the assistant's accepted edits (`offcoder:apply-edit`) the same way.
import { on, emit, registry } from "../lib/bus.js";
import { CodePane } from "./editor.js";
import { FilesPane } from "./files.js";
import { keyRow } from "./keys.js";

const ide = document.getElementById("ide");
const codeRoot = ide && ide.querySelector("#pane-editor .editor-pane");
const filesRoot = ide && ide.querySelector("#pane-files .files-pane");

if (codeRoot && filesRoot) {
  const projectId = ide.dataset.projectId;
  const code = new CodePane(codeRoot, projectId);
  const files = new FilesPane(filesRoot, projectId, code);

  const keys = codeRoot.querySelector(".keys");
  keyRow(keys, () => (code.path ? code.view : null));
  keys.hidden = false;  // CSS shows it on touch screens only

  const toFiles = codeRoot.querySelector(".editor-to-files");
  toFiles.hidden = false;
  toFiles.addEventListener("click", () => emit("show-pane", { pane: "files" }));

  registry().editor = {
    current: () => code.current(),
    open: (path) => code.open(path).then(() => emit("show-pane", { pane: "editor" })),
    apply: (path, content) => code.apply(path, content),
  };
  on("apply-edit", ({ path, content }) => {
    if (typeof path === "string" && typeof content === "string") {
      code.apply(path, content).catch((error) => files.say(error.message, "error"));
    }
  });
  on("files-changed", () => files.load().catch(() => {}));
  on("file-opened", () => files.render());

  files.load()
    .then(() => code.restore((path) => files.has(path)))
    .catch((error) => files.say(`The files could not be listed: ${error.message}`, "error"));

  // A phone's keyboard covers the bottom of the page rather than shrinking it: keep the panes
  // (and the key row with them) in the part still visible.
  const viewport = window.visualViewport;
  if (viewport && window.matchMedia("(pointer: coarse)").matches) {
    const fit = () => {
      const covered = window.innerHeight - viewport.height;
      ide.style.setProperty("--keyboard", `${Math.max(0, covered)}px`);
      // While it is up the pane tabs give their room to the code (as phone editors do).
      ide.classList.toggle("keyboard-up", covered > 120);
    };
    viewport.addEventListener("resize", fit);
    fit();
  }
}
