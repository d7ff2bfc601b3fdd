using System.Diagnostics;
using System.Text;

namespace Cartrita.Publishing.Tests;

/// <summary>The repository, and the external tools the publishing tests drive.</summary>
internal static class Repo
{
    private static readonly SemaphoreSlim NpmLock = new(1, 1);

    /// <summary>The repository root (the folder with Cartrita.sln).</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>A path under the repository root.</summary>
    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>A test data file.</summary>
    public static string TestData(params string[] parts) => System.IO.Path.Combine([AppContext.BaseDirectory, "TestData", .. parts]);

    /// <summary>The compose-spec schema kept as test data.</summary>
    public static string ComposeSchema => TestData("schemas", "compose-spec.json");

    /// <summary>A new empty temporary folder.</summary>
    public static string TempDirectory()
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "cartrita-publishing-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Runs a program; returns its exit code and output.</summary>
    public static ProcessResult Run(string file, IEnumerable<string> args, string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null, string? stdin = null, int timeoutSeconds = 180)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory ?? Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{file} is not installed ({e.Message}); {InstallHint(file)}", e);
        }
        using var _ = process;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }
        if (!process.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeoutSeconds} s");
        }
        process.WaitForExit();
        return new ProcessResult(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Regenerates the manifest with the AppHost into a file at the repository root (where its paths are relative to).</summary>
    public static string GenerateManifest(IReadOnlyDictionary<string, string>? environment = null)
    {
        var output = Path($".aspire-manifest.test-{Guid.NewGuid():N}.json");
        try
        {
            var result = Run("dotnet",
                ["run", "--project", "Cartrita.AppHost", "--no-build", "--no-launch-profile", "--", "--publisher", "manifest", "--output-path", output],
                environment: environment);
            Assert.True(result.ExitCode == 0, $"manifest publish failed ({result.ExitCode}):\n{result.Stdout}\n{result.Stderr}");
            return File.ReadAllText(output);
        }
        finally
        {
            File.Delete(output);
        }
    }

    /// <summary>Runs <c>docker-compose -f FILE config -q</c> (Debian's docker-compose 1.29, which needs no daemon for this).</summary>
    public static ProcessResult ComposeConfig(string file) =>
        Run("docker-compose", ["-f", System.IO.Path.GetFileName(file), "config", "-q"], System.IO.Path.GetDirectoryName(file));

    /// <summary>Runs <c>kubectl kustomize DIR</c>.</summary>
    public static ProcessResult Kustomize(string directory) => Run("kubectl", ["kustomize", directory]);

    /// <summary>Validates Compose files against the compose-spec schema with ajv.</summary>
    public static ProcessResult ValidateComposeSchema(params string[] files)
    {
        EnsureValidators();
        return Run("node", [Path("eng", "validate", "validate-compose.mjs"), ComposeSchema, .. files]);
    }

    /// <summary>Validates Kubernetes YAML against the API schemas with kubernetes-models.</summary>
    public static ProcessResult ValidateKubernetes(string yaml)
    {
        EnsureValidators();
        return Run("node", [Path("eng", "validate", "validate-k8s.mjs")], stdin: yaml);
    }

    /// <summary>Installs eng/validate's npm packages from its lockfile when they are missing or older than it.</summary>
    private static void EnsureValidators()
    {
        NpmLock.Wait();
        try
        {
            var folder = Path("eng", "validate");
            var modules = System.IO.Path.Combine(folder, "node_modules");
            var marker = System.IO.Path.Combine(modules, ".package-lock.json");
            if (File.Exists(marker) && File.GetLastWriteTimeUtc(marker) >= File.GetLastWriteTimeUtc(System.IO.Path.Combine(folder, "package-lock.json")))
            {
                return;
            }
            var result = Run("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], folder, timeoutSeconds: 300);
            Assert.True(result.ExitCode == 0, $"npm ci in eng/validate failed:\n{result.Stderr}");
        }
        finally
        {
            NpmLock.Release();
        }
    }

    private static string InstallHint(string file) => file switch
    {
        "docker-compose" => "install it with `apt-get install -y --no-install-recommends docker-compose` (eng/install.sh does).",
        "kubectl" => "install kubectl (Debian: `apt-get install -y kubernetes-client`).",
        "node" or "npm" => "install Node.js 20 with npm.",
        _ => "install it.",
    };

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(directory.FullName, "Cartrita.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("Cartrita.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A finished process.</summary>
public sealed record ProcessResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Both streams, for assertion messages.</summary>
    public string Output => $"{Stdout}\n{Stderr}";
}
