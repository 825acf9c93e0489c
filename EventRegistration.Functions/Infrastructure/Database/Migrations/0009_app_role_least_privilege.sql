-- The role the app runs as: it reads and writes the app's rows and nothing more (no DDL, no
-- ownership, no CREATE on the schema). Migrations keep running as the owner, a separate and
-- privileged identity; the app's login (the Function App's managed identity in Azure, a password
-- login locally) is made a member of evreg_app. See infra/README.md.
--
-- Roles are cluster-wide while this script runs once per database (the user's database, every
-- test template): creating it must not fail when it exists, nor when another database's
-- migration creates it at the same moment.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'evreg_app') then
        create role evreg_app nologin;
    end if;
exception
    when duplicate_object or unique_violation then null;
end
$$;

-- PostgreSQL 15 already withholds CREATE on public from PUBLIC; older servers grant it.
revoke create on schema public from public;
grant usage on schema public to evreg_app;

grant select, insert, update, delete on all tables in schema public to evreg_app;
grant usage, select on all sequences in schema public to evreg_app;

-- Tables and sequences that later migrations create (as the owner running this one) are granted too.
alter default privileges in schema public grant select, insert, update, delete on tables to evreg_app;
alter default privileges in schema public grant usage, select on sequences to evreg_app;
