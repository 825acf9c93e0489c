-- Events, members and their registrations; every rule the schema can hold, it holds.

create table events (
    id              uuid primary key,
    title           text        not null check (length(title) between 1 and 200),
    starts_at       timestamptz not null,
    venue           text,
    capacity        integer     check (capacity is null or capacity > 0),
    price_paise     bigint      not null check (price_paise > 0),
    currency        text        not null default 'INR' check (currency ~ '^[A-Z]{3}$'),
    status          text        not null default 'open' check (status in ('draft', 'open', 'closed', 'cancelled')),
    attendee_count  integer     not null default 0 check (attendee_count >= 0),
    created_at      timestamptz not null default now(),
    constraint events_attendee_count_within_capacity check (capacity is null or attendee_count <= capacity)
);

create table members (
    id          uuid primary key,
    name        text        not null check (length(name) between 1 and 200),
    phone_e164  text        not null check (phone_e164 ~ '^\+[1-9][0-9]{6,14}$'),
    email       text,
    created_at  timestamptz not null default now()
);

create table event_registrations (
    id                  uuid primary key,
    event_id            uuid        not null references events (id),
    member_id           uuid        not null references members (id),
    status              text        not null default 'pending'
                        check (status in ('pending', 'paid', 'refund_due', 'refunded', 'cancelled')),
    order_id            text        unique check (order_id ~ '^order_[A-Za-z0-9]+$'),
    payment_id          text        check (payment_id ~ '^pay_[A-Za-z0-9]+$'),
    amount_paise        bigint      not null check (amount_paise > 0),
    currency            text        not null check (currency ~ '^[A-Z]{3}$'),
    hold_expires_at     timestamptz,
    confirmed_by        text        check (confirmed_by in ('checkout', 'webhook', 'reconciliation')),
    paid_at             timestamptz,
    refund_reason       text,
    refunded_at         timestamptz,
    failed_attempts     integer     not null default 0 check (failed_attempts >= 0),
    last_payment_error  text,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    constraint event_registrations_one_per_member unique (event_id, member_id),
    constraint event_registrations_settled_has_payment
        check (status in ('pending', 'cancelled') or payment_id is not null)
);

-- Invariant 1: a payment id belongs to at most one registration, ever.
create unique index event_registrations_payment_id_key
    on event_registrations (payment_id) where payment_id is not null;

-- Live seat holds of an event are counted under its row lock.
create index event_registrations_pending_holds
    on event_registrations (event_id, hold_expires_at) where status = 'pending';

-- Every payment id Razorpay reports, whatever became of it (invariant 4).
create table payments (
    payment_id          text        primary key check (payment_id ~ '^pay_[A-Za-z0-9]+$'),
    order_id            text,
    registration_id     uuid        references event_registrations (id),
    amount_paise        bigint      check (amount_paise >= 0),
    currency            text,
    status              text        not null check (status in ('authorized', 'captured', 'failed')),
    disposition         text        not null check (disposition in (
                            'applied',          -- the registration's payment
                            'event_full',       -- paid for a full event: refund due
                            'duplicate',        -- the member had already paid: refund due
                            'amount_mismatch',  -- amount or currency differ from the order: operator
                            'unknown_order',    -- no registration has this order: operator
                            'failed_attempt',   -- a failed attempt, kept for the record
                            'observed')),       -- seen in a refund or status event only
    source              text        not null check (source in ('checkout', 'webhook', 'reconciliation')),
    error_code          text,
    error_description   text,
    refund_status       text        check (refund_status in ('due', 'requested', 'processed', 'failed')),
    refund_id           text,
    refund_attempts     integer     not null default 0,
    refund_requested_at timestamptz,
    refund_last_error   text,
    refunded_at         timestamptz,
    first_seen_at       timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);

create index payments_registration on payments (registration_id);
create index payments_refunds_open on payments (refund_status) where refund_status in ('due', 'requested');

-- Invariant 6: every verified webhook is stored before it is acted on.
create table webhook_inbox (
    id              bigint generated always as identity primary key,
    event_id        text        not null unique,
    event_type      text        not null,
    body            text        not null,
    received_at     timestamptz not null default now(),
    delivery_count  integer     not null default 1 check (delivery_count >= 1),
    processed_at    timestamptz,
    outcome         text,
    last_error      text
);

create index webhook_inbox_unprocessed on webhook_inbox (received_at) where processed_at is null;

-- Written in the confirming transaction, sent to the queue after commit (invariant 8).
create table outbox (
    id                  bigint generated always as identity primary key,
    kind                text        not null check (kind in ('ticket_delivery')),
    registration_id     uuid        not null references event_registrations (id),
    message             text        not null,
    created_at          timestamptz not null default now(),
    dispatched_at       timestamptz,
    dispatch_attempts   integer     not null default 0,
    last_error          text
);

create index outbox_undispatched on outbox (created_at) where dispatched_at is null;

-- Ticket delivery state machine (invariant 5): queued -> sending -> sent | failed.
create table ticket_deliveries (
    registration_id     uuid        primary key references event_registrations (id),
    status              text        not null default 'queued' check (status in ('queued', 'sending', 'sent', 'failed')),
    attempts            integer     not null default 0 check (attempts >= 0),
    last_attempt_at     timestamptz,
    last_error          text,
    media_id            text,
    wamid               text,
    ticket_blob         text,
    sent_at             timestamptz,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    constraint ticket_deliveries_sent_has_wamid check (status <> 'sent' or wamid is not null)
);

create index ticket_deliveries_open on ticket_deliveries (updated_at) where status in ('queued', 'sending');

-- What an operator must look at: payments that could not be applied, refund failures, drift.
create table anomalies (
    id              bigint generated always as identity primary key,
    kind            text        not null,
    event_id        uuid,
    registration_id uuid,
    payment_id      text,
    detail          text        not null,
    created_at      timestamptz not null default now(),
    resolved_at     timestamptz
);

create index anomalies_open on anomalies (created_at) where resolved_at is null;
