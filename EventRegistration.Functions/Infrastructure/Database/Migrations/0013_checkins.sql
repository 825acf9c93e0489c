-- Door check-in (issue 11): per-event scanner keys, one admission per ticket, every scan kept by
-- its client nonce (so a retried scan gets its first answer back), and offline conflicts.

-- A scanner key is shown once at creation; only its SHA-256 is stored.
create table scanner_keys (
    id          uuid        primary key,
    event_id    uuid        not null references events (id),
    name        text        not null check (length(name) between 1 and 100),
    key_hash    bytea       not null unique check (length(key_hash) = 32),
    created_at  timestamptz not null,
    created_by  text        not null,
    revoked_at  timestamptz,
    revoked_by  text
);

create index scanner_keys_event on scanner_keys (event_id, created_at);

-- One row per admitted ticket: the primary key is what admits a ticket exactly once. No foreign
-- key to events on purpose: every scan of an event would take a KEY SHARE lock on its one row,
-- which confirmations update; the registration names the event already.
create table checkins (
    registration_id uuid        primary key references event_registrations (id),
    event_id        uuid        not null,
    admitted_at     timestamptz not null,
    scanner_id      text        not null check (length(scanner_id) between 1 and 100),
    nonce           uuid        not null,
    source          text        not null check (source in ('online', 'offline')),
    recorded_at     timestamptz not null
);

create index checkins_event_recorded on checkins (event_id, recorded_at);
create index checkins_event_admitted on checkins (event_id, admitted_at);

-- Every scan that reached the database, keyed by the scanner's nonce, with the answer it got,
-- byte for byte: the same nonce again is answered from here and changes nothing.
create table checkin_scans (
    nonce           uuid        primary key,
    event_id        uuid        not null,
    registration_id uuid,
    scanner_id      text        not null check (length(scanner_id) between 1 and 100),
    credential      text        not null,
    scanned_at      timestamptz not null,
    recorded_at     timestamptz not null,
    source          text        not null check (source in ('online', 'offline')),
    outcome         text        not null,
    status_code     integer     not null,
    answer          text        not null
);

create index checkin_scans_registration on checkin_scans (registration_id);

-- A ticket scanned at two doors while both were offline: the earliest scan admitted it, the
-- later one is kept here with both scanners for the organiser.
create table checkin_conflicts (
    id                  bigint generated always as identity primary key,
    event_id            uuid        not null,
    registration_id     uuid        not null references event_registrations (id),
    admitted_nonce      uuid        not null,
    admitted_scanner_id text        not null,
    admitted_at         timestamptz not null,
    later_nonce         uuid        not null unique,
    later_scanner_id    text        not null,
    later_scanned_at    timestamptz not null,
    recorded_at         timestamptz not null
);

create index checkin_conflicts_event on checkin_conflicts (event_id, id);

-- The offline kit asks for registrations changed since its last version.
create index event_registrations_event_updated on event_registrations (event_id, updated_at);
