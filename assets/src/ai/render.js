// A model's answer shown as text: prose, `inline code`, and ``` fenced blocks as <pre><code>.
// Everything goes in through textContent and text nodes, never innerHTML: the answer is
// someone else's text and may hold markup on purpose.

// The answer cut into parts: {kind: "text", text} and {kind: "code", lang, text, closed}.
// A fence still open (the answer is streaming) is a code part with closed=false.
export function parts(answer) {
  const out = [];
  let prose = [];
  let code = null;
  const flushProse = () => {
    const text = prose.join("\n").replace(/^\n+|\n+$/g, "");
    if (text) { out.push({ kind: "text", text }); }
    prose = [];
  };
  for (const line of answer.split("\n")) {
    const fence = /^\s*(`{3,}|~{3,})\s*([\w+#.-]*)/.exec(line);
    if (code) {
      if (fence && fence[1][0] === code.mark[0] && fence[1].length >= code.mark.length
          && line.trim() === fence[1]) {
        out.push({ kind: "code", lang: code.lang, text: code.lines.join("\n"), closed: true });
        code = null;
      } else {
        code.lines.push(line);
      }
    } else if (fence) {
      flushProse();
      code = { mark: fence[1], lang: fence[2] || "", lines: [] };
    } else {
      prose.push(line);
    }
  }
  flushProse();
  if (code) { out.push({ kind: "code", lang: code.lang, text: code.lines.join("\n"), closed: false }); }
  return out;
}

// The fenced blocks of an answer, closed ones only (what "fix this file" takes as the file).
export function codeBlocks(answer) {
  return parts(answer).filter((p) => p.kind === "code" && p.closed);
}

function prose(text) {
  const p = document.createElement("p");
  p.className = "ai-prose";
  // `inline code` between single backticks; the rest as plain text.
  text.split(/(`[^`\n]+`)/).forEach((piece) => {
    if (/^`[^`\n]+`$/.test(piece)) {
      const code = document.createElement("code");
      code.textContent = piece.slice(1, -1);
      p.append(code);
    } else if (piece) {
      p.append(document.createTextNode(piece));
    }
  });
  return p;
}

// Fills `into` with the answer (replacing what it held: the answer grows while it streams).
export function renderAnswer(into, answer) {
  const nodes = parts(answer).map((part) => {
    if (part.kind === "text") { return prose(part.text); }
    const pre = document.createElement("pre");
    pre.className = "ai-code";
    pre.tabIndex = 0;  // it scrolls sideways: keyboard people must be able to reach it
    const code = document.createElement("code");
    if (part.lang) {
      code.dataset.lang = part.lang;
      pre.setAttribute("aria-label", `${part.lang} code`);
    } else {
      pre.setAttribute("aria-label", "Code");
    }
    code.textContent = part.text;
    pre.append(code);
    return pre;
  });
  into.replaceChildren(...nodes);
}
