-- Issue #13's remaining parts: the e-mail fallback of an undeliverable ticket, the operator's
-- release of a sending hold, and the retention of WhatsApp webhook bodies and recipient numbers.

-- One row per ticket, at most: the fallback is claimed by inserting it, in the transaction that
-- first records the WhatsApp failure, so duplicate and concurrent failure webhooks claim it once.
-- Its own state machine, like ticket_deliveries: queued → sending (attempt recorded before the SMTP
-- call) → sent | failed; next_attempt_at when a retry is scheduled. The member's address is read
-- from members when the e-mail is sent and never copied here.
create table ticket_email_fallbacks (
    registration_id uuid        primary key references event_registrations (id),
    status          text        not null default 'queued' check (status in ('queued', 'sending', 'sent', 'failed')),
    reason          text        not null,
    wamid           text,
    message_id      text        not null check (length(message_id) between 3 and 300),
    attempts        integer     not null default 0 check (attempts >= 0),
    last_attempt_at timestamptz,
    next_attempt_at timestamptz,
    last_error      text,
    sent_at         timestamptz,
    created_at      timestamptz not null,
    updated_at      timestamptz not null,
    constraint ticket_email_fallbacks_sent_has_time check (status <> 'sent' or sent_at is not null)
);

create index ticket_email_fallbacks_open on ticket_email_fallbacks (updated_at) where status in ('queued', 'sending');

-- A delivery postponed by a sending hold is marked, so that releasing the hold resumes exactly
-- those (and not a ticket waiting out a rate limit).
alter table ticket_deliveries add column held_since timestamptz;
create index ticket_deliveries_held on ticket_deliveries (held_since) where held_since is not null;

-- Who released a hold and why; the admin_audit row says the same in the release's transaction.
alter table whatsapp_sending_holds add column released_by text;
alter table whatsapp_sending_holds add column release_note text check (length(release_note) between 1 and 2000);

-- Retention: processed bodies are purged after WhatsAppWebhook__InboxRetentionDays (the row stays,
-- so a redelivery of the same bytes still dedupes on its hash), and so are the recipients' numbers.
alter table whatsapp_webhook_inbox alter column body drop not null;
alter table whatsapp_webhook_inbox add column body_purged_at timestamptz;
alter table whatsapp_webhook_inbox add constraint whatsapp_webhook_inbox_body_or_purged
    check (body is not null or (body_purged_at is not null and processed_at is not null));
create index whatsapp_webhook_inbox_purgeable on whatsapp_webhook_inbox (processed_at) where body is not null;
create index whatsapp_statuses_recipient_kept on whatsapp_statuses (received_at) where recipient_id is not null;
