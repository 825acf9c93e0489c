-- WhatsApp delivery receipts. Every signed status webhook is stored byte for byte before it is
-- acted on (keyed by the SHA-256 of its body: Meta redelivers the same bytes), and each status is
-- recorded once per (wamid, status), whatever order they come in and however often.

create table whatsapp_webhook_inbox (
    id              bigint generated always as identity primary key,
    body_sha256     bytea       not null unique check (length(body_sha256) = 32),
    body            bytea       not null,
    received_at     timestamptz not null,
    delivery_count  integer     not null default 1 check (delivery_count >= 1),
    processed_at    timestamptz,
    statuses        integer,
    last_error      text
);

create index whatsapp_webhook_inbox_unprocessed on whatsapp_webhook_inbox (received_at) where processed_at is null;

-- One row per message and status: the dedupe key Meta's redeliveries and repeats collapse on. A
-- status for a wamid no ticket carries is kept too (registration_id null), for an operator.
create table whatsapp_statuses (
    wamid           text        not null check (length(wamid) between 1 and 256),
    status          text        not null check (status in ('sent', 'delivered', 'read', 'failed')),
    occurred_at     timestamptz not null,
    registration_id uuid        references event_registrations (id),
    recipient_id    text,
    error_code      integer,
    error_title     text,
    error_detail    text,
    failure_class   text,
    received_at     timestamptz not null,
    primary key (wamid, status)
);

create index whatsapp_statuses_registration on whatsapp_statuses (registration_id);

-- The ticket's view: the furthest status reached (read > delivered > failed > sent, so a late
-- 'delivered' never undoes a 'read'), with each status's own time as WhatsApp reported it.
alter table ticket_deliveries add column whatsapp_status text
    check (whatsapp_status in ('sent', 'delivered', 'read', 'failed'));
alter table ticket_deliveries add column whatsapp_sent_at timestamptz;
alter table ticket_deliveries add column delivered_at timestamptz;
alter table ticket_deliveries add column read_at timestamptz;
alter table ticket_deliveries add column whatsapp_failed_at timestamptz;
alter table ticket_deliveries add column whatsapp_error_code integer;
alter table ticket_deliveries add column whatsapp_error text;
-- Set when the reconciliation listed a sent ticket without a 'delivered' for an operator (once).
alter table ticket_deliveries add column undelivered_reported_at timestamptz;

create unique index ticket_deliveries_wamid on ticket_deliveries (wamid) where wamid is not null;
create index ticket_deliveries_awaiting_delivery on ticket_deliveries (sent_at)
    where status = 'sent' and delivered_at is null and read_at is null and undelivered_reported_at is null;

-- Template or token trouble (a paused or disabled template, an expired token) fails every ticket
-- sent alike. While a hold is open (released_at null) no ticket is sent: each due delivery is
-- postponed without spending an attempt, and an operator releases the hold once it is fixed.
create table whatsapp_sending_holds (
    id              bigint generated always as identity primary key,
    category        text        not null,
    reason          text        not null,
    held_at         timestamptz not null,
    released_at     timestamptz
);

-- At most one open hold: the first trouble opens it, later ones find it open.
create unique index whatsapp_sending_holds_one_open on whatsapp_sending_holds ((true)) where released_at is null;
