using Cartrita.AppHost.Hosting.LocalProcesses;
using Microsoft.Extensions.Logging;

namespace Cartrita.AppHost.Hosting.NextJs;

/// <summary>
/// Keeps a Next.js folder ready to run: node modules that match the lockfile, and a production build newer than every
/// source file. Both steps are skipped in milliseconds when nothing changed.
/// </summary>
internal sealed class NextJsWorkspace(string appDirectory, ILogger logger)
{
    // Folders that are outputs or dependencies, not sources of the build.
    private static readonly HashSet<string> NonSourceFolders = ["node_modules", ".next", "test-results", "playwright-report", "coverage"];

    private static readonly Dictionary<string, string?> QuietNpm = new()
    {
        ["NEXT_TELEMETRY_DISABLED"] = "1",
        ["npm_config_audit"] = "false",
        ["npm_config_fund"] = "false",
        ["npm_config_update_notifier"] = "false",
    };

    private string LockFile => Path.Combine(appDirectory, "package-lock.json");

    // npm rewrites this file on every install: when it is older than the lockfile, the modules are stale.
    private string InstalledLockFile => Path.Combine(appDirectory, "node_modules", ".package-lock.json");

    private string BuildIdFile => Path.Combine(appDirectory, ".next", "BUILD_ID");

    private string StandaloneDirectory => Path.Combine(appDirectory, ".next", "standalone");

    public bool NodeModulesAreCurrent =>
        File.Exists(InstalledLockFile) && File.GetLastWriteTimeUtc(InstalledLockFile) >= File.GetLastWriteTimeUtc(LockFile);

    public async Task EnsureNodeModulesAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(Path.Combine(appDirectory, "package.json")))
        {
            throw new DistributedApplicationException($"'{appDirectory}' has no package.json: is this the Next.js application folder?");
        }
        if (NodeModulesAreCurrent)
        {
            return;
        }
        logger.LogInformation("Installing node modules (npm ci) in {Directory}", appDirectory);
        await RunAsync("npm", ["ci", "--no-audit", "--no-fund"], "npm ci", cancellationToken);
    }

    public async Task EnsureBuildAsync(CancellationToken cancellationToken)
    {
        var builtAt = File.Exists(BuildIdFile) ? File.GetLastWriteTimeUtc(BuildIdFile) : DateTime.MinValue;
        var changed = EnumerateSources().FirstOrDefault(file => File.GetLastWriteTimeUtc(file) > builtAt);
        if (changed is null && File.Exists(Path.Combine(StandaloneDirectory, "server.js")))
        {
            logger.LogInformation("Production build is up to date");
            // A build made by hand (npm run build) may not have copied the assets the standalone server needs.
            CopyStaticAssets();
            return;
        }
        logger.LogInformation("Building for production (next build){Reason}",
            changed is null ? "" : $", {Path.GetRelativePath(appDirectory, changed)} changed");
        await RunAsync("node", [Path.Combine("node_modules", "next", "dist", "bin", "next"), "build"], "next build", cancellationToken);

        if (!File.Exists(Path.Combine(StandaloneDirectory, "server.js")))
        {
            throw new DistributedApplicationException(
                $"next build in '{appDirectory}' produced no .next/standalone/server.js: set output: 'standalone' in next.config.");
        }
        CopyStaticAssets();
    }

    // The standalone server serves static assets only from its own folder; next build leaves copying them to us.
    private void CopyStaticAssets()
    {
        CopyDirectory(Path.Combine(appDirectory, ".next", "static"), Path.Combine(StandaloneDirectory, ".next", "static"));
        CopyDirectory(Path.Combine(appDirectory, "public"), Path.Combine(StandaloneDirectory, "public"));
    }

    private static void CopyDirectory(string source, string destination)
    {
        if (!Directory.Exists(source))
        {
            return;
        }
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(destination, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }

    private IEnumerable<string> EnumerateSources()
    {
        var pending = new Stack<string>([appDirectory]);
        while (pending.TryPop(out var directory))
        {
            foreach (var file in Directory.EnumerateFiles(directory))
            {
                yield return file;
            }
            foreach (var child in Directory.EnumerateDirectories(directory))
            {
                if (!NonSourceFolders.Contains(Path.GetFileName(child)))
                {
                    pending.Push(child);
                }
            }
        }
    }

    private async Task RunAsync(string program, string[] arguments, string step, CancellationToken cancellationToken)
    {
        var result = await CommandLine.RunAsync(
            program, arguments, appDirectory, QuietNpm,
            onOutput: line => logger.LogInformation("{Line}", line),
            timeout: TimeSpan.FromMinutes(10),
            cancellationToken: cancellationToken);
        if (!result.Succeeded)
        {
            throw new DistributedApplicationException($"{step} failed in '{appDirectory}' (exit {result.ExitCode}); its output is in the resource's console log.");
        }
    }
}
