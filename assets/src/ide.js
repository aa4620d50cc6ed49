// The project page: the panes, each its own module (see lib/bus.js for how they talk), and on
// a phone the tab bar that shows one pane at a time.
import { on } from "./lib/bus.js";
import "./editor/index.js";
import "./run/index.js";
import "./ai/index.js";

const ide = document.getElementById("ide");
if (ide) {
  const tabs = [...ide.querySelectorAll(".ide-tabs [role=tab]")];
  const panes = [...ide.querySelectorAll(".pane")];
  const KEY = `offcoder:pane:${ide.dataset.projectId}`;

  const show = (name) => {
    for (const tab of tabs) {
      tab.setAttribute("aria-selected", String(tab.dataset.pane === name));
      tab.tabIndex = tab.dataset.pane === name ? 0 : -1;
    }
    for (const pane of panes) { pane.hidden = pane.dataset.pane !== name; }
    try { sessionStorage.setItem(KEY, name); } catch (_) { /* private mode */ }
  };

  for (const tab of tabs) { tab.addEventListener("click", () => show(tab.dataset.pane)); }
  on("show-pane", ({ pane }) => show(pane));
  let first = "files";
  try { first = sessionStorage.getItem(KEY) || first; } catch (_) { /* private mode */ }
  show(first);
}

// Every pane's module has run (imports run before this body): what tests and scripts wait for
// before they touch the page's controls.
if (ide) { ide.dataset.ready = "true"; }
