// Door scanner: camera → QR → answer on the whole screen. Online it asks POST /api/checkins; offline
// (or when that request fails) it verifies the ticket's signature with WebCrypto against the offline
// kit, answers from the kit, and queues the scan in IndexedDB for POST /api/checkins/batch.
'use strict';

(() => {
  const api = new URL('../', location.href);          // /api/checkins/
  const RESULT_MS = 2500;                              // how long an answer stays on the screen
  const SAME_CODE_MS = 3000;                           // the same QR held in front of the camera is one scan
  const BATCH_MAX = 5000;
  const $ = (id) => document.getElementById(id);
  const settings = {
    get event() { return localStorage.getItem('scanner.event'); },
    get key() { return localStorage.getItem('scanner.key'); },
    get scanner() { return localStorage.getItem('scanner.id') || 'door'; },
    save(event, key, scanner) {
      localStorage.setItem('scanner.event', event);
      localStorage.setItem('scanner.key', key);
      localStorage.setItem('scanner.id', scanner);
    },
  };

  // ---- IndexedDB: the kit and the queue of offline scans ---------------------------------------
  let dbPromise;
  function db() {
    dbPromise ??= new Promise((resolve, reject) => {
      const open = indexedDB.open('door-scanner', 1);
      open.onupgradeneeded = () => {
        open.result.createObjectStore('kit');
        open.result.createObjectStore('queue', { keyPath: 'nonce' });
      };
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    return dbPromise;
  }

  async function store(name, mode, work) {
    const database = await db();
    return new Promise((resolve, reject) => {
      const tx = database.transaction(name, mode);
      const request = work(tx.objectStore(name));
      tx.oncomplete = () => resolve(request?.result);
      tx.onerror = () => reject(tx.error);
    });
  }

  const queue = {
    add: (scan) => store('queue', 'readwrite', (s) => s.put(scan)),
    all: () => store('queue', 'readonly', (s) => s.getAll()),
    remove: (nonces) => store('queue', 'readwrite', (s) => { nonces.forEach((n) => s.delete(n)); }),
  };

  // ---- the offline kit --------------------------------------------------------------------------
  let kit = null;         // { eventId, eventTitle, eventStatus, version, valid: Map, revoked: Map, admitted: Map }
  let keys = [];          // CryptoKeys of the kit's public keys

  function headers() {
    return { 'X-Scanner-Key': settings.key, 'Content-Type': 'application/json' };
  }

  async function loadKit() {
    const saved = await store('kit', 'readonly', (s) => s.get(settings.event));
    if (saved && !kit) {
      await useKit(saved);
    }

    if (!navigator.onLine) {
      return;
    }

    const since = kit ? `?since=${kit.version}` : '';
    const response = await fetch(new URL(`events/${settings.event}/offline-kit${since}`, api), { headers: headers(), cache: 'no-store' });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      throw new Error(problem.detail || `The offline kit could not be loaded (${response.status}).`);
    }

    const fresh = await response.json();
    const merged = kit && !fresh.full ? merge(kit, fresh) : plain(fresh);
    await store('kit', 'readwrite', (s) => s.put(merged, settings.event));
    await useKit(merged);
  }

  function plain(k) {
    return {
      eventId: k.eventId, eventTitle: k.eventTitle, eventStatus: k.eventStatus, version: k.version, publicKeys: k.publicKeys,
      valid: Object.fromEntries(k.valid.map((t) => [t.registrationId, t.memberName])),
      revoked: Object.fromEntries(k.revoked.map((t) => [t.registrationId, { name: t.memberName, reason: t.reason }])),
      admitted: Object.fromEntries(k.admitted.map((a) => [a.registrationId, { at: a.admittedAt, by: a.scannerId }])),
    };
  }

  function merge(old, changes) {
    const next = plain(changes);
    const valid = { ...old.valid, ...next.valid };
    const revoked = { ...old.revoked, ...next.revoked };
    for (const id of Object.keys(next.valid)) delete revoked[id];
    for (const id of Object.keys(next.revoked)) delete valid[id];
    return { ...next, valid, revoked, admitted: { ...old.admitted, ...next.admitted } };
  }

  async function useKit(k) {
    kit = k;
    keys = await Promise.all(k.publicKeys.map((key) => crypto.subtle.importKey(
      'spki', pemToBytes(key.pem), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])));
    $('event').textContent = k.eventTitle;
    document.body.dataset.kitVersion = String(k.version);
  }

  // ---- the ticket token: base64url(payload) "." base64url(signature), see TicketToken.cs --------
  function pemToBytes(pem) {
    return base64ToBytes(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''));
  }

  function base64ToBytes(text) {
    const binary = atob(text);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  function base64UrlToBytes(text) {
    if (!/^[A-Za-z0-9_-]+$/.test(text)) return null;
    const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4);
    try { return base64ToBytes(padded); } catch { return null; }
  }

  function uuid(bytes) {
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** The ticket's ids when one of the kit's keys signed it; null for anything else. */
  async function verifyLocally(token) {
    const parts = token.split('.');
    if (parts.length !== 2 || token.length > 200) return null;
    const payload = base64UrlToBytes(parts[0]);
    const signature = base64UrlToBytes(parts[1]);
    if (!payload || !signature || payload.length !== 33 || signature.length !== 64 || payload[0] !== 1) return null;
    for (const key of keys) {
      if (await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, signature, payload)) {
        return { registrationId: uuid(payload.slice(1, 17)), eventId: uuid(payload.slice(17, 33)) };
      }
    }
    return null;
  }

  // ---- a scan -----------------------------------------------------------------------------------
  let busyUntil = 0;
  let lastCode = '';
  let lastCodeAt = 0;

  async function onCode(token) {
    const now = Date.now();
    if (now < busyUntil || (token === lastCode && now - lastCodeAt < SAME_CODE_MS + RESULT_MS)) return;
    lastCode = token;
    lastCodeAt = now;
    busyUntil = now + RESULT_MS;
    const scan = { token, scannerId: settings.scanner, nonce: crypto.randomUUID(), scannedAt: new Date().toISOString() };
    if (navigator.onLine) {
      try {
        const response = await fetch(new URL('', api), { method: 'POST', headers: headers(), body: JSON.stringify(scan) });
        if (response.status < 500) {
          return showServerAnswer(response.status, await response.json());
        }
      } catch {
        // The network failed under us: decide locally, and the queued scan keeps its nonce, so a
        // request that did reach the server is answered from its stored result when uploaded.
      }
    }

    await scanOffline(scan);
  }

  function showServerAnswer(status, body) {
    if (status === 200) {
      if (kit) kit.admitted[body.registrationId] = { at: body.admittedAt, by: body.scannerId };
      return show(true, body.memberName, 'Admitted');
    }
    if (kit && body.type?.endsWith(':already-admitted') && body.registrationId) {
      kit.admitted[body.registrationId] = { at: body.admittedAt, by: body.admittedBy };
    }
    const detail = body.type?.endsWith(':already-admitted')
      ? `Already admitted at ${time(body.admittedAt)} by ${body.admittedBy}`
      : (body.title || 'Refused');
    return show(false, body.memberName || '', detail);
  }

  async function scanOffline(scan) {
    if (!kit) return show(false, '', 'No offline kit yet: connect once to load it.');
    const claims = await verifyLocally(scan.token);
    if (!claims) return show(false, '', 'Not a ticket');
    if (claims.eventId !== kit.eventId) return show(false, '', 'Ticket for another event');
    if (kit.eventStatus === 'cancelled') return show(false, '', 'Event cancelled');
    const revoked = kit.revoked[claims.registrationId];
    if (revoked) return show(false, revoked.name, refusals[revoked.reason] || 'Ticket does not admit');
    const admitted = kit.admitted[claims.registrationId];
    if (admitted) return show(false, kit.valid[claims.registrationId] || '', `Already admitted at ${time(admitted.at)} by ${admitted.by}`);

    kit.admitted[claims.registrationId] = { at: scan.scannedAt, by: scan.scannerId };
    await store('kit', 'readwrite', (s) => s.put(kit, settings.event));
    await queue.add(scan);
    await showQueued();
    return show(true, kit.valid[claims.registrationId] || 'Valid ticket', 'Admitted (offline, queued)');
  }

  // The kit's reasons (TicketCheck in TicketVerifier.cs), in the words of the server's answers (CheckinRules.cs).
  const refusals = {
    refunded: 'Ticket refunded',
    refund_due: 'Ticket being refunded',
    cancelled: 'Ticket cancelled',
    not_paid: 'Ticket not paid',
    event_cancelled: 'Event cancelled',
    unknown_registration: 'Ticket unknown',
  };

  function time(iso) {
    return iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '?';
  }

  function show(admit, name, detail) {
    const result = $('result');
    result.className = admit ? 'admit' : 'refuse';
    $('verdict').textContent = admit ? 'ADMIT' : 'STOP';
    $('name').textContent = name || '';
    $('detail').textContent = detail;
    result.hidden = false;
    navigator.vibrate?.(admit ? 80 : [200, 100, 200]);
    setTimeout(() => { result.hidden = true; }, RESULT_MS);
  }

  // ---- upload when the network is back ------------------------------------------------------------
  let uploading = false;

  async function showQueued() {
    const count = (await queue.all()).length;
    $('queued').textContent = `${count} queued`;
    $('queued').dataset.count = String(count);
  }

  async function upload() {
    if (uploading || !navigator.onLine) return;
    uploading = true;
    try {
      const scans = (await queue.all()).sort((a, b) => a.scannedAt.localeCompare(b.scannedAt)).slice(0, BATCH_MAX);
      if (scans.length === 0) return;
      const response = await fetch(new URL('batch', api), { method: 'POST', headers: headers(), body: JSON.stringify({ scans }) });
      if (!response.ok) {
        // A refusal of the whole batch is kept for a person to look at; the scans stay queued.
        $('upload').textContent = `Upload refused (${response.status}); scans kept on this phone.`;
        return;
      }
      const { results } = await response.json();
      await queue.remove(results.map((r) => r.nonce));
      const conflicts = results.filter((r) => r.outcome === 'conflict').length;
      const refused = results.filter((r) => r.outcome === 'refused').length;
      $('upload').textContent = `Uploaded ${results.length} offline scans` + (conflicts ? `, ${conflicts} already admitted elsewhere` : '') + (refused ? `, ${refused} refused` : '') + '.';
      document.body.dataset.uploaded = String(Number(document.body.dataset.uploaded || 0) + results.length);
      await loadKit();
    } catch {
      // Still offline after all; the next 'online' event or tick tries again.
    } finally {
      uploading = false;
      await showQueued();
    }
  }

  function onNetwork() {
    const online = navigator.onLine;
    $('network').textContent = online ? 'online' : 'offline';
    $('network').className = online ? 'online' : 'offline';
    if (online) upload().then(() => loadKit()).catch(() => {});
  }

  // ---- the camera and the decoder -----------------------------------------------------------------
  async function startCamera() {
    const video = $('camera');
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
    await video.play();
    const detector = 'BarcodeDetector' in window ? new window.BarcodeDetector({ formats: ['qr_code'] }) : null;
    const canvas = $('frame');
    const context = canvas.getContext('2d', { willReadFrequently: true });
    document.body.dataset.decoder = detector ? 'BarcodeDetector' : 'jsQR';

    const tick = async () => {
      try {
        if (video.readyState >= 2 && Date.now() >= busyUntil) {
          let text = null;
          if (detector) {
            const codes = await detector.detect(video);
            text = codes[0]?.rawValue ?? null;
          } else {
            const scale = Math.min(1, 640 / Math.max(video.videoWidth, video.videoHeight));
            canvas.width = Math.round(video.videoWidth * scale);
            canvas.height = Math.round(video.videoHeight * scale);
            context.drawImage(video, 0, 0, canvas.width, canvas.height);
            const image = context.getImageData(0, 0, canvas.width, canvas.height);
            text = window.jsQR(image.data, image.width, image.height, { inversionAttempts: 'dontInvert' })?.data ?? null;
          }
          if (text) await onCode(text);
        }
      } finally {
        setTimeout(tick, 120);
      }
    };
    tick();
  }

  // ---- start ------------------------------------------------------------------------------------
  function readLink() {
    // The setup link carries the key in the fragment, which browsers never send to a server.
    const hash = new URLSearchParams(location.hash.slice(1));
    if (hash.get('event') && hash.get('key')) {
      settings.save(hash.get('event'), hash.get('key'), hash.get('scanner') || settings.scanner);
      history.replaceState(null, '', location.pathname + location.search);
    }
  }

  async function start() {
    $('setup').hidden = true;
    $('scan').hidden = false;
    try {
      await loadKit();
    } catch (error) {
      $('upload').textContent = error.message;
    }
    onNetwork();
    await showQueued();
    // A tap starts the camera: browsers that want a gesture for it get one, and staff decide when the door opens.
    const button = $('start');
    button.hidden = false;
    button.addEventListener('click', async () => {
      button.hidden = true;
      try {
        await startCamera();
        document.body.dataset.scanning = 'true';
      } catch (error) {
        button.hidden = false;
        $('upload').textContent = `The camera could not be started: ${error.message}`;
      }
    }, { once: false });
    document.body.dataset.ready = 'true';
  }

  window.addEventListener('online', onNetwork);
  window.addEventListener('offline', onNetwork);
  setInterval(() => { upload(); }, 10000);
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('sw.js').catch(() => {});
  }

  readLink();
  if (settings.event && settings.key) {
    start();
  } else {
    $('setup').hidden = false;
    $('setup-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const form = new FormData(e.target);
      settings.save(form.get('event').trim(), form.get('key').trim(), form.get('scanner').trim() || 'door');
      start();
    });
  }
})();
