import { api } from '../api.js';
import { h, showError, clearMessage } from '../dom.js';
import { render, onLeave } from '../app.js';

const refreshMs = 10000;

// A width through the CSSOM: an inline style attribute would need 'unsafe-inline' in the policy.
function sized(element, fraction) {
  element.style.width = `${Math.max(0, Math.min(100, 100 * fraction)).toFixed(2)}%`;
  return element;
}

// The hour as the venue's clock showed it: the API's hour carries the event's offset, so the
// event's zone gives back the same wall-clock hour whatever zone the browser is in.
function hourLabel(iso, timeZone, withDate) {
  const start = new Date(iso);
  const end = new Date(start.getTime() + 3600_000);
  const format = (date, options) => {
    try {
      return new Intl.DateTimeFormat('en-IN', { ...options, timeZone }).format(date);
    } catch {
      return new Intl.DateTimeFormat('en-IN', options).format(date);
    }
  };
  const time = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  const span = `${format(start, time)}–${format(end, time)}`;
  return withDate ? `${format(start, { day: 'numeric', month: 'short' })}, ${span}` : span;
}

function door(a) {
  const notYet = Math.max(0, a.paid - a.admittedPaid);
  const bar = h('div', { class: 'bar', role: 'img', 'aria-label': `${a.admittedPaid} of ${a.paid} paid admitted, ${notYet} not yet` },
    a.paid > 0 ? sized(h('span', { class: 'paid' }), a.admittedPaid / a.paid) : null);
  const key = (kind) => h('span', { class: `key ${kind}`, 'aria-hidden': 'true' });
  return h('div', { class: 'card' },
    h('h2', {}, 'At the door'),
    h('div', { class: 'seats' }, bar,
      h('small', { id: 'attendance-summary' }, key('paid'), `${a.admittedPaid} of ${a.paid} paid admitted · `, key('free'), `${notYet} not yet`)),
    h('dl', { class: 'counts', id: 'attendance-counts' },
      h('dt', {}, 'Paid'), h('dd', { dataset: { count: 'paid' } }, String(a.paid)),
      h('dt', {}, 'Admitted'), h('dd', { dataset: { count: 'admitted' } }, String(a.admitted)),
      h('dt', {}, 'Admitted and still paid'), h('dd', { dataset: { count: 'admittedPaid' } }, String(a.admittedPaid)),
      h('dt', {}, 'Offline conflicts'), h('dd', { dataset: { count: 'conflicts' } }, String(a.conflicts))),
    a.admitted > a.admittedPaid
      ? h('p', { class: 'muted' }, `${a.admitted - a.admittedPaid} admitted ticket${a.admitted - a.admittedPaid === 1 ? ' was' : 's were'} refunded or cancelled afterwards.`)
      : null,
    a.conflicts > 0
      ? h('p', { class: 'muted' }, 'A conflict is one ticket scanned at two doors while offline: the earlier scan admitted it, the later one was refused.')
      : null);
}

function hours(a) {
  if (!a.byHour.length) return h('p', { class: 'muted', id: 'attendance-hours' }, 'No one admitted yet.');
  const most = Math.max(...a.byHour.map((x) => x.admitted));
  const days = new Set(a.byHour.map((x) => x.hour.slice(0, 10)));
  return h('table', { id: 'attendance-hours', class: 'hours' },
    h('thead', {}, h('tr', {}, h('th', {}, `Hour (${a.timeZone})`), h('th', {}, 'Admitted'))),
    h('tbody', {}, a.byHour.map((x) => h('tr', { dataset: { hour: x.hour } },
      h('th', { scope: 'row' }, hourLabel(x.hour, a.timeZone, days.size > 1)),
      h('td', {}, h('div', { class: 'hour-bar' },
        sized(h('span', { class: 'fill', 'aria-hidden': 'true' }), x.admitted / most),
        h('span', { class: 'n' }, String(x.admitted))))))));
}

// One event's door: paid seats admitted (a bar), all admissions, offline conflicts and admissions
// per hour in the event's zone. Refreshed while open, as people come in during the evening.
export async function show(eventId) {
  const path = `#/events/${eventId}/attendance`;
  const read = () => api('GET', `events/${eventId}/attendance`);
  const body = h('div', { id: 'attendance' });
  const draw = (a) => body.replaceChildren(door(a), h('div', { class: 'card' }, h('h2', {}, 'Admitted by hour'), hours(a)));

  const first = await read();
  draw(first);
  // Left while it loaded: no timer for a page no one sees.
  if (location.hash.split('?')[0] !== path) return;
  let failing = false;
  const timer = setInterval(async () => {
    if (document.hidden) return;
    try {
      draw(await read());
      if (failing) clearMessage();
      failing = false;
    } catch (error) {
      failing = true;
      showError(error);
    }
  }, refreshMs);
  onLeave(() => clearInterval(timer));

  render(
    h('p', {}, h('a', { href: '#/events' }, '← Events'), ' · ', h('a', { href: `#/events/${eventId}/attendees` }, 'Attendees')),
    h('h1', {}, `Attendance · ${first.title}`),
    body);
}
