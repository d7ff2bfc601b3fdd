using Cartrita.AppHost.Hosting.LocalProcesses;
using Cartrita.AppHost.Hosting.Postgres;
using Cartrita.AppHost.Infrastructure;

namespace Aspire.Hosting;

/// <summary>Checks, before anything starts, that the programs the local stack needs are installed.</summary>
public static class PrerequisitePreflightExtensions
{
    private sealed record Prerequisite(string What, Func<Task<bool>> IsPresent, string Fix);

    /// <summary>
    /// Before any resource starts (run mode), checks for the PostgreSQL server, pgvector and redis-server (processes
    /// mode), the orchestrator's Python packages and Node.js. Anything missing stops the AppHost within seconds with one
    /// message naming each missing piece and the command that installs it, instead of a resource that hangs or crashes.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="options">The resolved options.</param>
    /// <returns>The builder.</returns>
    public static IDistributedApplicationBuilder EnsurePrerequisites(this IDistributedApplicationBuilder builder, CartritaOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        if (!builder.ExecutionContext.IsRunMode)
        {
            return builder;
        }

        var sudo = CurrentUser.IsRoot ? "" : "sudo ";
        var postgres = new PostgresBinaries(options.Tools.PostgresBinDirectory);
        List<Prerequisite> prerequisites =
        [
            new("Node.js and npm (for the frontend)",
                () => Task.FromResult(IsOnPath("node") && IsOnPath("npm")),
                $"{sudo}apt-get install -y nodejs npm"),
        ];
        if (options.Infrastructure == InfrastructureMode.Processes)
        {
            prerequisites.InsertRange(0,
            [
                new($"PostgreSQL 15 server ({postgres.Postgres})",
                    () => Task.FromResult(File.Exists(postgres.Postgres) && File.Exists(postgres.InitDb)),
                    $"{sudo}eng/install.sh apt   (Debian's postgresql-15), or set Cartrita:Tools:PostgresBinDirectory"),
                new($"pgvector for PostgreSQL 15 ({postgres.VectorControlFile})",
                    () => Task.FromResult(File.Exists(postgres.VectorControlFile)),
                    $"{sudo}eng/install.sh pgvector   (builds pgvector 0.8.0 from Debian's source package)"),
                new($"redis-server ({options.Tools.RedisServer})",
                    () => Task.FromResult(File.Exists(options.Tools.RedisServer)),
                    $"{sudo}eng/install.sh apt   (Debian's redis-server), or set Cartrita:Tools:RedisServer"),
            ]);
        }

        builder.Eventing.Subscribe<BeforeStartEvent>(async (@event, _) =>
        {
            // The interpreter each Python application really runs with (Cartrita:Tools:Python, its .venv, or the system's).
            var checks = prerequisites
                .Concat(@event.Model.Resources.OfType<UvicornAppResource>().Select(app => PythonPackages(app, sudo)))
                .ToList();
            // The checks are independent: run them side by side.
            var present = await Task.WhenAll(checks.Select(prerequisite => prerequisite.IsPresent()));
            var missing = checks.Where((_, index) => !present[index]).ToList();
            if (missing.Count > 0)
            {
                throw new DistributedApplicationException(
                    "Cannot start: prerequisites are missing.\n" +
                    string.Join('\n', missing.Select(m => $"  - {m.What}\n    fix: {m.Fix}")) +
                    "\n`./cartrita up` installs all of them.");
            }
        });
        return builder;
    }

    private static Prerequisite PythonPackages(UvicornAppResource app, string sudo) =>
        new($"Python packages for {app.Name} (fastapi, uvicorn, psycopg, redis, jwt, prometheus_client) in {app.Command}",
            // find_spec locates the packages without importing them: ~0.05 s instead of 1–3 s for the imports.
            async () => (await CommandLine.RunAsync(app.Command,
                ["-c", "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))",
                    "fastapi", "uvicorn", "psycopg", "psycopg_pool", "redis", "jwt", "prometheus_client"],
                timeout: TimeSpan.FromSeconds(20))).Succeeded,
            $"{sudo}eng/install.sh apt   (Debian's python3-fastapi, python3-uvicorn, python3-psycopg, … for /usr/bin/python3), or set Cartrita:Tools:Python to an interpreter that has them");

    // As a shell finds a command: an executable file of that name in a PATH folder (without running it: `npm --version`
    // alone takes ~0.5 s).
    private static bool IsOnPath(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, command))
            .Any(path => File.Exists(path) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0));
}
