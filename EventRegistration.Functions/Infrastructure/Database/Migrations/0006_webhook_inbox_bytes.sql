-- The inbox keeps the signed body byte for byte: as text, bytes that are not UTF-8 were stored as
-- U+FFFD and the stored copy no longer matched its signature. Bodies hold payers' email and
-- contact, so a processed body is purged after the retention (Webhooks__InboxRetentionDays); the
-- row stays, without its body, so that a late redelivery of the event id is still a duplicate.

alter table webhook_inbox alter column body type bytea using convert_to(body, 'UTF8');
alter table webhook_inbox alter column body drop not null;
alter table webhook_inbox add column body_purged_at timestamptz;
alter table webhook_inbox add constraint webhook_inbox_body_until_purged
    check ((body is null) = (body_purged_at is not null));
alter table webhook_inbox add constraint webhook_inbox_purged_only_when_processed
    check (body_purged_at is null or processed_at is not null);

-- Processed bodies still held, oldest first: what the purge reads.
create index webhook_inbox_bodies_held on webhook_inbox (processed_at) where body is not null and processed_at is not null;
