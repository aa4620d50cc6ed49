// CodeMirror's search, in a panel that fits a phone: one row (find, previous, next, more,
// close) and a second, on demand, for replacing and the match options. Every control is 44 px.
import { SearchQuery, setSearchQuery, getSearchQuery, findNext, findPrevious, replaceNext,
  replaceAll, closeSearchPanel } from "@codemirror/search";
import { runScopeHandlers } from "@codemirror/view";

function el(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) { node.setAttribute(name, value); }
  if (text) { node.textContent = text; }
  return node;
}

function button(label, name, run) {
  const b = el("button", { type: "button", "aria-label": name, title: name }, label);
  b.addEventListener("click", run);
  return b;
}

export function searchPanel(view) {
  const query = getSearchQuery(view.state);
  const dom = el("div", { class: "cm-search oc-search", role: "search" });
  // main-field: CodeMirror's openSearchPanel focuses (and selects) the field marked so.
  const find = el("input", {
    type: "search", name: "search", "main-field": "true", placeholder: "Find",
    "aria-label": "Find", autocomplete: "off", autocapitalize: "off", spellcheck: "false",
    enterkeyhint: "search",
  });
  find.value = query.search;
  const replace = el("input", {
    type: "text", name: "replace", placeholder: "Replace with", "aria-label": "Replace with",
    autocomplete: "off", autocapitalize: "off", spellcheck: "false",
  });
  replace.value = query.replace;
  const options = { caseSensitive: query.caseSensitive, regexp: query.regexp, wholeWord: query.wholeWord };

  const commit = () => {
    const next = new SearchQuery({ search: find.value, replace: replace.value, ...options });
    if (!next.eq(getSearchQuery(view.state))) { view.dispatch({ effects: setSearchQuery.of(next) }); }
  };
  const toggle = (label, name, key) => {
    const b = button(label, name, () => {
      options[key] = !options[key];
      b.setAttribute("aria-pressed", String(options[key]));
      commit();
    });
    b.setAttribute("aria-pressed", String(options[key]));
    b.classList.add("oc-toggle");
    return b;
  };

  const more = el("div", { class: "oc-search-row oc-search-more" });
  more.hidden = !query.replace;
  const moreButton = button("⋯", "Replace and options", () => {
    more.hidden = !more.hidden;
    moreButton.setAttribute("aria-expanded", String(!more.hidden));
    if (!more.hidden) { replace.focus(); }
  });
  moreButton.setAttribute("aria-expanded", String(!more.hidden));

  const first = el("div", { class: "oc-search-row" });
  first.append(
    find,
    button("↑", "Previous match", () => findPrevious(view)),
    button("↓", "Next match", () => findNext(view)),
    moreButton,
    button("×", "Close search", () => closeSearchPanel(view)),
  );
  more.append(
    replace,
    button("Replace", "Replace", () => replaceNext(view)),
    button("All", "Replace all", () => replaceAll(view)),
    toggle("Aa", "Match case", "caseSensitive"),
    toggle(".*", "Regular expression", "regexp"),
    toggle("W", "Whole word", "wholeWord"),
  );
  dom.append(first, more);

  for (const input of [find, replace]) {
    input.addEventListener("input", commit);
    input.addEventListener("change", commit);
  }
  dom.addEventListener("keydown", (event) => {
    if (runScopeHandlers(view, event, "search-panel")) {
      event.preventDefault();
    } else if (event.key === "Enter" && event.target === find) {
      event.preventDefault();
      (event.shiftKey ? findPrevious : findNext)(view);
    } else if (event.key === "Enter" && event.target === replace) {
      event.preventDefault();
      replaceNext(view);
    }
  });

  return {
    dom,
    top: true,
    // A new panel gets the focus here (openSearchPanel focuses only one already shown).
    mount() { find.select(); },
    update(update) {
      for (const tr of update.transactions) {
        for (const effect of tr.effects) {
          if (effect.is(setSearchQuery) && !effect.value.eq(new SearchQuery({ search: find.value, replace: replace.value, ...options }))) {
            find.value = effect.value.search;
            replace.value = effect.value.replace;
          }
        }
      }
    },
  };
}
