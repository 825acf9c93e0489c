-- Admin operator actions (issue 10): cancelling an event, an operator's refund, a ticket resend.

-- A cancelled event says when, why and who (admin_audit holds the same with the values before and after).
alter table events add column cancelled_at timestamptz;
alter table events add column cancel_reason text check (length(cancel_reason) between 1 and 500);
alter table events add column cancelled_by text;
-- A cancellation is final: only a cancelled event carries one.
alter table events add constraint events_cancellation_only_when_cancelled check (cancelled_at is null or status = 'cancelled');

-- A payment that arrives for an event already cancelled: recorded and refunded, never counted (as for a full event).
alter table payments drop constraint payments_disposition_check;
alter table payments add constraint payments_disposition_check check (disposition in (
    'applied', 'event_full', 'duplicate', 'amount_mismatch', 'unknown_order', 'failed_attempt', 'observed',
    'refunded_before_capture', 'event_cancelled'));

-- An explicit new delivery of a sent or failed ticket, asked for by an operator. The request key
-- (the Idempotency-Key header) makes a repeated or doubled request the same resend: one row, one message.
create table ticket_resends (
    id                  bigint generated always as identity primary key,
    registration_id     uuid        not null references event_registrations (id),
    request_key         text        not null check (length(request_key) between 1 and 200),
    actor               text        not null check (length(actor) between 1 and 300),
    reason              text        not null check (length(reason) between 1 and 500),
    previous_status     text        not null check (previous_status in ('sent', 'failed')),
    previous_attempts   integer     not null check (previous_attempts >= 0),
    previous_wamid      text,
    previous_error      text,
    requested_at        timestamptz not null,
    constraint ticket_resends_one_per_request unique (registration_id, request_key)
);

-- Receipts for the message a resend replaced still arrive; they are known by the wamid kept here.
create index ticket_resends_previous_wamid on ticket_resends (previous_wamid) where previous_wamid is not null;
