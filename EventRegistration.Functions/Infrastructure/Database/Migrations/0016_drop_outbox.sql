-- The outbox said twice what the confirming transaction's `queued` ticket_deliveries row already
-- says: that a ticket is owed. The release before this one stopped writing and reading it (issue 14);
-- it stayed only so that instances of older code, still confirming while that release's code
-- started, could write it. No code names it now. Its index and identity sequence go with it.
--
-- Dropping it removes its foreign key's triggers from event_registrations, which takes that table's
-- ACCESS EXCLUSIVE lock for an instant; while the drop waits for it (behind a long reader, say),
-- every order and confirmation queues behind the drop. The wait is bounded below the app's own
-- lock_timeout (Postgres__LockTimeoutMilliseconds, 3 s), so a busy moment fails the migration, and
-- with it the deploy before any new code ships, instead of turning confirmations into 503s. Run the
-- deploy again.
set local lock_timeout = '2s';
drop table if exists outbox;
