namespace Cartrita.Operations.Cli;

/// <summary>The tiny command line of the operations tool: a command, positional values and <c>--name value</c> options.</summary>
internal sealed record CommandLineArguments(string? Command, IReadOnlyList<string> Positional, IReadOnlyDictionary<string, string> Options)
{
    public string? Option(string name) => Options.TryGetValue(name, out var value) ? value : null;

    public static CommandLineArguments Parse(string[] args)
    {
        var positional = new List<string>();
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
            {
                options[args[i]] = args[++i];
            }
            else
            {
                positional.Add(args[i]);
            }
        }
        return new CommandLineArguments(positional.FirstOrDefault(), positional.Skip(1).ToList(), options);
    }
}
