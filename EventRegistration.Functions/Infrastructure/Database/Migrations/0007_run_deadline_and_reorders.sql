-- A reconciliation run that reaches its deadline, or is cancelled by the host, still closes its row.
alter table reconciliation_runs drop constraint reconciliation_runs_status_check;
alter table reconciliation_runs add constraint reconciliation_runs_status_check
    check (status in ('running', 'completed', 'completed_with_errors', 'skipped', 'timed_out', 'cancelled'));
