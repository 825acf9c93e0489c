import { api } from '../api.js';
import { h, money, when, act } from '../dom.js';
import { render } from '../app.js';
import { registrationActions } from './registrationActions.js';

const keys = [
  ['registrationId', 'Registration id'],
  ['orderId', 'Razorpay order id (order_…)'],
  ['paymentId', 'Razorpay payment id (pay_…)'],
];

function describe(detail) {
  if (detail === null || detail === undefined) return null;
  if (typeof detail !== 'object') return String(detail);
  return Object.entries(detail)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(' · ');
}

// One registration by its id, order id or payment id, with everything that happened to it.
export async function show(query) {
  const params = new URLSearchParams(query || '');
  const given = keys.find(([k]) => params.get(k));
  const kind = h('select', { name: 'kind', id: 'lookup-kind' },
    keys.map(([k, label]) => h('option', { value: k, selected: given ? given[0] === k : k === 'registrationId' }, label)));
  const value = h('input', { name: 'value', id: 'lookup-value', required: true, value: given ? params.get(given[0]) : '' });
  const go = h('button', { type: 'submit' }, 'Look up');
  const form = h('form', { class: 'card', id: 'lookup-form' },
    h('h1', {}, 'Registration history'),
    h('div', { class: 'two' },
      h('label', { class: 'field' }, h('span', {}, 'Look up by'), kind),
      h('label', { class: 'field' }, h('span', {}, 'Value'), value)),
    go);
  const result = h('section', { id: 'lookup-result' });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/lookup?${kind.value}=${encodeURIComponent(value.value.trim())}`;
  });
  render(form, result);
  if (!given) return;

  const load = async () => {
    const registration = await api('GET', `registrations/lookup?${given[0]}=${encodeURIComponent(params.get(given[0]))}`);
    // The delivery's current status rides on its ticket_queued entry.
    const ticket = registration.history.find((e) => e.what === 'ticket_queued');
    const ticketStatus = ticket && ticket.detail ? ticket.detail.status : undefined;
    // The refund state rides on the registration's own payment entry (the attendees list carries it as `refund`).
    const payment = registration.history.find((e) => e.what === 'payment' && e.detail && e.detail.paymentId === registration.paymentId);
    const refund = payment && payment.detail.refundStatus ? { status: payment.detail.refundStatus } : null;
    result.replaceChildren(
      h('div', { class: 'card' },
        h('div', { class: 'row' },
          h('h2', {}, `Registration ${registration.registrationId}`),
          h('span', { class: `status ${registration.status}` }, registration.status)),
        h('p', { class: 'muted' },
          `Order ${registration.orderId || '—'} · payment ${registration.paymentId || '—'} · ${money(registration.amountPaise, registration.currency)}`),
        h('p', {}, h('a', { href: `#/events/${registration.eventId}/attendees` }, 'The event’s attendees')),
        h('div', { class: 'actions' },
          registrationActions({ registrationId: registration.registrationId, status: registration.status, ticketStatus, refund }, load))),
      h('ol', { class: 'history card', id: 'history' },
        registration.history.map((entry) => h('li', { dataset: { what: entry.what } },
          h('strong', {}, entry.what.replaceAll('_', ' ')), ' ', h('small', { class: 'muted' }, when(entry.at)),
          describe(entry.detail) ? h('div', { class: 'muted detail' }, describe(entry.detail)) : null))));
  };
  await act(null, load);
}
