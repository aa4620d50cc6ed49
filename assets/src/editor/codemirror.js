// CodeMirror 6 as the console uses it (docs/decisions/0028-editor.md): one EditorState per
// open file (its own undo history, so switching files keeps each one's), the language chosen
// from the file's name, and a theme that follows the system's light or dark setting.
import { EditorView, basicSetup } from "codemirror";
import { EditorState, Compartment } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import { StreamLanguage, indentUnit, syntaxHighlighting, HighlightStyle } from "@codemirror/language";
import { classHighlighter, tags } from "@lezer/highlight";
import { oneDark } from "@codemirror/theme-one-dark";
import { search } from "@codemirror/search";
import { searchPanel } from "./search.js";

export { EditorView, EditorState };

// The languages load when a file of theirs is first opened (each its own chunk), so the page
// itself carries only the editor. By file name first (files without a telling extension), then
// by extension.
const legacy = (mode) => mode.then((m) => StreamLanguage.define(m));
const shell = () => legacy(import("@codemirror/legacy-modes/mode/shell").then((m) => m.shell));
const python = () => import("@codemirror/lang-python").then((m) => m.python());
const js = (options) => () => import("@codemirror/lang-javascript").then((m) => m.javascript(options));
const BY_NAME = {
  dockerfile: () => legacy(import("@codemirror/legacy-modes/mode/dockerfile").then((m) => m.dockerFile)),
  makefile: shell, ".bashrc": shell, ".profile": shell,
};
const BY_EXTENSION = {
  py: python, pyi: python,
  js: js({}), mjs: js({}), cjs: js({}), jsx: js({ jsx: true }),
  ts: js({ typescript: true }), mts: js({ typescript: true }), tsx: js({ jsx: true, typescript: true }),
  json: () => import("@codemirror/lang-json").then((m) => m.json()),
  html: () => import("@codemirror/lang-html").then((m) => m.html()),
  htm: () => import("@codemirror/lang-html").then((m) => m.html()),
  css: () => import("@codemirror/lang-css").then((m) => m.css()),
  md: () => import("@codemirror/lang-markdown").then((m) => m.markdown()),
  markdown: () => import("@codemirror/lang-markdown").then((m) => m.markdown()),
  sh: shell, bash: shell,
  toml: () => legacy(import("@codemirror/legacy-modes/mode/toml").then((m) => m.toml)),
  yml: () => legacy(import("@codemirror/legacy-modes/mode/yaml").then((m) => m.yaml)),
  yaml: () => legacy(import("@codemirror/legacy-modes/mode/yaml").then((m) => m.yaml)),
};

// The language extension for a file's name, once loaded ([] for plain text, or when its chunk
// cannot be fetched: the file still opens, without colours).
export async function languageFor(path) {
  const name = path.split("/").pop().toLowerCase();
  const dot = name.lastIndexOf(".");
  const make = BY_NAME[name] || (dot > 0 ? BY_EXTENSION[name.slice(dot + 1)] : null);
  if (!make) { return []; }
  try { return await make(); } catch (_) { return []; }
}

// The console's own look around CodeMirror's colours: its variables, a size readable on a
// phone without zoom (16 px also keeps iOS from zooming into the editor on focus).
const frame = EditorView.theme({
  "&": { height: "100%", fontSize: "16px" },
  ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.55", overscrollBehavior: "contain" },
  ".cm-content": { paddingBottom: "40vh" },
  "&.cm-focused": { outline: "none" },
  ".cm-panels": { fontSize: "16px", backgroundColor: "var(--surface-2)", color: "var(--text)" },
  ".cm-panels.cm-panels-top": { borderBottom: "1px solid var(--border)" },
  ".oc-search": { padding: "4px", display: "grid", gridTemplateColumns: "minmax(0, 1fr)", gap: "4px" },
  ".oc-search-row": { display: "flex", gap: "4px", alignItems: "center" },
  ".oc-search-row[hidden]": { display: "none" },
  ".oc-search input": {
    flex: "1 1 0", width: "0", minWidth: "0", minHeight: "44px", fontSize: "16px", padding: "0 10px", font: "inherit",
    border: "1px solid var(--border)", borderRadius: "8px", background: "var(--surface)", color: "var(--text)",
  },
  ".oc-search button": {
    flex: "none", minWidth: "44px", minHeight: "44px", padding: "0 8px", font: "inherit", fontSize: "16px",
    border: "1px solid transparent", borderRadius: "8px", background: "none", color: "var(--text)", cursor: "pointer",
  },
  ".oc-search button:hover": { background: "var(--surface)" },
  ".oc-search button[aria-pressed=true], .oc-search button[aria-expanded=true]": {
    background: "var(--surface)", borderColor: "var(--accent)", color: "var(--accent)",
  },
  ".oc-search .oc-toggle": { fontFamily: "var(--mono)" },
});

