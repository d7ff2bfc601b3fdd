using System.Diagnostics;
using System.Text;
using Cartrita.Publishing.Compose;
using Cartrita.Publishing.Deployment;
using Cartrita.Publishing.Manifest;
using k8s;
using k8s.Models;

namespace Cartrita.Publishing.Tests;

/// <summary>
/// What the production path needs to run on a real engine (issue 14): secrets built in the container from the parameter
/// files, servers that are PID 1, health checks that survive podman's API, sized tmpfs, a created database.
/// </summary>
[Collection(PublishedCartritaCollection.Name)]
public sealed class ProductionPathTests(PublishedCartrita published)
{
    // Everything a shell or a URL could trip over.
    private const string Password = "p@ss w/rd:é\"$x'\\`%;~";
    private const string OwnerPassword = "0wn&r p@ss=\"$y'\\`%;~";
    private const string RedisPassword = "r&d?s#=+";

    [Theory]
    [InlineData("dash")]
    [InlineData("bash")]
    public void The_entrypoint_builds_urls_and_connection_strings_from_the_parameter_files_and_execs(string shell)
    {
        var directory = Repo.TempDirectory();
        try
        {
            var publisher = new Publisher(Repo.Path("aspire-manifest.json"), Repo.Path(PublishedCartrita.Profile),
                new Dictionary<string, string>
                {
                    ["POSTGRES_PASSWORD"] = "superuser-" + Password, ["POSTGRES_APP_PASSWORD"] = Password, ["POSTGRES_OWNER_PASSWORD"] = OwnerPassword,
                    ["REDIS_PASSWORD"] = RedisPassword, ["JWT_SECRET"] = "j" + new string('w', 40),
                },
                useDeploymentInputs: false);
            var compose = publisher.Compose(Path.Combine(directory, "compose"));
            var kubernetes = publisher.Kubernetes(Path.Combine(directory, "k8s"));
            compose.Write();
            kubernetes.Write();

            var composeScript = PublishedCartrita.Load(Path.Combine(compose.Directory, ComposePublisher.ProductionFile))
                .Map("services").Map("ai-orchestrator").Strings("entrypoint")[2].Replace("$$", "$", StringComparison.Ordinal);
            var pod = KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(kubernetes.Directory, "ai-orchestrator.yaml")))
                .OfType<V1Deployment>().Single().Spec.Template.Spec.Containers.Single();
            Assert.Equal("/run/secrets", pod.VolumeMounts.Single(m => m.Name == "secrets").MountPath);

            // Kubernetes passes the plain parameters (JWT_SECRET_KEY, …) with secretKeyRef; the wrapper builds the rest.
            foreach (var (script, secrets, all) in new[] { (composeScript, Path.Combine(compose.Directory, "secrets"), true), (pod.Command[2], Path.Combine(kubernetes.Directory, "secrets"), false) })
            {
                var (environment, pid, shellPid) = RunShim(shell, script, secrets);

                Assert.Equal($"postgresql://cartrita_app:{Uri.EscapeDataString(Password)}@postgres:5432/cartrita", environment["DATABASE_URL"]);
                Assert.Equal($"redis://:{Uri.EscapeDataString(RedisPassword)}@redis:6379/0", environment["REDIS_URL"]);
                Assert.False(environment.ContainsKey("ConnectionStrings__cartrita"), "the orchestrator gets a database connection string besides DATABASE_URL");
                Assert.Equal(all ? "j" + new string('w', 40) : null, environment.GetValueOrDefault("JWT_SECRET_KEY"));
                Assert.Equal(all ? "" : null, environment.GetValueOrDefault("OPENAI_API_KEY"));
                // exec all the way: the image's command is the process the runtime started (PID 1 in a container).
                Assert.Equal(pid, shellPid);
            }

