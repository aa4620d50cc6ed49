// The row of keys a phone's keyboard hides behind a second or third layer (touch screens
// only: the CSS shows it under `pointer: coarse`). A key acts on the editor without taking the
// focus from it, so the phone's keyboard stays up.
import { insertBracket } from "@codemirror/autocomplete";
import { indentMore, cursorCharLeft, cursorCharRight, cursorLineUp, cursorLineDown,
  simplifySelection } from "@codemirror/commands";
import { closeSearchPanel } from "@codemirror/search";
import { indentUnit } from "@codemirror/language";

function type(text) {
  return (view) => {
    // Brackets and quotes behave as typed ones do (a pair, or stepping over the closing one).
    const bracket = text.length === 1 ? insertBracket(view.state, text) : null;
    view.dispatch(bracket || { ...view.state.replaceSelection(text), scrollIntoView: true, userEvent: "input.type" });
    return true;
  };
}

// Tab: a selection is indented; at a cursor, one indent unit of space is typed (the file's
// kind: four spaces in Python), as the Tab of a keyboard does in the editor.
function tab(view) {
  if (!view.state.selection.main.empty) { return indentMore(view); }
  return type(view.state.facet(indentUnit))(view);
}

const KEYS = [
  { label: "Tab", run: (view) => tab(view), wide: true },
  { label: "(", run: type("(") }, { label: ")", run: type(")") },
  { label: "[", run: type("[") }, { label: "]", run: type("]") },
  { label: "{", run: type("{") }, { label: "}", run: type("}") },
  { label: "'", name: "Single quote", run: type("'") },
  { label: "\"", name: "Double quote", run: type("\"") },
  { label: ":", name: "Colon", run: type(":") },
  { label: "=", name: "Equals", run: type("=") },
  { label: ",", name: "Comma", run: type(",") },
  { label: "←", name: "Left", run: cursorCharLeft },
  { label: "→", name: "Right", run: cursorCharRight },
  { label: "↑", name: "Up", run: cursorLineUp },
  { label: "↓", name: "Down", run: cursorLineDown },
  { label: "Esc", name: "Escape", run: (view) => closeSearchPanel(view) || simplifySelection(view), wide: true },
];

export function keyRow(row, viewOf) {
  for (const key of KEYS) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = key.label;
    if (key.name) { button.setAttribute("aria-label", key.name); }
    if (key.wide) { button.classList.add("wide"); }
    // Not taking the focus is what keeps the keyboard up (and the editor's selection).
    button.addEventListener("pointerdown", (event) => event.preventDefault());
    button.addEventListener("mousedown", (event) => event.preventDefault());
    button.addEventListener("click", () => {
      const view = viewOf();
      if (!view) { return; }
      key.run(view);
      view.focus();
    });
    row.append(button);
  }
}

