namespace EventRegistration.Tests.Infrastructure;

/// <summary>
/// A trigger on <c>payments</c> in a test app's own database that makes the payment upsert (a
/// confirmation's last write before the end of its transaction) fail with a chosen SQLSTATE, or
/// stall until the test kills its backend, for one payment id and a chosen number of attempts,
/// counted by a sequence (a sequence's count survives the rollback). Payments without a fault pass.
/// </summary>
public static class PaymentWriteFaults
{
    public static Task InstallAsync(TestApp app) => app.ExecuteAsync("""
        create table if not exists test_write_faults (
            payment_id text primary key, sqlstate text, attempts_failing int not null, counter text not null);
        create or replace function test_write_fault() returns trigger language plpgsql as $$
        declare
            fault test_write_faults;
        begin
            select * into fault from test_write_faults where payment_id = new.payment_id;
            if found and nextval(fault.counter::regclass) <= fault.attempts_failing then
                if fault.sqlstate is null then
                    perform pg_sleep(120);   -- stalled until the test kills this backend
                else
                    raise exception 'injected by PaymentWriteFaults' using errcode = fault.sqlstate;
                end if;
            end if;
            return new;
        end $$;
        drop trigger if exists test_write_fault on payments;
        create trigger test_write_fault before insert or update on payments for each row execute function test_write_fault();
        """);

    /// <summary>The first <paramref name="attemptsFailing"/> upserts of this payment fail (or stall, without a SQLSTATE); returns the attempts' counter.</summary>
    public static async Task<string> InjectAsync(TestApp app, string paymentId, string? sqlState, int attemptsFailing)
    {
        var counter = "test_write_fault_" + Guid.NewGuid().ToString("N");
        await app.ExecuteAsync($"create sequence {counter}");
        await app.ExecuteAsync(
            "insert into test_write_faults (payment_id, sqlstate, attempts_failing, counter) values (@paymentId, @sqlState, @attemptsFailing, @counter)",
            new { paymentId, sqlState, attemptsFailing, counter });
        return counter;
    }

    /// <summary>How many times a transaction reached the payment upsert.</summary>
    public static Task<long> AttemptsAsync(TestApp app, string counter) => app.ScalarAsync<long>($"select last_value from {counter}");
}
