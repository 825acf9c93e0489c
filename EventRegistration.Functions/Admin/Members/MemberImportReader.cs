using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using CsvHelper;
using EventRegistration.Functions.Infrastructure.Http;

namespace EventRegistration.Functions.Admin.Members;

public enum ImportFormat
{
    Csv,
    JsonLines,
}

/// <summary>One row's fault, as the import answers it: the file's line where the row starts, the field (null: the row as a whole) and why.</summary>
public sealed record ImportRowError(
    long Line,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)] string? Field,
    string Reason);

/// <summary>One data row of an import file: a member to write, or what is wrong with the row.</summary>
public sealed record ImportRow(long Line, Guid Id, MemberInput? Member, ImportRowError? Error)
{
    public static ImportRow Failed(long line, string? field, string reason) => new(line, Guid.Empty, null, new ImportRowError(line, field, reason));
}

/// <summary>The file as a whole cannot be read (encoding, header, structure): nothing of it is imported.</summary>
public sealed class MalformedImportException(string detail) : Exception(detail);

/// <summary>
/// Reads an import file row by row as it arrives (CSV through CsvHelper, JSON lines one line at a
/// time), so memory holds one buffer and one row, never the file. Every row's fields go through
/// <see cref="MemberRules"/>, the single upsert's rules. A fault of one row is that row's error;
/// a fault of the file (not UTF-8, a wrong header, a row longer than <c>maxRowBytes</c>) is a
/// <see cref="MalformedImportException"/>.
/// </summary>
public static class MemberImportReader
{
    public static readonly string[] CsvColumns = [MemberRules.IdField, "name", "whatsApp", "email"];
    private static readonly string ExpectedHeader = string.Join(",", CsvColumns);

    public static IAsyncEnumerable<ImportRow> ReadAsync(Stream body, ImportFormat format, int maxRowBytes, CancellationToken cancellationToken) =>
        format == ImportFormat.Csv ? ReadCsvAsync(body, maxRowBytes, cancellationToken) : ReadJsonLinesAsync(body, maxRowBytes, cancellationToken);

    private static async IAsyncEnumerable<ImportRow> ReadCsvAsync(Stream body, int maxRowBytes, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        CsvMalformedRecord? malformed = null;
        var options = new CsvReaderOptions
        {
            Separator = ',',
            HasHeader = true,
            Mode = CsvMode.Rfc4180,
            AllowLineBreaksInQuotes = true,
            SkipEmptyLines = true,
            TrackLineNumbers = true,
            TrimWhitespace = false,
            DetectSeparatorHint = false,
            MaxRecordSize = maxRowBytes,
            MalformedData = CsvMalformedDataHandling.Recover,
            FieldCountMismatch = CsvFieldCountHandling.Allow,
            OnMalformedRecord = record => malformed = record,
            // Values are members' names and numbers: never in an exception that may reach a log.
            IncludeValuesInExceptions = false,
        };

        await using var csv = CsvReader.Create(body, options, leaveOpen: true);
        var columns = await ReadHeaderAsync(csv, cancellationToken);
        var width = csv.Headers.Count;
        while (await NextAsync(csv, cancellationToken))
        {
            var line = csv.LineNumber;
            if (!Utf8.IsValid(csv.RawRecord))
            {
                throw NotUtf8($"line {line}");
            }

            if (malformed is { } bad && bad.LineNumber == line)
            {
                malformed = null;
                yield return ImportRow.Failed(line, null, $"The row is not valid CSV ({Describe(bad.Reason)}). Put a cell holding a comma, a quote or a line break in double quotes, and double each quote inside it.");
                continue;
            }

            if (csv.FieldCount != width)
            {
                yield return ImportRow.Failed(line, null, $"The row has {csv.FieldCount} cells; the header has {width}.");
                continue;
            }

            var idText = csv.GetString(columns[0]);
            if (MemberRules.ParseId(idText) is not { } id)
            {
                var error = MemberRules.IdError(idText);
                yield return ImportRow.Failed(line, error.Field, error.Reason);
                continue;
            }

            var member = MemberRules.FromText(
                csv.GetString(columns[1]), csv.GetString(columns[2]), columns[3] < 0 ? null : csv.GetString(columns[3]), out var fieldError);
            yield return member is null
                ? ImportRow.Failed(line, fieldError!.Field, fieldError.Reason)
                : new ImportRow(line, id, member, null);
        }
    }

