// The console's service worker: the shell offline, nothing of anyone's account.
//
// Kept here: the offline page, the stylesheets, the scripts and the icons (the same for every
// person). Never kept: a signed-in page, an API answer, a log. A page that cannot be fetched
// is answered by the offline page; everything else goes to the network as if we were not here.
const SHELL = "offcoder-shell-v1";
const OFFLINE = "/console/offline";
const PRECACHE = [
  OFFLINE,
  "/console/static/console.css",
  "/console/static/build/shell.js",
  "/console/static/icons/icon-192.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(SHELL).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n !== SHELL).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

function isShellAsset(url) {
  return url.origin === self.location.origin
    && (url.pathname.startsWith("/console/static/") && !url.pathname.includes("/vendor/"));
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") { return; }
  const url = new URL(request.url);
  if (request.mode === "navigate") {
    // The network first, always: a page is the person's own and is never stored.
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE)));
    return;
  }
  if (isShellAsset(url)) {
    // The network first, the kept copy when it fails; a fresh copy replaces the kept one.
    event.respondWith(
      fetch(request)
        .then((answer) => {
          if (answer.ok) {
            const copy = answer.clone();
            caches.open(SHELL).then((cache) => cache.put(request, copy));
          }
          return answer;
        })
        .catch(() => caches.match(request).then((kept) => kept || Response.error())),
    );
  }
});
