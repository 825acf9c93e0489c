-- The offline kit's changes (Checkins/OfflineKitHandler.cs) list every ticket whose payment changed
-- since the phone's version: an operator's refund or a cancellation makes the payment's refund due
-- and leaves its registration as it was. No index led with payments.updated_at, so every poll read
-- each payment of the event by key (or all payments); with payments_updated it reads the payments
-- changed since, and the event's registrations they belong to.
--
-- The reconciliation's refund step asks for the oldest due refunds (RefundsStep.FindDue:
-- refund_status = 'due' order by updated_at limit n). Given payments_updated, the planner walks it
-- from the oldest payment of all and skips whatever is not due, a walk as long as the history
-- before the due refunds, which are the recent ones (a cancellation makes thousands due at once).
-- payments_refunds_due_by_age holds the due refunds alone in that order: the step reads its n rows.
--
-- docs/benchmarks-notes.md, "Offline kit query (issue 14 follow-up)", has the plans before and after.
-- Built concurrently, as 0018 is (README, "Database migrations"): a plain build would block every
-- payment write while it reads the table. Each drop clears an invalid index a failed build left.
drop index concurrently if exists payments_updated;
create index concurrently payments_updated on payments (updated_at);
drop index concurrently if exists payments_refunds_due_by_age;
create index concurrently payments_refunds_due_by_age on payments (updated_at) where refund_status = 'due';
