-- A reconciliation run that reaches its deadline, or is cancelled by the host, still closes its row.
alter table reconciliation_runs drop constraint reconciliation_runs_status_check;
alter table reconciliation_runs add constraint reconciliation_runs_status_check
    check (status in ('running', 'completed', 'completed_with_errors', 'skipped', 'timed_out', 'cancelled'));

-- A member whose payment was refunded in whole may buy again: a new registration, with its own
-- order, hold and ticket. The refunded one stays as history with its payment, so a late capture of
-- its order still finds it (and is refunded, never counted). Invariant 2 becomes: at most one live
-- (not refunded) registration per member and event. 'refunded' is final, so no row ever returns
-- to collide with the live one.
alter table event_registrations drop constraint event_registrations_one_per_member;
create unique index event_registrations_one_live_per_member
    on event_registrations (event_id, member_id) where status <> 'refunded';
