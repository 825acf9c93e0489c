import { api, session } from '../api.js';
import { h, when, money, showError, clearMessage, act } from '../dom.js';
import { render, onLeave } from '../app.js';
import { registrationActions } from './registrationActions.js';

const statuses = ['', 'pending', 'paid', 'refund_due', 'refunded', 'cancelled'];
const refreshMs = 5000;

// An event's registrations, by registration id in keyset pages ("Load more"), filtered by status
// on the server and searched by name, number or payment id among the rows loaded. The rows
// loaded are refreshed every few seconds, so a payment shows up while the page is open.
export async function show(eventId, query) {
  const params = new URLSearchParams(query || '');
  const status = params.get('status') || '';
  const { events } = await api('GET', 'events');
  const event = events.find((e) => e.id === eventId);
  if (!event) {
    render(h('p', {}, 'No event has this id. ', h('a', { href: '#/events' }, 'Back to the events.')));
    return;
  }

  let rows = [];
  let nextAfter = null;
  const search = h('input', { type: 'search', id: 'attendee-search', placeholder: 'Name, number or payment id' });
  const filter = h('select', { id: 'attendee-status' }, statuses.map((s) => h('option', { value: s, selected: s === status }, s || 'any status')));
  const body = h('tbody');
  const summary = h('p', { class: 'muted', id: 'attendee-summary' });
  const more = h('button', { type: 'button', class: 'secondary', id: 'load-more', hidden: true }, 'Load more');

  const statusQuery = status ? `&status=${encodeURIComponent(status)}` : '';
  const fetchPage = (after, limit) =>
    api('GET', `events/${eventId}/attendees?limit=${limit}${after ? `&after=${after}` : ''}${statusQuery}`);

  // The payment's refund beside the status: an operator's refund or the event's cancellation leaves
  // the registration paid (its seat held) until Razorpay reports the whole amount back.
  function refundBadge(a) {
    switch (a.refund && a.refund.status) {
      case 'due':
      case 'requested':
        return h('span', { class: 'refund under-way', title: 'Owed back to the member; the seat is released when Razorpay reports the refund processed.' },
          'Refund under way');
      case 'failed':
        // Nothing retries a failed refund and the API refuses a new one (docs/runbook.md, refunds-failed).
        return [h('span', { class: 'refund failed' }, 'Refund failed'),
          h('small', { class: 'muted refund-note' }, 'Razorpay failed it: an operator finishes it in the Razorpay Dashboard.')];
      case 'partial':
        return h('span', { class: 'refund partial', title: 'Part of the payment was refunded from the Razorpay Dashboard.' },
          `${money(a.refund.amountRefundedPaise, event.currency)} refunded`);
      default:
        return null;
    }
  }

  function draw() {
    const term = search.value.trim().toLowerCase();
    const shown = rows.filter((a) => !term
      || a.name.toLowerCase().includes(term) || a.phoneE164.includes(term) || (a.paymentId || '').toLowerCase().includes(term));
    body.replaceChildren(...shown.map((a) => h('tr', { dataset: { registrationId: a.registrationId } },
      h('td', { 'data-label': 'Name' }, a.name),
      h('td', { 'data-label': 'WhatsApp' }, a.phoneE164),
      h('td', { 'data-label': 'Status' }, h('div', { class: 'status-cell' }, h('span', { class: `status ${a.status}` }, a.status), refundBadge(a))),
      h('td', { 'data-label': 'Payment' }, a.paymentId || '—', a.paidAt ? h('small', { class: 'muted' }, ` ${when(a.paidAt)}`) : null),
      h('td', { 'data-label': 'Ticket' }, h('span', { class: `status ${a.ticketStatus}` }, a.ticketStatus)),
      // The door check-in: when, and by which scanner (its id); empty until admitted.
      h('td', { 'data-label': 'Admitted at', class: 'admitted-at' }, a.admittedAt ? when(a.admittedAt, event.timeZone) : '—'),
      h('td', { 'data-label': 'Admitted by', class: 'admitted-by' }, a.admittedBy || '—'),
      h('td', { 'data-label': '' },
        h('div', { class: 'actions' },
          // The history is the operators' look-up: an organiser would only be refused it.
          session.isOperator ? h('a', { class: 'button secondary', href: `#/lookup?registrationId=${a.registrationId}` }, 'History') : null,
          registrationActions(a, refresh))))));
    summary.textContent = term
      ? `${shown.length} of ${rows.length} loaded match “${search.value.trim()}”${nextAfter ? ' (load more to search further)' : ''}.`
      : `${rows.length} registration${rows.length === 1 ? '' : 's'}${nextAfter ? ' loaded so far' : ''}.`;
    more.hidden = !nextAfter;
  }

  async function refresh() {
    const page = await fetchPage(null, Math.min(1000, Math.max(100, rows.length)));
    rows = page.attendees;
    nextAfter = page.nextAfter || null;
    draw();
  }

  // The whole list (same status filter) as the API's spreadsheet-safe CSV, saved by the browser.
  const download = h('button', { type: 'button', class: 'secondary', id: 'download-csv' }, 'Download CSV');
  download.addEventListener('click', () => act(download, async () => {
    const file = await api('GET', `events/${eventId}/attendees${status ? `?status=${encodeURIComponent(status)}` : ''}`,
      { headers: { Accept: 'text/csv' }, blob: true });
    const url = URL.createObjectURL(file);
    const link = h('a', { href: url, download: `attendees-${event.title.replace(/[^\p{L}\p{N}]+/gu, '-')}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }));

  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const page = await fetchPage(nextAfter, 100);
      rows = rows.concat(page.attendees);
      nextAfter = page.nextAfter || null;
      draw();
    } catch (error) {
      showError(error);
    } finally {
      more.disabled = false;
    }
  });
  search.addEventListener('input', draw);
  filter.addEventListener('change', () => {
    location.hash = `#/events/${eventId}/attendees${filter.value ? `?status=${filter.value}` : ''}`;
  });

  await refresh();
  // Left while the first page loaded: no timer for a page no one sees.
  if (location.hash.split('?')[0] !== `#/events/${eventId}/attendees`) return;
  let failing = false;
  const timer = setInterval(async () => {
    if (document.hidden) return;
    try {
      await refresh();
      if (failing) clearMessage();
      failing = false;
    } catch (error) {
      failing = true;
      showError(error);
    }
  }, refreshMs);
  onLeave(() => clearInterval(timer));

  render(
    h('p', {}, h('a', { href: '#/events' }, '← Events')),
    h('h1', {}, `Attendees · ${event.title}`),
    h('div', { class: 'two filters' },
      h('label', { class: 'field' }, h('span', {}, 'Search'), search),
      h('label', { class: 'field' }, h('span', {}, 'Status'), filter)),
    h('div', { class: 'row' }, summary, download),
    h('div', { class: 'table-wrap' },
      h('table', { class: 'cards', id: 'attendees' },
        h('thead', {}, h('tr', {}, ['Name', 'WhatsApp', 'Status', 'Payment', 'Ticket', 'Admitted at', 'Admitted by', ''].map((t) => h('th', {}, t)))),
        body)),
    more);
}