            // The migration worker: its owner and superuser connection strings, one of them through `exec env` (a name
            // with a hyphen), still exec'd all the way.
            var migrationsScript = PublishedCartrita.Load(Path.Combine(compose.Directory, ComposePublisher.ProductionFile))
                .Map("services").Map("migrations").Strings("entrypoint")[2].Replace("$$", "$", StringComparison.Ordinal);
            var (migrations, migrationsPid, migrationsShellPid) = RunShim(shell, migrationsScript, Path.Combine(compose.Directory, "secrets"));
            Assert.Equal($"Host=postgres;Port=5432;Username=cartrita_owner;Password={OwnerPassword};Database=cartrita", migrations["ConnectionStrings__cartrita"]);
            Assert.Equal($"Host=postgres;Port=5432;Username=robbie;Password=superuser-{Password}", migrations["ConnectionStrings__postgres-admin"]);
            Assert.Equal((OwnerPassword, Password), (migrations["CARTRITA_DB_OWNER_PASSWORD"], migrations["CARTRITA_DB_APP_PASSWORD"]));
            Assert.Equal(migrationsPid, migrationsShellPid);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Runs the wrapper with its secrets read from <paramref name="secrets"/>, then a probe printing its PID and environment.</summary>
    private static (Dictionary<string, string> Environment, int Pid, int ShellPid) RunShim(string shell, string script, string secrets)
    {
        var start = new ProcessStartInfo(shell) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // The probe prints its PID and environment itself: a shell would drop variables whose names it cannot hold
        // (ConnectionStrings__postgres-admin), which the real command (dotnet) does get.
        foreach (var argument in (string[])["-c", script.Replace("/run/secrets/", secrets + "/", StringComparison.Ordinal), "ai-orchestrator",
                     "/usr/bin/python3", "-c", "import os, sys; sys.stdout.write(f'{os.getpid()}\\n' + ''.join(f'{k}={v}\\0' for k, v in os.environ.items()))"])
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["LC_ALL"] = "C.UTF-8";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{shell}: exit {process.ExitCode}: {error}");
        var newline = output.IndexOf('\n');
        var environment = output[(newline + 1)..].Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.Split('=', 2)).ToDictionary(e => e[0], e => e[1], StringComparer.Ordinal);
        return (environment, process.Id, int.Parse(output[..newline], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void No_health_check_argument_contains_whitespace_and_the_checks_are_the_images()
    {
        var services = published.ProductionCompose.Map("services");
        foreach (var name in services.Keys())
        {
            if (services.Map(name).MapOrNull("healthcheck") is { } check && check.Has("test"))
            {
                Assert.All(check.Strings("test"), a => Assert.False(a.Any(char.IsWhiteSpace), $"{name}: \"{a}\""));
            }
        }
        Assert.Equal(["CMD", "python3", "-m", "cartrita.orchestrator.healthcheck"], services.Map("ai-orchestrator").Map("healthcheck").Strings("test"));
        Assert.Equal(["CMD", "node", "/app/healthcheck.mjs"], services.Map("frontend").Map("healthcheck").Strings("test"));
        Assert.Equal(["CMD", "redis-cli", "-p", "6379", "ping"], services.Map("redis").Map("healthcheck").Strings("test"));
        // The files the checks run are in the images.
        Assert.Contains("COPY scripts/healthcheck.mjs ./healthcheck.mjs", File.ReadAllText(Repo.Path("frontend", "Dockerfile")));
        Assert.True(File.Exists(Repo.Path("services", "ai-orchestrator", "cartrita", "orchestrator", "healthcheck.py")));
    }

    [Theory]
    [InlineData("resources:\n  web:\n    health:\n      command: [\"python3\", \"-c\", \"import sys; sys.exit(0)\"]\n")]
    [InlineData("resources:\n  web:\n    health:\n      command: [\"/bin/sh\", \"-c\", \"curl -f http://127.0.0.1/\"]\n")]
    public void The_publisher_refuses_a_health_check_argument_with_whitespace(string profile)
    {
        var manifest = ManifestReader.Parse(Encoding.UTF8.GetBytes("""{ "resources": { "web": { "type": "container.v0", "image": "nginx" } } }"""), "/app/m.json");

        var error = Assert.Throws<PublishingException>(() => DeploymentPlan.Create(manifest, DeploymentProfile.Parse(profile, "profile.yaml")));

        Assert.Contains("resource 'web'", error.Message);
        Assert.Contains("contains whitespace", error.Message);
        Assert.Contains("script or module in the image", error.Message);
    }

    [Fact]
    public void A_shell_command_execs_its_server_and_a_compound_one_must_end_in_exec()
    {
        Assert.Equal("exec redis-server --save 60 1", ShellExec.Ensure("redis-server --save 60 1", "w"));
        Assert.Equal("exec redis-server", ShellExec.Ensure("exec redis-server", "w"));
        Assert.Equal("cd /data; exec redis-server", ShellExec.Ensure("cd /data; exec redis-server", "w"));

        var error = Assert.Throws<PublishingException>(() => ShellExec.Ensure("cd /data && redis-server", "resource 'cache'"));
        Assert.Contains("resource 'cache'", error.Message);
        Assert.Contains("PID 1", error.Message);
    }

    [Fact]
    public void Kubernetes_has_the_same_fixes_where_they_apply()
    {
        var objects = KubernetesYaml.LoadAllFromString(published.KustomizeOutput);
        var postgres = objects.OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "postgres").Spec.Template.Spec;
        Assert.Equal(["pg_ctl", "stop", "-m", "fast"], postgres.Containers.Single().Lifecycle.PreStop.Exec.Command);
        var tmpfs = postgres.Volumes.Single(v => v.Name == "var-run-postgresql").EmptyDir;
        Assert.Equal(("Memory", "64Mi"), (tmpfs.Medium, tmpfs.SizeLimit.ToString()));
        Assert.Equal("128Mi", objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "frontend").Spec.Template.Spec.Volumes.Single(v => v.Name == "tmp").EmptyDir.SizeLimit.ToString());

        var postgresEnv = objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name.StartsWith("postgres-env", StringComparison.Ordinal));
        Assert.Equal("cartrita", postgresEnv.Data["POSTGRES_DB"]);

        // Secret keys are the parameters, never derived values.
        foreach (var secret in objects.OfType<V1Secret>())
        {
            Assert.All(secret.Data.Keys, key => Assert.Contains(key, ComposeTests.Parameters));
        }
        var redis = objects.OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "redis").Spec.Template.Spec.Containers.Single();
        Assert.Equal(["-c", "exec redis-server --requirepass $REDIS_PASSWORD --save 60 1"], redis.Args);
    }
}
