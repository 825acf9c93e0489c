-- A ticket delivery's retries are scheduled, not left to the queue's dequeue count: a transient
-- failure records when the next attempt is due and puts one delayed message on the queue. A copy
-- of the message that arrives before then ends quietly (the scheduled one is on its way), and the
-- reconciliation counts a delivery as stuck only once its due time has long passed.
alter table ticket_deliveries add column next_attempt_at timestamptz;
