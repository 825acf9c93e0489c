// The console's shell: who is signed in, which page is shown (by the URL's #fragment).
import { api, credentials, ApiError } from './api.js';
import { h, showError, clearMessage, showPending, act } from './dom.js';
import * as events from './pages/events.js';
import * as attendees from './pages/attendees.js';
import * as attendance from './pages/attendance.js';
import * as lookup from './pages/lookup.js';
import * as anomalies from './pages/anomalies.js';
import * as members from './pages/members.js';

// #/path?query → the page; each gets the path's captures, then the query string.
const routes = [
  [/^#\/events$/, () => events.list()],
  [/^#\/events\/new$/, () => events.edit(null)],
  [/^#\/events\/([0-9a-f-]{36})\/edit$/, (id) => events.edit(id)],
  [/^#\/events\/([0-9a-f-]{36})\/attendees$/, (id, query) => attendees.show(id, query)],
  [/^#\/events\/([0-9a-f-]{36})\/attendance$/, (id) => attendance.show(id)],
  [/^#\/lookup$/, (query) => lookup.show(query)],
  [/^#\/anomalies$/, (query) => anomalies.show(query)],
  [/^#\/members$/, () => members.show()],
];

let leaving = [];

// What a page must stop when another is shown (a refresh timer, for instance).
export function onLeave(cleanup) {
  leaving.push(cleanup);
}

let signedIn = false;

function main() { return document.getElementById('main'); }

export function render(...nodes) {
  main().replaceChildren(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
}

function signInPage(reason) {
  const input = h('input', { type: 'password', name: 'adminKey', autocomplete: 'current-password', required: true, id: 'admin-key' });
  const form = h('form', { class: 'card narrow', id: 'sign-in' },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Enter your admin key. It is kept in this browser tab only, until you sign out or close the tab.'),
    h('label', { class: 'field', for: 'admin-key' }, h('span', {}, 'Admin key'), input),
    h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(form.querySelector('button'), async () => {
      credentials.key = input.value.trim();
      try {
        await api('GET', 'events');
      } catch (error) {
        credentials.key = null;
        throw error;
      }
      signedIn = true;
      show();
    });
  });
  render(form);
  if (reason) showError(reason);
}

async function show() {
  for (const cleanup of leaving) cleanup();
  leaving = [];
  for (const dialog of document.querySelectorAll('dialog')) dialog.remove();
  clearMessage();
  showPending();
  document.getElementById('nav').hidden = !signedIn;
  if (!signedIn) return;
  const hash = location.hash || '#/events';
  const [path, query = ''] = hash.split('?');
  for (const [pattern, page] of routes) {
    const match = path.match(pattern);
    if (match) {
      try {
        await page(...match.slice(1), query);
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          signedIn = false;
          credentials.key = null;
          document.getElementById('nav').hidden = true;
          signInPage(error);
          return;
        }
        render(h('p', { class: 'muted' }, 'This page could not be loaded.'));
        showError(error);
      }
      return;
    }
  }
  render(h('p', {}, 'No such page. ', h('a', { href: '#/events' }, 'Go to the events.')));
}

async function start() {
  document.getElementById('sign-out').addEventListener('click', () => {
    credentials.key = null;
    signedIn = false;
    location.hash = '#/events';
    signInPage();
    document.getElementById('nav').hidden = true;
  });
  window.addEventListener('hashchange', show);
  // A key in this tab, or a person App Service Authentication signed in (the platform's cookie
  // comes with every call): either way the first call says whether we are in.
  try {
    await api('GET', 'events');
    signedIn = true;
    await show();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      credentials.key = null;
      signInPage();
    } else {
      signInPage(error);
    }
  }
}

start();
