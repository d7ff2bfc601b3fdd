using Cartrita.AppHost.Terminal;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Cartrita.Tests.Terminal;

/// <summary>The terminal report's rules as plain functions: what a failure is said to be, and how a console tail reads.</summary>
public sealed class KnownFailuresTests
{
    private static readonly FailureContext Docker = new("docker", "/data/logs", "");

    private static LogLine Line(string content, bool error = false) => new(0, content, error);

    [Fact]
    public void A_rejected_password_names_the_servers_volume_and_both_fixes()
    {
        var password = new ParameterResource("postgres-password", _ => "x", secret: true);
        var server = new PostgresServerResource("postgres", null, password);
        server.Annotations.Add(new ContainerMountAnnotation("cartrita.apphost-0123456789-postgres-data", "/var/lib/postgresql/data", ContainerMountType.Volume, isReadOnly: false));
        var rejected = new HealthReportSnapshot("cartrita_check", HealthStatus.Unhealthy, null,
            "Npgsql.PostgresException (0x80004005): 28P01: password authentication failed for user \"robbie\"\n   at Npgsql.Internal…");

        Assert.Equal("28P01: password authentication failed for user \"robbie\"", KnownFailures.FatalHealthReport([rejected]));
        var diagnosis = KnownFailures.Diagnose(server, "Running", [rejected], [], Docker, timedOut: false);

        Assert.Equal("the data volume 'cartrita.apphost-0123456789-postgres-data' was initialized with another password than the one configured now", diagnosis.Why);
        Assert.Contains("set Parameters:postgres-password", diagnosis.Fix);
        Assert.Contains("docker volume rm cartrita.apphost-0123456789-postgres-data", diagnosis.Fix);
        Assert.Null(KnownFailures.FatalHealthReport(
            [new HealthReportSnapshot("cartrita_check", HealthStatus.Unhealthy, null, "Npgsql.NpgsqlException: Failed to connect to 127.0.0.1:5432")]));
    }

    [Fact]
    public void A_launchers_own_fix_is_split_from_its_reason()
    {
        var diagnosis = KnownFailures.Diagnose(new ContainerResource("postgres"), "FailedToStart", [],
            [Line("Failed to create resource postgres"), Line("Aspire.Hosting.DistributedApplicationException: the postgres user cannot write to '/x'. Fix: `chmod o+x` each parent folder.")],
            Docker, timedOut: false);

        Assert.Equal("the postgres user cannot write to '/x'.", diagnosis.Why);
        Assert.Equal("`chmod o+x` each parent folder.", diagnosis.Fix);
    }

    [Fact]
    public void An_image_the_engine_cannot_pull_is_named_with_the_ways_to_get_it()
    {
        var redis = new ContainerResource("redis");
        redis.Annotations.Add(new ContainerImageAnnotation { Image = "library/redis", Tag = "7.0.15", Registry = "registry.invalid" });

        var diagnosis = KnownFailures.Diagnose(redis, "FailedToStart", [],
            [Line("Error response from daemon: pull access denied for registry.invalid/library/redis", error: true)], Docker, timedOut: false);

        Assert.StartsWith("the image registry.invalid/library/redis:7.0.15 could not be pulled", diagnosis.Why);
        Assert.Contains("eng/containers/base-images.sh docker", diagnosis.Fix);
        Assert.Contains("--Cartrita:Infrastructure=processes", diagnosis.Fix);
    }

    [Fact]
    public void Without_a_known_cause_the_reason_is_the_last_line_that_says_error_not_the_last_on_stderr()
    {
        var diagnosis = KnownFailures.Diagnose(new ContainerResource("redis"), "Exited", [],
            [Line("starting"), Line("FATAL CONFIG FILE ERROR: bad directive", error: true), Line("appendonly yes", error: true)], Docker, timedOut: true);

        Assert.Equal("FATAL CONFIG FILE ERROR: bad directive", diagnosis.Why);
        Assert.Contains("/data/logs/redis.log", diagnosis.Fix);
        Assert.Contains("--Cartrita:Startup:TimeoutSeconds=", diagnosis.Fix);
    }

    [Fact]
    public void A_tail_reads_in_time_order_without_timestamps_stack_frames_or_aspires_certificate_line()
    {
        var tail = new ResourceLogTail(capacity: 10);
        // Standard output and standard error arrive as two streams, each in order but not with each other.
        tail.Add([Line("No custom certificate authorities to configure for 'redis'. Default certificate authority trust behavior will be used."),
            Line("2026-12-03T12:00:01.0000000Z second (stdout)"), Line("2026-12-03T12:00:03.0000000Z fourth (stdout)")]);
        tail.Add([Line("2026-12-03T12:00:02.0000000Z third (stderr)", error: true),
            Line("Failed to create resource redis\nSystem.IO.IOException: the file exists\n   at Some.Method()\n--- End of stack trace from previous location ---\n   at Other.Method()")]);

        Assert.Equal(
            ["second (stdout)", "third (stderr)", "Failed to create resource redis", "System.IO.IOException: the file exists", "fourth (stdout)"],
            tail.Lines().Select(line => line.Content));
    }
}
