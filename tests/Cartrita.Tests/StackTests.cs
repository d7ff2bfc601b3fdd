using System.Net;
using System.Text.Json;
using Npgsql;

namespace Cartrita.Tests;

[Collection(StackCollection.Name)]
public sealed class StackTests(StackFixture stack)
{
    [Fact]
    public async Task Orchestrator_health_reports_database_and_redis_ok()
    {
        using var client = stack.App.CreateHttpClient("ai-orchestrator", "http");
        using var response = await client.GetAsync("/health");
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(body);
        var checks = json.RootElement.GetProperty("checks");
        Assert.Equal("ok", checks.GetProperty("database").GetProperty("status").GetString());
        Assert.Equal("ok", checks.GetProperty("redis").GetProperty("status").GetString());
    }

    [Fact]
    public async Task Frontend_health_sees_the_orchestrator()
    {
        using var client = stack.App.CreateHttpClient("frontend", "http");
        using var response = await client.GetAsync("/api/health");
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(body);
        Assert.Equal("frontend", json.RootElement.GetProperty("service").GetString());
        Assert.True(json.RootElement.GetProperty("orchestrator").GetProperty("reachable").GetBoolean(), body);
    }

    [Fact]
    public async Task Frontend_home_page_sends_a_visitor_without_a_session_to_the_login_page()
    {
        // Pages need a login (issue 17); the signed-in status board is checked in the browser tests (EndToEnd).
        using var client = stack.App.CreateHttpClient("frontend", "http");
        using var response = await client.GetAsync("/");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("/login", response.RequestMessage!.RequestUri!.AbsolutePath);
        Assert.Contains("Cartrita", html);
        Assert.Contains("login-username", html);
    }

    [Fact]
    public async Task Migrations_created_both_extensions()
    {
        var connectionString = await stack.App.GetConnectionStringAsync("cartrita");
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT extname FROM pg_extension ORDER BY extname", connection);
        var extensions = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                extensions.Add(reader.GetString(0));
            }
        }

        Assert.Contains("vector", extensions);
        Assert.Contains("uuid-ossp", extensions);
    }

    /// <summary>Issue 17: the orchestrator connected as the superuser; its sessions are the app role's now.</summary>
    [Fact]
    public async Task The_orchestrators_database_sessions_are_the_app_role()
    {
        using var client = stack.App.CreateHttpClient("ai-orchestrator", "http");
        Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode); // reports the database: a session is open

        await using var connection = new NpgsqlConnection(await stack.App.GetConnectionStringAsync("cartrita"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT coalesce(array_agg(DISTINCT usename::text), '{}') FROM pg_stat_activity WHERE application_name = 'cartrita-ai-orchestrator'", connection);

        Assert.Equal(["cartrita_app"], (string[])(await command.ExecuteScalarAsync())!);
    }
}