const dark = window.matchMedia("(prefers-color-scheme: dark)");
const themes = new Set();
// basicSetup's colours are only a fallback, off once any highlighter is given (classHighlighter
// below is one), so the light theme names them itself.
// CodeMirror's default light colours, but each at least 4.5:1 on white (axe-core found its
// orange for escapes and regular expressions at 3.6:1, its red for invalid text at 4:1).
const lightColours = HighlightStyle.define([
  { tag: tags.meta, color: "#404740" },
  { tag: tags.link, textDecoration: "underline" },
  { tag: tags.heading, textDecoration: "underline", fontWeight: "bold" },
  { tag: tags.emphasis, fontStyle: "italic" },
  { tag: tags.strong, fontWeight: "bold" },
  { tag: tags.strikethrough, textDecoration: "line-through" },
  { tag: tags.keyword, color: "#708" },
  { tag: [tags.atom, tags.bool, tags.url, tags.contentSeparator, tags.labelName], color: "#219" },
  { tag: [tags.literal, tags.inserted], color: "#164" },
  { tag: [tags.string, tags.deleted], color: "#a11" },
  { tag: [tags.regexp, tags.escape, tags.special(tags.string)], color: "#a33a00" },
  { tag: tags.definition(tags.variableName), color: "#00f" },
  { tag: tags.local(tags.variableName), color: "#30a" },
  { tag: [tags.typeName, tags.namespace], color: "#085" },
  { tag: tags.className, color: "#167" },
  { tag: [tags.special(tags.variableName), tags.macroName], color: "#256" },
  { tag: tags.definition(tags.propertyName), color: "#00c" },
  { tag: tags.comment, color: "#940" },
  { tag: tags.invalid, color: "#c00" },
]);
const light = [
  syntaxHighlighting(lightColours),
  EditorView.theme({
    "&": { backgroundColor: "var(--surface)" },
    ".cm-gutters": { backgroundColor: "var(--surface)", borderRight: "1px solid var(--border)" },
  }),
];
// One-dark's colours on the console's dark surface (#151b23) rather than its own #282c34, on
// which its red (#e06c75: property names, tags) and its line numbers are under 4.5:1 contrast.
const darkened = [
  EditorView.theme({
    "&": { backgroundColor: "var(--surface)" },
    ".cm-gutters": { backgroundColor: "var(--surface)", color: "#a5adba", borderRight: "1px solid var(--border)" },
  }, { dark: true }),
  oneDark,
];
export const themeFor = () => (dark.matches ? darkened : light);
dark.addEventListener("change", () => {
  for (const { view, compartment } of themes) {
    view.dispatch({ effects: compartment.reconfigure(themeFor()) });
  }
});

// The extensions of one file's state. `onChange(view)` hears every change of its text.
export function extensionsFor(path, language, onChange, theme) {
  return [
    basicSetup,
    search({ top: true, createPanel: searchPanel }),
    keymap.of([indentWithTab]),
    indentUnit.of(path.endsWith(".py") ? "    " : "  "),
    language,
    frame,
    theme.of(themeFor()),
    // Stable class names (tok-keyword, tok-string...) beside the theme's colours: hooks for
    // the tests and for any style of ours.
    syntaxHighlighting(classHighlighter),
    EditorView.contentAttributes.of({
      // tabindex: contenteditable is focusable already; said aloud, so checkers know too.
      "aria-label": `Text of ${path}`, tabindex: "0", autocapitalize: "off", autocorrect: "off", spellcheck: "false",
    }),
    EditorView.updateListener.of((update) => { if (update.docChanged) { onChange(update); } }),
  ];
}

// One view for the whole pane; files swap states into it (setState), so each keeps its
// history and selection while another is shown. It lives in a shadow root: there CodeMirror
// puts its styles in a constructed stylesheet (adoptedStyleSheets), which the page's CSP
// (style-src 'self', no inline <style>) allows; in the document it would add a <style> element,
// which the CSP refuses, leaving the editor without its layout. The console's CSS variables
// still reach it (custom properties inherit into a shadow tree).
export function createView(host) {
  const shadow = host.attachShadow({ mode: "open" });
  const parent = document.createElement("div");
  parent.style.height = "100%";
  shadow.append(parent);
  const theme = new Compartment();
  const view = new EditorView({ parent, root: shadow, state: EditorState.create({ doc: "" }) });
  themes.add({ view, compartment: theme });
  return { view, theme };
}
