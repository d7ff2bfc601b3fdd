using System.Text;
using Cartrita.Publishing.Deployment;
using Cartrita.Publishing.Manifest;

namespace Cartrita.Publishing.Tests;

/// <summary>What the publishers read besides the manifest: Dockerfiles, parameter values, the profile.</summary>
public sealed class DeploymentInputTests
{
    [Fact]
    public void A_Dockerfile_gives_the_final_stages_command_user_and_healthcheck()
    {
        var info = DockerfileInfo.Parse("""
            # syntax=docker/dockerfile:1
            FROM node:20 AS base
            ENTRYPOINT ["docker-entrypoint.sh"]
            CMD ["node"]

            FROM base AS build
            RUN npm ci \
                && npm run build

            FROM base AS runner
            USER 10001:10001
            HEALTHCHECK --interval=15s --timeout=5s --start-period=15s --retries=3 \
              CMD ["node", "-e", "process.exit(0)"]
            CMD ["node", "server.js"]
            """);

        Assert.Equal(["docker-entrypoint.sh", "node", "server.js"], info.Command);
        Assert.Equal("10001:10001", info.User);
        Assert.Equal(["CMD", "node", "-e", "process.exit(0)"], info.HealthcheckTest);
        Assert.Equal("15s", info.HealthcheckOptions["interval"]);
        Assert.Equal("3", info.HealthcheckOptions["retries"]);
    }

    [Fact]
    public void Shell_form_runs_in_sh_and_ENTRYPOINT_drops_an_inherited_CMD()
    {
        var info = DockerfileInfo.Parse("""
            FROM alpine AS base
            CMD ["sleep", "1"]
            FROM base
            ENTRYPOINT exec python3 -m app
            HEALTHCHECK CMD wget -q -O- http://127.0.0.1/health || exit 1
            """);

        Assert.Equal(["/bin/sh", "-c", "exec python3 -m app"], info.Command);
        Assert.Equal(["CMD-SHELL", "wget -q -O- http://127.0.0.1/health || exit 1"], info.HealthcheckTest);
    }

    [Fact]
    public void The_services_Dockerfiles_are_read_as_the_compose_file_uses_them()
    {
        Assert.Equal(["node", "server.js"], DockerfileInfo.TryRead(Repo.Path("frontend", "Dockerfile"))!.Command);
        Assert.Equal("10001:10001", DockerfileInfo.TryRead(Repo.Path("services", "ai-orchestrator", "Dockerfile"))!.User);
        Assert.Equal("$APP_UID", DockerfileInfo.TryRead(Repo.Path("Cartrita.MigrationService", "Dockerfile"))!.User);
        Assert.Null(DockerfileInfo.TryRead(Repo.Path("no", "Dockerfile")));
    }

    private static readonly AspireManifest Manifest = ManifestReader.Parse(Encoding.UTF8.GetBytes("""
        { "resources": {
            "user": { "type": "parameter.v0", "value": "{user.inputs.value}", "inputs": { "value": { "type": "string" } } },
            "db-password": { "type": "parameter.v0", "value": "{db-password.inputs.value}",
              "inputs": { "value": { "type": "string", "secret": true,
                "default": { "generate": { "minLength": 40, "special": false, "minUpper": 5, "minNumeric": 5 } } } } },
            "api-key": { "type": "parameter.v0", "value": "{api-key.inputs.value}", "inputs": { "value": { "type": "string", "secret": true } } } } }
        """), "/app/aspire-manifest.json");

    [Fact]
    public void Parameter_values_come_from_the_environment_in_either_spelling()
    {
        var values = new ParameterValues(Manifest, DeploymentProfile.Empty(),
            new Dictionary<string, string> { ["USER"] = "alice", ["Parameters__db-password"] = "from-env", ["API_KEY"] = "" }, null, null);

        Assert.Equal("alice", values.Get("user"));
        Assert.Equal("from-env", values.Get("db-password"));
        Assert.Equal("", values.Get("api-key")); // an optional secret: empty is allowed
        Assert.Equal("from-env", values.SecretsToStore["db-password"]);
    }

    [Fact]
    public void Generated_secrets_follow_the_rules_and_are_kept_for_the_next_publish()
    {
        var directory = Repo.TempDirectory();
        try
        {
            var first = new ParameterValues(Manifest, DeploymentProfile.Empty(), new Dictionary<string, string>(), null, directory);
            var generated = first.Get("db-password");
            Assert.Equal(40, generated.Length);
            Assert.True(generated.All(char.IsAsciiLetterOrDigit));
            Assert.True(generated.Count(char.IsAsciiLetterUpper) >= 5);
            Assert.True(generated.Count(char.IsAsciiDigit) >= 5);

            File.WriteAllText(Path.Combine(directory, "db-password"), generated);
            var second = new ParameterValues(Manifest, DeploymentProfile.Empty(), new Dictionary<string, string>(), null, directory);
            Assert.Equal(generated, second.Get("db-password"));
            Assert.Empty(second.SecretsToStore);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void A_dot_env_file_and_the_profile_default_are_read_in_that_order()
    {
        var directory = Repo.TempDirectory();
        try
        {
            var dotEnv = Path.Combine(directory, ".env");
            File.WriteAllText(dotEnv, "# comment\nUSER=\"bob\"\nAPI_KEY=\n");
            var profile = DeploymentProfile.Parse("parameters:\n  user:\n    default: robbie\n", "profile.yaml");

            Assert.Equal("bob", new ParameterValues(Manifest, profile, new Dictionary<string, string>(), dotEnv, null).Get("user"));
            Assert.Equal("robbie", new ParameterValues(Manifest, profile, new Dictionary<string, string>(), null, null).Get("user"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void A_profile_that_names_something_else_is_an_error()
    {
        var profile = DeploymentProfile.Parse("resources:\n  user:\n    role: job\n", "profile.yaml");

        var error = Assert.Throws<PublishingException>(() => DeploymentPlan.Create(Manifest, profile));

        Assert.Contains("configures 'user', which is not a container", error.Message);
    }

    [Fact]
    public void An_invalid_profile_is_reported_with_its_position()
    {
        var error = Assert.Throws<PublishingException>(() => DeploymentProfile.Parse("name: x\nresources:\n  web:\n    replicas: many\n", "profile.yaml"));

        Assert.StartsWith("profile.yaml:4:", error.Message);
    }

    [Fact]
    public void A_root_user_is_refused()
    {
        var manifest = ManifestReader.Parse(Encoding.UTF8.GetBytes("""{ "resources": { "web": { "type": "container.v0", "image": "nginx" } } }"""), "/app/m.json");
        var profile = DeploymentProfile.Parse("resources:\n  web:\n    user: \"0:0\"\n", "profile.yaml");

        var error = Assert.Throws<PublishingException>(() => DeploymentPlan.Create(manifest, profile));

        Assert.Contains("runs as root", error.Message);
    }
}
