using Dapper;
using EventRegistration.Functions.Infrastructure.Razorpay;
using EventRegistration.Tests.Infrastructure;
using Npgsql;

namespace EventRegistration.Tests.Http;

/// <summary>
/// The app's id validators and the database's CHECK constraints see the same strings: whatever the
/// validator lets through, the database stores. (A validator that accepts more turns a bad request
/// into a database refusal deep inside a transaction.) The candidates go to both: the validator,
/// and a real insert into the real columns.
/// </summary>
public sealed class IdentifierAgreementTests(TestApp app) : IClassFixture<TestApp>
{
    private static readonly string[] Shapes =
    [
        "{p}Abc123", "{p}A", "{p}" + new string('9', 40), "{p}" + new string('9', 41), "{p}",
        "{p}Abc\n", "{p}Abc\r\n", "{p}Abc\r", "{p}Abc\n\n", "\n{p}Abc", "{p}Abc ", " {p}Abc", "{p}A bc", "{p}Abc\t",
        "{p}Abc\0", "{p}Äbc", "{p}ａbc", "{p}\u0663", "{p}Abc\u2028", "{p}Abc\u0085", "{p}😀", "{p}Abc_1", "{p}Abc-1",
        "{P}Abc", "{p}{p}Abc", "x{p}Abc",
    ];

    public static TheoryData<string> PaymentIds() => Candidates("pay_");

    public static TheoryData<string> OrderIds() => Candidates("order_");

    [Theory]
    [MemberData(nameof(PaymentIds))]
    public async Task A_payment_id_the_validator_accepts_is_one_the_database_stores(string candidate)
    {
        var stored = await StoresAsync("""
            insert into payments (payment_id, status, disposition, source) values (@candidate, 'captured', 'observed', 'webhook')
            """, candidate);
        var storedOnRegistration = await StoresAsync("""
            insert into event_registrations (id, event_id, member_id, payment_id, amount_paise, currency)
            values (gen_random_uuid(), @event, @member, @candidate, 100, 'INR')
            """, candidate);

        AssertAgree(RazorpayIds.IsPaymentId(candidate), stored && storedOnRegistration, candidate);
    }

    [Theory]
    [MemberData(nameof(OrderIds))]
    public async Task An_order_id_the_validator_accepts_is_one_the_database_stores(string candidate)
    {
        var stored = await StoresAsync("""
            insert into event_registrations (id, event_id, member_id, order_id, amount_paise, currency)
            values (gen_random_uuid(), @event, @member, @candidate, 100, 'INR')
            """, candidate);

        AssertAgree(RazorpayIds.IsOrderId(candidate), stored, candidate);
    }

    /// <summary>
    /// Every CHECK in the schema that holds an id pattern, found in the catalogue rather than copied
    /// here, so a table added later (refunds, say) is held to its validator too.
    /// </summary>
    [Theory]
    [InlineData("pay_", true)]
    [InlineData("order_", true)]
    [InlineData("rfnd_", false)]
    public async Task Every_id_check_in_the_schema_accepts_what_the_validator_accepts(string prefix, bool checkExpected)
    {
        var definitions = await app.QueryAsync<string>(
            "select pg_get_constraintdef(oid) from pg_constraint where contype = 'c' and pg_get_constraintdef(oid) like @Like",
            new { Like = $"%'^{prefix}%" });
        var patterns = definitions
            .SelectMany(d => System.Text.RegularExpressions.Regex.Matches(d, "~ '(\\^" + prefix + "[^']*)'").Select(m => m.Groups[1].Value))
            .Distinct()
            .ToList();
        if (checkExpected)
        {
            Assert.NotEmpty(patterns);
        }

        Func<string?, bool> validator = prefix switch
        {
            "pay_" => RazorpayIds.IsPaymentId,
            "order_" => RazorpayIds.IsOrderId,
            _ => RazorpayIds.IsRefundId,
        };
        foreach (var pattern in patterns)
        {
            foreach (var candidate in Shapes.Select(shape => shape.Replace("{p}", prefix).Replace("{P}", prefix.ToUpperInvariant())).Where(c => !c.Contains('\0')))
            {
                var matches = await app.ScalarAsync<bool>("select @candidate ~ @pattern", new { candidate, pattern });
                var shown = System.Text.Json.JsonSerializer.Serialize(candidate);
                Assert.False(validator(candidate) && !matches, $"the validator accepts {shown}, the check '{pattern}' refuses it");
            }
        }
    }

    [Theory]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000", true)]
    [InlineData("ABCDEFabcdef0000000000000000000000000000000000000000000000000000", true)]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000\n", false)]
    [InlineData("000000000000000000000000000000000000000000000000000000000000000\n", false)]
    [InlineData("00000000000000000000000000000000000000000000000000000000000000000", false)]
    [InlineData("000000000000000000000000000000000000000000000000000000000000000g", false)]
    public void A_signature_is_exactly_64_hexadecimal_digits(string candidate, bool valid) =>
        Assert.Equal(valid, RazorpayIds.IsHexSignature(candidate));

    [Theory]
    [InlineData("evt_Abc123", true)]
    [InlineData("evt_Abc123\n", false)]
    [InlineData("evt Abc", false)]
    public void An_event_id_has_no_trailing_newline(string candidate, bool valid) =>
        Assert.Equal(valid, RazorpayIds.IsEventId(candidate));

    private static void AssertAgree(bool validatorAccepts, bool databaseStores, string candidate)
    {
        var shown = System.Text.Json.JsonSerializer.Serialize(candidate);
        // Stricter than the database is fine (Razorpay's ids are at most 40 characters); looser is not.
        Assert.False(validatorAccepts && !databaseStores, $"the validator accepts {shown}, the database refuses it");
        if (candidate.EndsWith("_Abc123", StringComparison.Ordinal) && candidate.Count(c => c == '_') == 1)
        {
            Assert.True(validatorAccepts && databaseStores, $"the well-formed {shown} must pass both");
        }
    }

    /// <summary>Whether the insert succeeds; it is rolled back either way.</summary>
    private async Task<bool> StoresAsync(string sql, string candidate)
    {
        await using var connection = app.OpenConnection();
        var eventId = await app.CreateEventAsync();
        var memberId = await app.CreateMemberAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        try
        {
            await connection.ExecuteAsync(sql, new { candidate, @event = eventId, member = memberId }, transaction);
            return true;
        }
        catch (PostgresException)
        {
            return false;
        }
        finally
        {
            await transaction.RollbackAsync();
        }
    }

    private static TheoryData<string> Candidates(string prefix)
    {
        var data = new TheoryData<string>();
        foreach (var shape in Shapes)
        {
            data.Add(shape.Replace("{p}", prefix).Replace("{P}", prefix.ToUpperInvariant()));
        }

        return data;
    }
}
