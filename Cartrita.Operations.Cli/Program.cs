using Cartrita.Operations.Backups;
using Cartrita.Operations.Cli;
using Cartrita.Operations.Stack;

// The terminal side of Cartrita's operations (the work itself is the Cartrita.Operations library's, which the AppHost's
// dashboard commands call too); `./cartrita backup|restore|reset` run this against the running stack.
//   backup [--keep N]          restore [--no-verify] FILE         reset --migrations-worker DLL
// Options: --data-dir DIR (the AppHost's Cartrita:DataDirectory), --backups DIR, --keep N.
var arguments = CommandLineArguments.Parse(args);
var options = new BackupOptions
{
    Directory = arguments.Option("--backups") ?? "backups",
    Keep = int.TryParse(arguments.Option("--keep") ?? Environment.GetEnvironmentVariable("CARTRITA_BACKUP_KEEP"), out var keep) ? keep : 7,
};
var dataDirectory = arguments.Option("--data-dir") ?? ".cartrita";

try
{
    var stack = StackState.Read(dataDirectory) ?? throw new OperationFailedException(
        $"No running Cartrita stack found (no live {StackState.PathIn(dataDirectory)}). Start it with `./cartrita up`, then try again.");
    var database = stack.Database ?? throw new OperationFailedException("The running stack has not published its database yet; wait until postgres is healthy.");
    var backups = new PostgresBackups(options, Console.WriteLine);

    switch (arguments.Command)
    {
        case "backup":
            var file = await backups.BackupAsync(database);
            Console.WriteLine($"Backup written: {file.FullName} ({file.Length:N0} bytes)");
            break;
        case "restore":
            var source = arguments.Positional.FirstOrDefault() ?? backups.List().FirstOrDefault()?.FullName
                ?? throw new OperationFailedException($"No backup to restore: name a file, or make one with `./cartrita backup` (folder {options.Directory}).");
            await backups.RestoreAsync(database, source, stack.DatabaseAdmin, requireChecksum: !arguments.Flag("--no-verify"));
            Console.WriteLine($"Restored {source}");
            break;
        case "reset":
            DatabaseReset.EnsureAllowed(stack.Environment);
            var worker = arguments.Option("--migrations-worker")
                ?? throw new OperationFailedException("reset needs --migrations-worker PATH/Cartrita.MigrationService.dll (./cartrita reset passes it).");
            await DatabaseReset.ResetAsync(stack.Environment, stack.DatabaseAdmin ?? database,
                cancellationToken => DatabaseReset.RunWorkerAsync(worker, database, stack.DatabaseAdmin, line => Console.WriteLine($"  migrations | {line}"), cancellationToken));
            Console.WriteLine("Database reset: recreated empty and migrated (as the dashboard's \"Reset development database\").");
            break;
        default:
            Console.Error.WriteLine("usage: backup [--keep N] | restore [--no-verify] [FILE] | reset --migrations-worker DLL   (options: --data-dir DIR --backups DIR)");
            return 2;
    }
    return 0;
}
catch (OperationFailedException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 1;
}
