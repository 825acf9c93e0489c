-- Admin API: who did what, written in the same transaction as the change it records.
create table admin_audit (
    id          bigint generated always as identity primary key,
    actor       text        not null check (length(actor) between 1 and 300),
    role        text        not null check (role in ('organiser', 'operator')),
    action      text        not null check (length(action) between 1 and 100),
    entity_id   text        not null,
    before      jsonb,
    after       jsonb,
    at          timestamptz not null
);

create index admin_audit_entity on admin_audit (entity_id, at);

-- An event's start is shown in its own zone (an IANA name); existing events were all in India.
alter table events add column time_zone text not null default 'Asia/Kolkata' check (length(time_zone) between 1 and 64);

-- An operator resolves an anomaly with a note saying what was done; who did is in admin_audit too.
alter table anomalies add column resolution_note text check (length(resolution_note) between 1 and 2000);
alter table anomalies add column resolved_by text;
create index anomalies_open_by_id on anomalies (id) where resolved_at is null;
