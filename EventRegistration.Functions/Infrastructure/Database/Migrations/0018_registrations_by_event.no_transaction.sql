-- The admin attendees list and its CSV export page one event's registrations by id
-- (Admin/Attendees/AttendeesHandler.cs: event_id = @EventId and id > @After order by id limit n).
-- No index led with (event_id, id), so the planner walked the primary key across every event's
-- registrations and filtered, or read the whole event and sorted it; the generic plan that
-- Npgsql's prepared statements come to use walked the primary key for every event.
-- docs/benchmarks-notes.md, "Attendee paging index", has the plans before and after.
--
-- Built concurrently (so outside a transaction: Migrator runs *.no_transaction.sql that way):
-- migrations run while the old code still takes orders and confirms payments, and a plain build
-- holds event_registrations' SHARE lock, blocking every write, for as long as it reads the table.
-- A build that fails leaves an invalid index behind, which the drop clears when the migration runs
-- again (DbUp records the script only after both statements succeed).
drop index concurrently if exists event_registrations_event_by_id;
create index concurrently event_registrations_event_by_id on event_registrations (event_id, id);
