// The console's shell: who is signed in, which page is shown (by the URL's #fragment).
import { api, credentials, session, ApiError } from './api.js';
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

// Asks the API who this is; the answer (or the 401/403 problem) also says which ways in to offer.
async function loadSession() {
  try {
    const answer = await api('GET', 'session');
    Object.assign(session, { role: answer.role, signedInWith: answer.signedInWith, signIn: answer.signIn });
  } catch (error) {
    if (error instanceof ApiError && error.problem.signIn) session.signIn = error.problem.signIn;
    Object.assign(session, { role: null, signedInWith: null });
    throw error;
  }
}

// The navigation as this person may use it: no operator-only page for an organiser, and the
// sign-out that undoes how they signed in (the key in this tab, or App Service Authentication's cookie).
function drawNav() {
  document.getElementById('nav').hidden = !signedIn;
  for (const link of document.querySelectorAll('#nav [data-role="operator"]')) link.hidden = !session.isOperator;
  const microsoft = session.signedInWith === 'appServiceAuthentication' && session.signIn.microsoft;
  document.getElementById('sign-out').hidden = Boolean(microsoft);
  const leave = document.getElementById('sign-out-microsoft');
  leave.hidden = !microsoft;
  if (microsoft) leave.href = session.signIn.microsoft.logout;
}

function signInPage(reason) {
  const input = h('input', { type: 'password', name: 'adminKey', autocomplete: 'current-password', required: true, id: 'admin-key' });
  const microsoft = session.signIn.microsoft;
  const form = h('form', { class: 'card narrow', id: 'sign-in' },
    h('h1', {}, 'Sign in'),
    microsoft ? h('p', {}, h('a', { class: 'button', id: 'sign-in-microsoft', href: microsoft.login }, 'Sign in with Microsoft')) : null,
    h('p', { class: 'muted' }, `${microsoft ? 'Or enter an admin key' : 'Enter your admin key'}. It is kept in this browser tab only, until you sign out or close the tab.`),
    h('label', { class: 'field', for: 'admin-key' }, h('span', {}, 'Admin key'), input),
    h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(form.querySelector('button[type="submit"]'), async () => {
      credentials.key = input.value.trim();
      try {
        await loadSession();
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

// Signed in by App Service Authentication but without an admin role: say so, and offer to sign out.
function noRolePage(error) {
  const microsoft = session.signIn.microsoft;
  render(h('section', { class: 'card narrow', id: 'no-role' },
    h('h1', {}, 'No admin role'),
    h('p', {}, 'You are signed in, but your account has neither the organiser nor the operator role. Ask an administrator to assign one, or sign in as someone else.'),
    microsoft ? h('p', {}, h('a', { class: 'button secondary', id: 'no-role-sign-out', href: microsoft.logout }, 'Sign out')) : null));
  showError(error);
}

async function show() {
  for (const cleanup of leaving) cleanup();
  leaving = [];
  for (const dialog of document.querySelectorAll('dialog')) dialog.remove();
  clearMessage();
  showPending();
  drawNav();
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
          Object.assign(session, { role: null, signedInWith: null });
          drawNav();
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
    Object.assign(session, { role: null, signedInWith: null });
    location.hash = '#/events';
    signInPage();
    drawNav();
  });
  window.addEventListener('hashchange', show);
  // A key in this tab, or a person App Service Authentication signed in (the platform's cookie
  // comes with every call): either way the session call says whether we are in, and as whom.
  try {
    await loadSession();
    signedIn = true;
    await show();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      credentials.key = null;
      signInPage();
    } else if (error instanceof ApiError && error.status === 403) {
      noRolePage(error);
    } else {
      signInPage(error);
    }
  }
}

start();
