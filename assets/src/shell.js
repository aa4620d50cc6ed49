// Every console page: what the shell does besides the server's HTML.

// The console installs as an app and opens its shell offline (console/pwa.py, src/sw.js).
if ("serviceWorker" in navigator && window.isSecureContext) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/console/sw.js", { scope: "/console/" }).catch(() => {
      // Without the worker the console works as before, only not offline.
    });
  });
}
