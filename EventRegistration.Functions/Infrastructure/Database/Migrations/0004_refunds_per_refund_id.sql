-- Refunds are kept per Razorpay refund id. A payment can be refunded in several parts (each its
-- own rfnd_…, by this app or by staff in the Dashboard); it counts as refunded, and its seat is
-- released, only once the whole amount has come back.

create table refunds (
    refund_id       text        primary key check (refund_id ~ '^rfnd_[A-Za-z0-9]+\Z'),
    payment_id      text        not null references payments (payment_id),
    amount_paise    bigint      not null check (amount_paise > 0),
    status          text        not null check (status in ('processed', 'failed')),
    source          text        not null check (source in ('checkout', 'webhook', 'reconciliation')),
    last_error      text,
    first_seen_at   timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);

create index refunds_payment on refunds (payment_id);

-- What has come back of the payment so far: the larger of the processed refunds recorded here and
-- Razorpay's own cumulative amount_refunded (a refund whose webhook never came still counts).
alter table payments add column amount_refunded_paise bigint not null default 0 check (amount_refunded_paise >= 0);

-- 'partial': part of the payment came back and nothing more is owed by this app.
alter table payments drop constraint payments_refund_status_check;
alter table payments add constraint payments_refund_status_check
    check (refund_status in ('due', 'requested', 'partial', 'processed', 'failed'));

-- 'refunded_before_capture': the capture was reported after a refund of the same payment; it
-- never makes a registration paid.
alter table payments drop constraint payments_disposition_check;
alter table payments add constraint payments_disposition_check check (disposition in (
    'applied', 'event_full', 'duplicate', 'amount_mismatch', 'unknown_order', 'failed_attempt', 'observed',
    'refunded_before_capture'));

-- Before this migration a processed refund meant the whole payment (the partial case was the bug).
update payments set amount_refunded_paise = coalesce(amount_paise, 0) where refund_status = 'processed';
insert into refunds (refund_id, payment_id, amount_paise, status, source, first_seen_at, updated_at)
select refund_id, payment_id, amount_paise, 'processed', source, coalesce(refunded_at, updated_at), updated_at
  from payments
 where refund_status = 'processed' and refund_id ~ '^rfnd_[A-Za-z0-9]+\Z' and amount_paise > 0
on conflict (refund_id) do nothing;
