// A line diff of the file as it is against the assistant's version, shown as text lines with
// "+"/"-" (readable on a phone and to a screen reader; decision 0030). Longest common
// subsequence over the lines between the common head and tail: files people fix here are
// small, and past MAX_CELLS the middle is shown as replaced whole rather than freeze the page.
const MAX_CELLS = 4_000_000;

export function lineDiff(before, after) {
  const a = before.split("\n");
  const b = after.split("\n");
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) { head += 1; }
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head
         && a[a.length - 1 - tail] === b[b.length - 1 - tail]) { tail += 1; }
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  const ops = a.slice(0, head).map((text) => ({ op: "same", text }));
  if (midA.length * midB.length > MAX_CELLS) {
    for (const text of midA) { ops.push({ op: "del", text }); }
    for (const text of midB) { ops.push({ op: "add", text }); }
  } else {
    const n = midA.length;
    const m = midB.length;
    // lcs[i][j]: the longest common run of midA[i..] and midB[j..], in one flat array.
    const width = m + 1;
    const lcs = new Uint32Array((n + 1) * width);
    for (let i = n - 1; i >= 0; i -= 1) {
      for (let j = m - 1; j >= 0; j -= 1) {
        lcs[i * width + j] = midA[i] === midB[j]
          ? lcs[(i + 1) * width + j + 1] + 1
          : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (midA[i] === midB[j]) { ops.push({ op: "same", text: midA[i] }); i += 1; j += 1; }
      else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) { ops.push({ op: "del", text: midA[i] }); i += 1; }
      else { ops.push({ op: "add", text: midB[j] }); j += 1; }
    }
    while (i < n) { ops.push({ op: "del", text: midA[i] }); i += 1; }
    while (j < m) { ops.push({ op: "add", text: midB[j] }); j += 1; }
  }
  for (const text of a.slice(a.length - tail)) { ops.push({ op: "same", text }); }
  return ops;
}

const CONTEXT = 3;  // unchanged lines kept around each change; longer runs are folded

// The diff as a <pre> of lines, unchanged runs folded to "… N unchanged lines".
export function renderDiff(ops) {
  const pre = document.createElement("pre");
  pre.className = "ai-diff";
  pre.tabIndex = 0;
  const changed = ops.map((o) => o.op !== "same");
  const near = (index) => {
    for (let k = Math.max(0, index - CONTEXT); k <= Math.min(ops.length - 1, index + CONTEXT); k += 1) {
      if (changed[k]) { return true; }
    }
    return false;
  };
  let folded = 0;
  const fold = () => {
    if (!folded) { return; }
    const line = document.createElement("span");
    line.className = "ai-diff-fold";
    line.textContent = `… ${folded} unchanged line${folded === 1 ? "" : "s"}\n`;
    pre.append(line);
    folded = 0;
  };
  ops.forEach((o, index) => {
    if (o.op === "same" && !near(index)) { folded += 1; return; }
    fold();
    const line = document.createElement(o.op === "add" ? "ins" : o.op === "del" ? "del" : "span");
    line.className = `ai-diff-${o.op}`;
    line.textContent = `${o.op === "add" ? "+" : o.op === "del" ? "-" : " "} ${o.text}\n`;
    pre.append(line);
  });
  fold();
  return pre;
}

export function summary(ops) {
  const added = ops.filter((o) => o.op === "add").length;
  const removed = ops.filter((o) => o.op === "del").length;
  if (!added && !removed) { return "The assistant's version is the same as the file."; }
  const lines = (k) => `${k} line${k === 1 ? "" : "s"}`;
  return `${lines(added)} added, ${lines(removed)} removed.`;
}
