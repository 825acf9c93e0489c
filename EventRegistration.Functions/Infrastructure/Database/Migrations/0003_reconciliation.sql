-- The reconciliation timer: one row per run (an operator's view of what it repaired), and a
-- per-registration mark so that a bounded run checks the least recently checked orders first.

create table reconciliation_runs (
    id              bigint generated always as identity primary key,
    started_at      timestamptz not null,
    finished_at     timestamptz,
    status          text        not null check (status in ('running', 'completed', 'completed_with_errors', 'skipped')),
    is_past_due     boolean     not null default false,
    -- {"outbox":{"done":n,"errors":n}, "inbox":{…}, "orders":{…}, "refunds":{…}, "deliveries":{…}, "audit":{…}}
    summary         jsonb       not null default '{}'::jsonb,
    error_count     integer     not null default 0 check (error_count >= 0)
);

create index reconciliation_runs_started on reconciliation_runs (started_at desc);

alter table event_registrations add column reconciled_at timestamptz;

-- Pending orders the timer asks Razorpay about, least recently checked first.
create index event_registrations_pending_orders
    on event_registrations (reconciled_at nulls first, created_at) where status = 'pending' and order_id is not null;

-- Refunds the timer requests or checks.
create index payments_refunds_requested on payments (refund_requested_at) where refund_status = 'requested';
