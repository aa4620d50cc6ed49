// Bundles the console's own browser code (assets/src) with the libraries it imports from
// node_modules into src/offcoder/console/static/build, for `make assets`. One ES module per
// page kind; what two of them share goes into a common chunk, loaded once.
import { build } from "esbuild";

const entryPoints = {
  shell: "src/shell.js",       // every page: theme, navigation, the offline shell's worker
  ide: "src/ide.js",           // a project: editor and files, run and output, the assistant
  account: "src/account.js",   // the account pages
  job: "src/job.js",           // a job: its output live (the Run pane's view, run/output.js)
};

await build({
  entryPoints,
  bundle: true,
  splitting: true,
  format: "esm",
  target: ["es2020", "chrome100", "safari15", "firefox100"],
  minify: true,
  sourcemap: "linked",
  outdir: "../src/offcoder/console/static/build",
  chunkNames: "chunks/[name]-[hash]",
  legalComments: "linked",
  logLevel: "warning",
});

// The service worker: a classic script of its own (a worker's imports are another matter).
await build({
  entryPoints: { sw: "src/sw.js" },
  bundle: true,
  format: "iife",
  target: ["es2020"],
  minify: true,
  outdir: "../src/offcoder/console/static/build",
  logLevel: "warning",
});
