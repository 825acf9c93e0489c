import { api, session } from '../api.js';
import { h, showNotice } from '../dom.js';
import { withReason } from './dialogs.js';

// Refund and resend, offered where a registration is shown (attendees, look-up), to operators only:
// the API refuses both to an organiser, so an organiser is not shown a button that can only fail.
export function registrationActions(registration, afterChange) {
  const id = registration.registrationId;
  const buttons = [];
  if (!session.isOperator) return buttons;
  // A refund owed or asked of Razorpay is under way; a failed one is finished in the Razorpay
  // Dashboard (the API refuses both). A part refund from the Dashboard may still be completed here.
  const refund = registration.refund && registration.refund.status;
  if (registration.status === 'paid' && !['due', 'requested', 'failed'].includes(refund)) {
    buttons.push(h('button', {
      type: 'button', class: 'secondary', dataset: { action: 'refund', registrationId: id },
      onclick: () => withReason({
        title: 'Refund this registration',
        explain: 'The whole payment goes back through Razorpay; the seat is released when Razorpay reports the refund processed.',
        confirm: 'Refund', danger: true,
        action: async (reason) => {
          await api('POST', `registrations/${id}/refund`, { json: { reason } });
          showNotice('Refund requested. The registration becomes refunded when Razorpay reports it processed.');
          await afterChange();
        },
      }),
    }, 'Refund'));
  }
  // A ticket whose money is on its way back no longer admits, so it is not sent again (the API refuses too).
  const ticketAdmits = !['due', 'requested', 'failed', 'processed'].includes(refund);
  if (ticketAdmits && (registration.ticketStatus === 'sent' || registration.ticketStatus === 'failed')) {
    buttons.push(h('button', {
      type: 'button', class: 'secondary', dataset: { action: 'resend', registrationId: id },
      onclick: () => {
        // One key per request a person makes: a retry of the same dialog cannot send twice.
        const idempotencyKey = crypto.randomUUID();
        withReason({
          title: 'Resend the ticket',
          explain: 'The member gets the same ticket again on WhatsApp.',
          confirm: 'Resend ticket',
          action: async (reason) => {
            await api('POST', `registrations/${id}/resend`, { json: { reason }, headers: { 'Idempotency-Key': idempotencyKey } });
            showNotice('Ticket resend queued.');
            await afterChange();
          },
        });
      },
    }, 'Resend ticket'));
  }
  return buttons;
}
