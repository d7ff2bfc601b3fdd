using System.Text;
using System.Text.Json;

namespace Cartrita.Publishing.Deployment;

/// <summary>
/// What a Dockerfile's final stage says about the container it builds: its command (ENTRYPOINT and CMD), its USER and
/// its HEALTHCHECK. Instructions are read as Docker does: line continuations joined, comments skipped, and a stage built
/// <c>FROM</c> an earlier stage inherits that stage's settings.
/// </summary>
public sealed record DockerfileInfo(
    IReadOnlyList<string>? Entrypoint,
    IReadOnlyList<string>? Cmd,
    string? User,
    IReadOnlyList<string>? HealthcheckTest,
    IReadOnlyDictionary<string, string> HealthcheckOptions)
{
    /// <summary>The full command the container runs (ENTRYPOINT followed by CMD), or <see langword="null"/> when neither is set.</summary>
    public IReadOnlyList<string>? Command =>
        Entrypoint is null && Cmd is null ? null : [.. Entrypoint ?? [], .. Cmd ?? []];

    /// <summary>Reads <paramref name="path"/>; <see langword="null"/> when the file does not exist.</summary>
    public static DockerfileInfo? TryRead(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return File.Exists(path) ? Parse(File.ReadAllText(path)) : null;
    }

    /// <summary>Parses Dockerfile text.</summary>
    public static DockerfileInfo Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var stages = new Dictionary<string, DockerfileInfo>(StringComparer.OrdinalIgnoreCase);
        var current = Empty;
        string? stageName = null;
        foreach (var (instruction, arguments) in Instructions(text))
        {
            switch (instruction)
            {
                case "FROM":
                    var words = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    var baseName = words.FirstOrDefault(w => !w.StartsWith("--", StringComparison.Ordinal)) ?? "";
                    current = stages.GetValueOrDefault(baseName) ?? Empty;
                    var asIndex = Array.FindIndex(words, w => w.Equals("AS", StringComparison.OrdinalIgnoreCase));
                    stageName = asIndex >= 0 && asIndex + 1 < words.Length ? words[asIndex + 1] : null;
                    break;
                case "ENTRYPOINT":
                    // Setting ENTRYPOINT drops a CMD inherited from the base.
                    current = current with { Entrypoint = CommandForm(arguments), Cmd = null };
                    break;
                case "CMD":
                    current = current with { Cmd = CommandForm(arguments) };
                    break;
                case "USER":
                    current = current with { User = arguments.Trim() };
                    break;
                case "HEALTHCHECK":
                    current = Healthcheck(current, arguments);
                    break;
            }
            if (stageName is not null)
            {
                stages[stageName] = current;
            }
        }
        return current;
    }

    private static readonly DockerfileInfo Empty = new(null, null, null, null, new Dictionary<string, string>());

    private static DockerfileInfo Healthcheck(DockerfileInfo current, string arguments)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        var rest = arguments.Trim();
        while (rest.StartsWith("--", StringComparison.Ordinal))
        {
            var space = rest.IndexOf(' ');
            var option = space < 0 ? rest : rest[..space];
            var equals = option.IndexOf('=');
            if (equals > 2)
            {
                options[option[2..equals]] = option[(equals + 1)..];
            }
            rest = space < 0 ? "" : rest[(space + 1)..].TrimStart();
        }
        if (rest.Equals("NONE", StringComparison.OrdinalIgnoreCase))
        {
            return current with { HealthcheckTest = null, HealthcheckOptions = options };
        }
        if (rest.StartsWith("CMD", StringComparison.OrdinalIgnoreCase))
        {
            var command = rest[3..].Trim();
            var form = command.StartsWith('[') ? CommandForm(command) : null;
            IReadOnlyList<string> test = form is null ? ["CMD-SHELL", command] : ["CMD", .. form];
            return current with { HealthcheckTest = test, HealthcheckOptions = options };
        }
        return current;
    }

    /// <summary>Exec form (a JSON array) as is; shell form as <c>/bin/sh -c "…"</c>, as Docker runs it.</summary>
    private static List<string> CommandForm(string arguments)
    {
        var trimmed = arguments.Trim();
        if (trimmed.StartsWith('['))
        {
            try
            {
                var items = JsonSerializer.Deserialize<List<string>>(trimmed);
                if (items is not null)
                {
                    return items;
                }
            }
            catch (JsonException)
            {
                // Not valid JSON: Docker then runs it in shell form too.
            }
        }
        return ["/bin/sh", "-c", trimmed];
    }

    private static IEnumerable<(string Instruction, string Arguments)> Instructions(string text)
    {
        var logical = new StringBuilder();
        foreach (var rawLine in text.Replace("\r\n", "\n").Split('\n'))
        {
            var line = rawLine.TrimEnd();
            var trimmed = line.TrimStart();
            if (trimmed.StartsWith('#') || (logical.Length == 0 && trimmed.Length == 0))
            {
                continue;
            }
            if (line.EndsWith('\\'))
            {
                logical.Append(line[..^1]).Append(' ');
                continue;
            }
            logical.Append(line);
            var instruction = logical.ToString().Trim();
            logical.Clear();
            if (instruction.Length == 0)
            {
                continue;
            }
            var space = instruction.IndexOfAny([' ', '\t']);
            yield return space < 0
                ? (instruction.ToUpperInvariant(), "")
                : (instruction[..space].ToUpperInvariant(), instruction[(space + 1)..].Trim());
        }
    }
}
