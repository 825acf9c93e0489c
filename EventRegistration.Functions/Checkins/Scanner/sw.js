// Makes the scanner page open without the network once it has been opened: its own files are
// served from the network when it answers (so a new version arrives), and from the cache when not.
// The API is never cached here: the page keeps its offline kit and queue in IndexedDB.
'use strict';

const CACHE = 'door-scanner-v1';
const FILES = ['./', 'scanner.js', 'scanner.css', 'jsQR.js'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || !url.pathname.startsWith(new URL('./', self.location).pathname)) {
    return;
  }

  event.respondWith(fetch(event.request)
    .then((response) => {
      if (response.ok) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(event.request, copy));
      }
      return response;
    })
    .catch(() => caches.match(event.request, { ignoreSearch: true })));
});
