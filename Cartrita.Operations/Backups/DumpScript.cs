using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Cartrita.Operations.Backups;

/// <summary>
/// What a restore lets psql run from a plain pg_dump file. psql executes more than SQL: a line such as <c>\! cmd</c> runs a
/// shell command as the user running psql, so a crafted backup could run anything before it failed to load. This class
/// reads the dump once, line by line, and refuses it, before psql starts, when it holds any psql meta-command other than
/// what pg_dump itself writes: <c>\restrict KEY</c> before the first statement and <c>\unrestrict KEY</c> (the same key)
/// after the completion marker (pg_dump 15.14 and later; older ones write neither). Data lines inside <c>COPY … FROM
/// stdin</c> are data. What it writes for psql starts with a <c>\restrict</c> of its own, with a key the file cannot
/// know, in place of pg_dump's pair, so psql itself refuses every meta-command the line check cannot see (one after
/// SQL on the same line, one inside what only looks like a COPY block). SQL that needs a superuser (COPY … TO PROGRAM)
/// is the server's to refuse: restores run as the database's owner, never as the superuser.
/// </summary>
public static partial class DumpScript
{
    /// <summary>The last comment pg_dump writes; a dump without it was cut short.</summary>
    public const string CompleteMarker = "-- PostgreSQL database dump complete";

    /// <summary>A new key for the restore's own <c>\restrict</c> (hex, 48 characters).</summary>
    public static string NewRestrictKey() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));

    /// <summary>
    /// Copies the dump from <paramref name="input"/> to <paramref name="output"/> as psql should run it, or throws
    /// <see cref="OperationFailedException"/> naming the line that makes it unsafe or incomplete (nothing has been
    /// restored then). <c>COMMENT ON EXTENSION</c> statements are left out: the extensions come from the restore template,
    /// created by the superuser, and only an extension's owner may comment on it (the comment is the extension's own).
    /// </summary>
    /// <param name="input">The decompressed dump.</param>
    /// <param name="output">Where the checked script goes.</param>
    /// <param name="restrictKey">The key of the script's own <c>\restrict</c> (<see cref="NewRestrictKey"/>).</param>
    /// <param name="fileName">The backup's name, for messages.</param>
    /// <param name="cancellationToken">Cancels the copy.</param>
    public static async Task CopyCheckedAsync(TextReader input, TextWriter output, string restrictKey, string fileName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        await output.WriteAsync($"\\restrict {restrictKey}\n");

        string? dumpKey = null;
        bool sawStatement = false, inCopy = false, complete = false, unrestricted = false;
        var number = 0;
        while (await input.ReadLineAsync(cancellationToken) is { } line)
        {
            number++;
            if (inCopy)
            {
                inCopy = line != "\\.";
                await output.WriteAsync(line + "\n");
                continue;
            }

            var trimmed = line.TrimStart();
            if (unrestricted && trimmed.Length > 0 && !trimmed.StartsWith("--", StringComparison.Ordinal))
            {
                throw Refused(fileName, number, "has statements after pg_dump's closing \\unrestrict");
            }
            if (trimmed.StartsWith('\\'))
            {
                var restrict = RestrictLine().Match(trimmed);
                if (restrict.Success && restrict.Groups["verb"].Value == "restrict" && dumpKey is null && !sawStatement)
                {
                    dumpKey = restrict.Groups["key"].Value;
                    continue;
                }
                if (restrict.Success && restrict.Groups["verb"].Value == "unrestrict" && dumpKey == restrict.Groups["key"].Value && complete && !unrestricted)
                {
                    unrestricted = true;
                    continue;
                }
                var command = trimmed.Split(' ', 2)[0];
                throw Refused(fileName, number,
                    $"holds the psql meta-command {(command.Length > 20 ? command[..20] + "…" : command)}, which pg_dump does not write there (a crafted or altered file)");
            }
            if (trimmed.StartsWith("--", StringComparison.Ordinal) || trimmed.Length == 0)
            {
                complete |= line == CompleteMarker;
                await output.WriteAsync(line + "\n");
                continue;
            }

            sawStatement = true;
            if (CommentOnExtension().IsMatch(line))
            {
                continue;
            }
            inCopy = CopyFromStdin().IsMatch(line);
            await output.WriteAsync(line + "\n");
        }

        if (inCopy || !complete)
        {
            throw new OperationFailedException($"'{fileName}' is truncated: the dump does not end with pg_dump's completion marker. Nothing was restored.");
        }
        if (dumpKey is not null && !unrestricted)
        {
            throw new OperationFailedException($"'{fileName}' is truncated: pg_dump's closing \\unrestrict is missing. Nothing was restored.");
        }
    }

    private static OperationFailedException Refused(string fileName, int line, string why) =>
        new($"'{fileName}' line {line} {why}. Refused: nothing was restored.");

    // pg_dump's keys are letters and digits (64 of them); psql takes the rest of the line as the key.
    [GeneratedRegex(@"^\\(?<verb>restrict|unrestrict) (?<key>[A-Za-z0-9]{1,100})$")]
    private static partial Regex RestrictLine();

    [GeneratedRegex(@"^COPY .+ FROM stdin;$")]
    private static partial Regex CopyFromStdin();

    [GeneratedRegex(@"^COMMENT ON EXTENSION ""?[A-Za-z0-9_-]+""? IS '.*';$")]
    private static partial Regex CommentOnExtension();
}
