import { api, session, ApiError } from '../api.js';
import { h, money, when, act, field, flash, showNotice } from '../dom.js';
import { render } from '../app.js';
import { withReason } from './dialogs.js';

function cancelButton(event) {
  return h('button', {
    type: 'button', class: 'danger', dataset: { action: 'cancel', eventId: event.id },
    onclick: () => withReason({
      title: `Cancel ${event.title}`,
      explain: 'The event stops taking orders and every paid registration is refunded through Razorpay. This cannot be undone.',
      confirm: 'Cancel the event', danger: true,
      action: async (reason) => {
        await api('POST', `events/${event.id}/cancel`, { json: { reason } });
        await list();
        showNotice(`“${event.title}” is cancelled; its refunds are under way.`);
      },
    }),
  }, 'Cancel event');
}

// A cancelled event: who, when, why, and where its refunds are (the ledger's states).
const refundStates = [['notYetDue', 'not yet due'], ['due', 'due'], ['requested', 'requested'], ['processed', 'processed'], ['failed', 'failed']];

function cancellation(event) {
  const c = event.cancellation;
  if (!c) return null;
  const refunds = c.refunds || {};
  return h('div', { class: 'cancellation' },
    h('p', { class: 'muted' }, `Cancelled ${when(c.cancelledAt, event.timeZone)}${c.cancelledBy ? ` by ${c.cancelledBy}` : ''}: ${c.reason}`),
    h('p', { class: 'refunds' }, 'Refunds: ',
      refundStates.filter(([k]) => typeof refunds[k] === 'number').map(([k, label]) => `${refunds[k]} ${label}`).join(' · ')));
}

// Seats as one bar: paid, held by unpaid orders, free. Uncapped events show counts only.
function seatBar(event) {
  if (event.capacity === null || event.capacity === undefined) {
    return h('div', { class: 'seats' }, h('small', {}, `${event.paidSeats} paid · ${event.heldSeats} held · no limit`));
  }
  const pct = (n) => `${Math.min(100, (100 * n) / event.capacity).toFixed(2)}%`;
  const bar = h('div', { class: 'bar', role: 'img', 'aria-label': `${event.paidSeats} paid, ${event.heldSeats} held, ${event.freeSeats} free of ${event.capacity}` },
    h('span', { class: 'paid', 'data-width': pct(event.paidSeats) }),
    h('span', { class: 'held', 'data-width': pct(event.heldSeats) }));
  // Widths through the CSSOM: an inline style attribute would need 'unsafe-inline' in the policy.
  for (const span of bar.querySelectorAll('span')) span.style.width = span.dataset.width;
  const key = (kind) => h('span', { class: `key ${kind}`, 'aria-hidden': 'true' });
  return h('div', { class: 'seats' }, bar,
    h('small', {}, key('paid'), `${event.paidSeats} paid · `, key('held'), `${event.heldSeats} held · `,
      key('free'), `${event.freeSeats} free of ${event.capacity}`));
}

export async function list() {
  const { events } = await api('GET', 'events');
  const rows = events.map((event) => h('li', { class: 'card event', dataset: { eventId: event.id } },
    h('div', { class: 'row' },
      h('h2', {}, event.title),
      h('span', { class: `status ${event.status}` }, event.status)),
    h('p', { class: 'muted' }, when(event.startsAt, event.timeZone), event.venue ? ` · ${event.venue}` : '', ' · ', money(event.pricePaise, event.currency)),
    seatBar(event),
    cancellation(event),
    h('div', { class: 'actions' },
      h('a', { class: 'button', href: `#/events/${event.id}/attendees` }, 'Attendees'),
      h('a', { class: 'button secondary', href: `#/events/${event.id}/attendance` }, 'Attendance'),
      event.status === 'cancelled' ? null : h('a', { class: 'button secondary', href: `#/events/${event.id}/edit` }, 'Edit'),
      event.status === 'cancelled' || !session.isOperator ? null : cancelButton(event))));
  render(
    h('div', { class: 'row' }, h('h1', {}, 'Events'), h('a', { class: 'button', href: '#/events/new', id: 'new-event' }, 'New event')),
    rows.length ? h('ul', { class: 'list', id: 'events' }, rows) : h('p', { class: 'muted', id: 'events' }, 'No events yet. Create the first one.'));
}

// --- create / edit ------------------------------------------------------------------------

