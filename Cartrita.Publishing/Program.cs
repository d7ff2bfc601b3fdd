using Cartrita.Publishing;

// cartrita-publish: Aspire manifest → hardened Docker Compose / Kubernetes files. See deploy/README.md.
return CommandLine.Run(args, Console.Out, Console.Error, Environment.GetEnvironmentVariables()
    .Cast<System.Collections.DictionaryEntry>()
    .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "", StringComparer.Ordinal));
