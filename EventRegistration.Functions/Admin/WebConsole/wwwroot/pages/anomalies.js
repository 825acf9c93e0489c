import { api } from '../api.js';
import { h, when, act, showNotice } from '../dom.js';
import { render } from '../app.js';

// Open anomalies, oldest first, in keyset pages; each resolved with a note.
export async function show(query) {
  const params = new URLSearchParams(query || '');
  const kind = params.get('kind') || '';
  const list = h('ul', { class: 'list', id: 'anomalies' });
  const more = h('button', { type: 'button', class: 'secondary', id: 'load-more', hidden: true }, 'Load more');
  const kindInput = h('input', { name: 'kind', id: 'anomaly-kind', value: kind, placeholder: 'e.g. ticket_delivery_failed' });
  const filter = h('form', { class: 'row filters' },
    h('label', { class: 'field' }, h('span', {}, 'Kind'), kindInput),
    h('button', { type: 'submit', class: 'secondary' }, 'Filter'));
  filter.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/anomalies${kindInput.value.trim() ? `?kind=${encodeURIComponent(kindInput.value.trim())}` : ''}`;
  });
  let nextAfter = null;

  const card = (anomaly) => {
    const note = h('textarea', { name: 'note', required: true, maxlength: 2000, 'aria-label': 'Resolution note' });
    const resolve = h('button', { type: 'submit' }, 'Resolve');
    const form = h('form', { class: 'resolve' }, h('label', { class: 'field' }, h('span', {}, 'Note'), note), resolve);
    const item = h('li', { class: 'card anomaly', dataset: { anomalyId: anomaly.id } },
      h('div', { class: 'row' }, h('h2', {}, anomaly.kind.replaceAll('_', ' ')), h('small', { class: 'muted' }, when(anomaly.createdAt))),
      h('p', {}, anomaly.detail),
      h('p', { class: 'muted' },
        anomaly.registrationId ? h('a', { href: `#/lookup?registrationId=${anomaly.registrationId}` }, 'Registration history') : null,
        anomaly.paymentId ? ` · payment ${anomaly.paymentId}` : ''),
      form);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      act(resolve, async () => {
        const resolved = await api('POST', `anomalies/${anomaly.id}/resolve`, { json: { note: note.value } });
        item.remove();
        showNotice(`Resolved (${resolved.kind.replaceAll('_', ' ')}) by ${resolved.resolvedBy}.`);
        if (!list.children.length && !nextAfter) list.replaceWith(h('p', { class: 'muted', id: 'anomalies' }, 'No open anomalies.'));
      });
    });
    return item;
  };

  const load = async (after) => {
    const page = await api('GET', `anomalies?limit=50${after ? `&after=${after}` : ''}${kind ? `&kind=${encodeURIComponent(kind)}` : ''}`);
    list.append(...page.anomalies.map(card));
    nextAfter = page.nextAfter || null;
    more.hidden = !nextAfter;
    return page;
  };
  more.addEventListener('click', () => act(more, () => load(nextAfter)));
  const first = await load(null);
  render(h('h1', {}, 'Open anomalies'), filter,
    first.anomalies.length ? list : h('p', { class: 'muted', id: 'anomalies' }, 'No open anomalies.'), more);
}