    /// <returns>The index of each of <see cref="CsvColumns"/> in the file (-1: the optional email column is absent).</returns>
    private static async Task<int[]> ReadHeaderAsync(CsvReader csv, CancellationToken cancellationToken)
    {
        IReadOnlyList<string> headers;
        try
        {
            await csv.ReadHeaderAsync(cancellationToken);
            headers = csv.Headers;
        }
        catch (CsvFormatException e)
        {
            throw new MalformedImportException($"The header line cannot be read as CSV ({e.Message}). The first line must be: {ExpectedHeader}");
        }

        if (headers.Count == 0)
        {
            throw new MalformedImportException($"The file is empty. The first line must be the header: {ExpectedHeader}");
        }

        var indexes = Enumerable.Repeat(-1, CsvColumns.Length).ToArray();
        for (var i = 0; i < headers.Count; i++)
        {
            var name = headers[i].Trim();
            var known = Array.FindIndex(CsvColumns, c => string.Equals(c, name, StringComparison.OrdinalIgnoreCase));
            if (known < 0)
            {
                throw new MalformedImportException(
                    $"The header has an unknown column '{Shorten(name)}' (column {i + 1}). The columns are {ExpectedHeader} (email may be left out), separated by commas.");
            }

            if (indexes[known] >= 0)
            {
                throw new MalformedImportException($"The header names the column '{CsvColumns[known]}' twice.");
            }

            indexes[known] = i;
        }

        var missing = CsvColumns.Take(3).Where((_, i) => indexes[i] < 0).ToList();
        if (missing.Count > 0)
        {
            throw new MalformedImportException($"The header lacks the column{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)}. The first line must be: {ExpectedHeader}");
        }

        return indexes;
    }

    private static async ValueTask<bool> NextAsync(CsvReader csv, CancellationToken cancellationToken)
    {
        try
        {
            return await csv.ReadAsync(cancellationToken);
        }
        catch (CsvFormatException e)
        {
            throw new MalformedImportException(
                $"The file cannot be read as CSV from line {e.LineNumber} on ({e.Message}). A quote that is opened and never closed makes the rest of the file one cell.");
        }
    }

    private static string Describe(CsvMalformedReason reason) => reason switch
    {
        CsvMalformedReason.StrayQuote => "a quote inside a cell that does not start with one",
        CsvMalformedReason.TextAfterClosingQuote => "text after a cell's closing quote",
        CsvMalformedReason.UnterminatedQuote => "a quote that is never closed",
        CsvMalformedReason.LineBreakInQuotes => "a line break inside quotes",
        CsvMalformedReason.TrailingEscape => "an escape character at the end",
        _ => reason.ToString(),
    };

    private static async IAsyncEnumerable<ImportRow> ReadJsonLinesAsync(Stream body, int maxRowBytes, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var pipe = PipeReader.Create(body, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
        try
        {
            long line = 0;
            while (true)
            {
                var read = await pipe.ReadAsync(cancellationToken);
                var buffer = read.Buffer;
                while (buffer.PositionOf((byte)'\n') is { } end)
                {
                    line++;
                    var row = ParseLine(buffer.Slice(0, end), line, maxRowBytes);
                    buffer = buffer.Slice(buffer.GetPosition(1, end));
                    if (row is not null)
                    {
                        yield return row;
                    }
                }

                if (buffer.Length > maxRowBytes)
                {
                    throw new MalformedImportException($"Line {line + 1} is longer than {maxRowBytes} bytes; each line must hold one member as a JSON object.");
                }

                if (read.IsCompleted)
                {
                    if (buffer.Length > 0 && ParseLine(buffer, line + 1, maxRowBytes) is { } last)
                    {
                        yield return last;
                    }

                    break;
                }

                pipe.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        finally
        {
            await pipe.CompleteAsync();
        }
    }

    /// <returns>The row, or null for a blank line.</returns>
    private static ImportRow? ParseLine(ReadOnlySequence<byte> sequence, long line, int maxRowBytes)
    {
        if (sequence.Length > maxRowBytes)
        {
            throw new MalformedImportException($"Line {line} is longer than {maxRowBytes} bytes; each line must hold one member as a JSON object.");
        }

        ReadOnlySpan<byte> bytes = sequence.ToArray();
        if (line == 1 && bytes.StartsWith("\uFEFF"u8))
        {
            bytes = bytes[3..];
        }

        bytes = bytes.TrimEnd("\r"u8).Trim(" \t"u8);
        if (bytes.IsEmpty)
        {
            return null;
        }

        if (!Utf8.IsValid(bytes))
        {
            throw NotUtf8($"line {line}");
        }

        using var json = JsonRequest.TryParse(bytes.ToArray(), out var problem);
        if (json is null)
        {
            var detail = problem?.Body is ProblemDocument document ? document.Detail.Replace("The request body", "The line", StringComparison.Ordinal) : "The line is not JSON.";
            return ImportRow.Failed(line, null, detail);
        }

        var idText = json.Root.TryGetProperty(MemberRules.IdField, out var idValue) && idValue.ValueKind == JsonValueKind.String ? idValue.GetString() : null;
        if (MemberRules.ParseId(idText) is not { } id)
        {
            var error = idValue.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null ? MemberRules.IdError(null) : MemberRules.IdError(idValue.ToString());
            return ImportRow.Failed(line, error.Field, error.Reason);
        }

        return MemberRules.FromJson(json.Root, out var fieldError) is { } member
            ? new ImportRow(line, id, member, null)
            : ImportRow.Failed(line, fieldError!.Field, fieldError.Reason);
    }

    private static MalformedImportException NotUtf8(string where) =>
        new($"The file is not UTF-8 text ({where}). Save it as \"CSV UTF-8\" (or JSON lines in UTF-8) and send it again.");

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