// The wall-clock time typed for an IANA zone, as ISO 8601 with that zone's offset at that moment.
export function zonedIso(local, timeZone) {
  const [date, time] = local.split('T');
  const [y, mo, d] = date.split('-').map(Number);
  const [hh, mi] = time.split(':').map(Number);
  const asUtc = Date.UTC(y, mo - 1, d, hh, mi);
  const offsetAt = (instant) => {
    const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    }).formatToParts(new Date(instant)).map((p) => [p.type, p.value]));
    const wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute);
    return (wall - instant) / 60000;
  };
  let offset = offsetAt(asUtc);
  offset = offsetAt(asUtc - offset * 60000);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  const pad = (n) => String(n).padStart(2, '0');
  return `${date}T${pad(hh)}:${pad(mi)}:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function localInput(iso, timeZone) {
  if (!iso) return '';
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  }).formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

// Rupees as typed ("500", "499.50") to paise, without floating point.
export function toPaise(text) {
  const match = /^\s*(\d{1,9})(?:\.(\d{1,2}))?\s*$/.exec(text);
  if (!match) return NaN;
  return Number(match[1]) * 100 + Number((match[2] || '').padEnd(2, '0'));
}

// An empty date goes as it is (the API names the field); a zone the browser does not know
// cannot give an offset, so it is refused here, in the API's words and shape.
function startsAtIso(local, timeZone) {
  if (!local) return '';
  try {
    return zonedIso(local, timeZone);
  } catch {
    throw new ApiError(400, 'Invalid field', `'${timeZone}' is not a time zone (an IANA name such as Asia/Kolkata).`, 'timeZone');
  }
}

export async function edit(id) {
  let event = { title: '', startsAt: null, timeZone: 'Asia/Kolkata', venue: '', capacity: 100, pricePaise: 50000, currency: 'INR', status: 'draft' };
  if (id) {
    const { events } = await api('GET', 'events');
    event = events.find((e) => e.id === id);
    if (!event) {
      render(h('p', {}, 'No event has this id. ', h('a', { href: '#/events' }, 'Back to the events.')));
      return;
    }
  }
  const input = (name, attributes) => h('input', { name, id: `event-${name}`, ...attributes });
  const title = input('title', { required: true, maxlength: 200, value: event.title });
  const startsAt = input('startsAt', { type: 'datetime-local', required: true, value: localInput(event.startsAt, event.timeZone) });
  const timeZone = input('timeZone', { required: true, value: event.timeZone, list: 'zones' });
  const venue = input('venue', { value: event.venue || '' });
  const capacity = input('capacity', { type: 'number', min: 1, step: 1, value: event.capacity ?? '' });
  const price = input('pricePaise', { inputmode: 'decimal', required: true, value: (event.pricePaise / 100).toFixed(2) });
  const status = h('select', { name: 'status', id: 'event-status' },
    ['draft', 'open', 'closed'].map((s) => h('option', { value: s, selected: s === event.status }, s)));
  const save = h('button', { type: 'submit' }, id ? 'Save changes' : 'Create event');
  const form = h('form', { class: 'card', id: 'event-form', novalidate: true },
    h('h1', {}, id ? `Edit ${event.title}` : 'New event'),
    field('Title', title),
    h('div', { class: 'two' },
      field('Starts at', startsAt, 'Wall-clock time where it is held'),
      field('Time zone', timeZone, 'IANA name, e.g. Asia/Kolkata')),
    h('datalist', { id: 'zones' }, ['Asia/Kolkata', 'Asia/Dubai', 'Asia/Singapore', 'Europe/London', 'America/New_York'].map((z) => h('option', { value: z }))),
    field('Venue', venue),
    h('div', { class: 'two' },
      field('Capacity', capacity, 'Empty for no limit'),
      field(`Price (${event.currency})`, price, 'e.g. 500 or 499.50')),
    field('Status', status, 'Draft and closed events take no orders'),
    h('div', { class: 'actions' }, save, h('a', { class: 'button secondary', href: '#/events' }, 'Back')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(save, async () => {
      const body = {
        title: title.value,
        // An empty or odd date is sent as typed: the API names the field at fault.
        startsAt: startsAtIso(startsAt.value, timeZone.value),
        timeZone: timeZone.value,
        venue: venue.value || null,
        capacity: capacity.value === '' ? null : Number(capacity.value),
        pricePaise: toPaise(price.value),
        currency: event.currency,
        status: status.value,
      };
      if (Number.isNaN(body.pricePaise)) body.pricePaise = price.value;
      if (body.capacity !== null && Number.isNaN(body.capacity)) body.capacity = capacity.value;
      const saved = id ? await api('PUT', `events/${id}`, { json: body }) : await api('POST', 'events', { json: body });
      flash(id ? `Saved “${saved.title}”.` : `Created “${saved.title}”.`);
      location.hash = '#/events';
    }, form);
  });
  render(form);
}
