-- WhatsApp takes a number of messages a second per business number (80 by default), counted over
-- every sender of that number, and about one message every 6 s to the same recipient (131056).
-- Every instance takes its send slot from these rows (Tickets/WhatsAppSendPace.cs), so together
-- they stay under the number's rate. Nothing here is money or a ticket's state: a lost row only
-- means one send goes out a little early, which WhatsApp answers with a rate limit the
-- delivery retries without spending an attempt.

-- The next free send slot of each sending number (a virtual schedule: slot n+1 = slot n + 1/rate).
create table whatsapp_send_pace (
    phone_number_id text        primary key,
    next_slot_at    timestamptz not null
);

-- When a recipient may next be written to; the recipient is the SHA-256 of the E.164 number (the
-- member table already holds the number; this one does not need it).
create table whatsapp_recipient_pace (
    phone_number_id text        not null,
    recipient_hash  bytea       not null check (length(recipient_hash) = 32),
    next_at         timestamptz not null,
    primary key (phone_number_id, recipient_hash)
);

create index whatsapp_recipient_pace_next_at on whatsapp_recipient_pace (next_at);
