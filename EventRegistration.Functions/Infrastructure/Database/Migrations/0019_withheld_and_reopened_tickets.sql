-- A ticket not yet sent when its refund becomes owed (an operator's refund, the event's
-- cancellation, a refund Razorpay reported) is not sent: the door would refuse it
-- (TicketVerifier). Its WhatsApp delivery, and its e-mail fallback, end 'withheld' with the reason
-- in last_error: final, not a failure (no anomaly, no alert), and never enqueued again (the open
-- indexes cover 'queued' and 'sending' only).
alter table ticket_deliveries drop constraint ticket_deliveries_status_check;
alter table ticket_deliveries add constraint ticket_deliveries_status_check
    check (status in ('queued', 'sending', 'sent', 'failed', 'withheld'));

alter table ticket_email_fallbacks drop constraint ticket_email_fallbacks_status_check;
alter table ticket_email_fallbacks add constraint ticket_email_fallbacks_status_check
    check (status in ('queued', 'sending', 'sent', 'failed', 'withheld'));

-- When an operator's resend last reopened the delivery (null: never; the confirmation's insert is
-- its opening, created_at). A delivery still exactly as it was opened (queued, no attempt, nothing
-- scheduled, updated_at = coalesce(opened_at, created_at)) has had its message lost if it is older
-- than the reconciliation's short grace, whether the confirmation or a resend opened it. Nullable
-- with no default, so adding it rewrites nothing and the confirmation's insert is unchanged.
alter table ticket_deliveries add column opened_at timestamptz;
