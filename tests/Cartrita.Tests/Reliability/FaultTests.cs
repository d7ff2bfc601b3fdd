using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using Xunit.Abstractions;

namespace Cartrita.Tests.Reliability;

/// <summary>
/// kill -9 of Redis, then of PostgreSQL (the processes the AppHost started) while clients keep writing chats and
/// memories through the orchestrator; each part is started again with the AppHost's own "start" command.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class FaultTests(StackFixture stack, ITestOutputHelper output)
{
    private static readonly TimeSpan HealthDownWithin = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan HealthUpWithin = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan DependencyRestartWithin = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);
    private const int Writers = 6;

    private sealed record Write(
        string Kind, string Marker, int Status, string? RetryAfter, string? Error, TimeSpan At,
        string? ConversationId, string? ReplyId, IReadOnlyList<string> MemoryIds, string? Failure)
    {
        /// <summary>When the answer arrived (<see cref="At"/> is when the request was sent).</summary>
        public TimeSpan AnsweredAt { get; init; }
    }

    private readonly Stopwatch _clock = Stopwatch.StartNew();

    [Fact]
    public async Task Killing_redis_then_postgres_under_load_answers_503_recovers_and_loses_no_acknowledged_write()
    {
        using var test = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var app = stack.App;
        var notifications = app.Services.GetRequiredService<ResourceNotificationService>();
        var commands = app.Services.GetRequiredService<ResourceCommandService>();
        var orchestratorPid = ResourceProcesses.ProcessId(app, "ai-orchestrator");
        var orchestratorStart = ResourceProcesses.StartTicks(orchestratorPid);

        // Every state the orchestrator passes through while its dependencies die and come back.
        var orchestratorStates = new ConcurrentQueue<string>();
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(test.Token);
        var watcher = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in notifications.WatchAsync(watching.Token))
                {
                    if (e.Resource.Name == "ai-orchestrator" && e.Snapshot.State?.Text is { } text)
                    {
                        orchestratorStates.Enqueue(text);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        });

        using var client = await OrchestratorApi.AuthorizedClientAsync(app, RequestTimeout, maxConnections: Writers);
        using var health = OrchestratorApi.Client(OrchestratorApi.BaseUri(app), TimeSpan.FromSeconds(5));
        var writes = new ConcurrentQueue<Write>();
        using var stopWriting = new CancellationTokenSource();
        var writers = Enumerable.Range(0, Writers).Select(n => Task.Run(() => WriteLoopAsync(n, client, writes, stopWriting.Token))).ToList();

        var phases = new List<(string Name, TimeSpan From, TimeSpan To)>();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(2), test.Token);

            foreach (var part in new[] { "redis", "postgres" })
            {
                var pid = ResourceProcesses.ProcessId(app, part);
                var killedAt = _clock.Elapsed;
                ResourceProcesses.KillHard(pid);
                output.WriteLine($"{killedAt.TotalSeconds:0.00}s kill -9 {part} (PID {pid}, {ResourceProcesses.CommandName(pid) ?? "gone"})");

                var downAfter = await WaitForHealthAsync(health, HttpStatusCode.ServiceUnavailable, killedAt, test.Token);
                output.WriteLine($"  /health 503 after {downAfter.TotalSeconds:0.00}s");
                Assert.True(downAfter <= HealthDownWithin, $"/health turned 503 {downAfter.TotalSeconds:0.00}s after {part} died (limit {HealthDownWithin.TotalSeconds}s)");

                await notifications.WaitForResourceAsync(part, e => e.Snapshot.State?.Text is { } s && s != KnownResourceStates.Running && s != KnownResourceStates.Starting, test.Token);
                if (part == "postgres")
                {
                    // kill -9 leaves the postmaster.pid behind; the start below must cope with it.
                    Assert.True(File.Exists(Path.Combine(stack.DataDirectory, "postgres", "postmaster.pid")), "expected a stale postmaster.pid after kill -9");
                }

                // Clients keep writing into the outage for longer than the orchestrator waits for a connection (3 s for
                // PostgreSQL, 2 s for Redis), so requests sent into it are answered 503 rather than served late.
                await Task.Delay(TimeSpan.FromSeconds(4), test.Token);

                var restartAt = _clock.Elapsed;
                var result = await commands.ExecuteCommandAsync(part, KnownResourceCommands.StartCommand, test.Token);
                Assert.True(result.Success, $"start {part}: {result.Message}");
                var startedAt = _clock.Elapsed;
                var serving = WaitUntilServingAsync(part, test.Token);
                var upAfter = await WaitForHealthAsync(health, HttpStatusCode.OK, startedAt, test.Token);
                var servingAt = await serving;
                var upAt = startedAt + upAfter;
                output.WriteLine($"{restartAt.TotalSeconds:0.00}s start {part} (command took {(startedAt - restartAt).TotalSeconds:0.00}s, new PID {ResourceProcesses.ProcessId(app, part)}); " +
                    $"{part} serving {(servingAt - startedAt).TotalSeconds:0.00}s later; /health 200 {upAfter.TotalSeconds:0.00}s later");
                // The orchestrator's part: healthy within 5 s of the dependency answering again. The dependency's own start
                // (PostgreSQL replays its WAL after kill -9, timing depends on the disk) gets a generous bound of its own.
                Assert.True(upAt - servingAt <= HealthUpWithin,
                    $"/health turned 200 {(upAt - servingAt).TotalSeconds:0.00}s after {part} answered again (limit {HealthUpWithin.TotalSeconds}s)");
                Assert.True(upAfter <= DependencyRestartWithin,
                    $"/health turned 200 {upAfter.TotalSeconds:0.00}s after {part} was started again (limit {DependencyRestartWithin.TotalSeconds}s)");
                phases.Add((part, killedAt, upAt));

                // Writes succeed again before the next fault.
                await Task.Delay(TimeSpan.FromSeconds(2), test.Token);
            }
        }
        finally
        {
            stopWriting.Cancel();
            await Task.WhenAll(writers).WaitAsync(RequestTimeout + TimeSpan.FromSeconds(10));
            watching.Cancel();
            await watcher;
            await RestoreAsync(notifications, commands);
        }

        var all = writes.OrderBy(w => w.At).ToList();
        Report(all, phases);

        // The orchestrator process never exited: same PID, same process, Running throughout.
        Assert.Equal(orchestratorStart, ResourceProcesses.StartTicks(orchestratorPid));
        Assert.All(orchestratorStates, s => Assert.Equal(KnownResourceStates.Running, s));

        // Every request was answered (no connection dropped), never with a 5xx other than 503 + Retry-After.
        Assert.Empty(all.Where(w => w.Failure is not null).Select(w => $"{w.Kind} at {w.At.TotalSeconds:0.00}s: {w.Failure}"));
        Assert.Empty(all.Where(w => w.Status >= 500 && w.Status != 503).Select(w => $"{w.Kind} {w.Status} {w.Error}"));
        Assert.All(all.Where(w => w.Status == 503), w =>
        {
            Assert.True(int.TryParse(w.RetryAfter, out var seconds) && seconds > 0, $"503 without Retry-After: {w.Kind} at {w.At.TotalSeconds:0.00}s");
            Assert.Equal("service_unavailable", w.Error);
        });

        // Both outages were really felt (chat needs Redis and PostgreSQL; memory writes need PostgreSQL): a chat answered
        // 503 while the part was down (by answer time: a request sent just before the kill can be the one that fails) ...
        foreach (var (name, from, to) in phases)
        {
            Assert.True(all.Any(w => w.Kind == "chat" && w.Status == 503 && w.AnsweredAt >= from && w.At <= to),
                $"no chat request was answered 503 during the {name} outage ({from.TotalSeconds:0.00}s..{to.TotalSeconds:0.00}s)");
        }
        Assert.Contains(all, w => w.Kind == "memory" && w.Status == 503);
        // ... and writes succeeded again after the last recovery.
        var recovered = phases[^1].To;
        Assert.Contains(all, w => w.Kind == "chat" && w.Status == 200 && w.At > recovered);
        Assert.Contains(all, w => w.Kind == "memory" && w.Status == 201 && w.At > recovered);

        await AssertAcknowledgedWritesAreStoredAsync(all);
    }

    private async Task WriteLoopAsync(int writer, HttpClient client, ConcurrentQueue<Write> writes, CancellationToken stop)
    {
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var kind = (i + writer) % 2 == 0 ? "chat" : "memory";
            var marker = $"faultdrill{writer}x{i}x{Guid.NewGuid():N}";
            var at = _clock.Elapsed;
            try
            {
                // In-flight requests are not cancelled when the drill ends: every answer is recorded (the client timeout bounds them).
                using var response = kind == "chat"
                    ? await client.PostAsJsonAsync("/api/chat", new { message = $"fault drill chat {marker}" }, CancellationToken.None)
                    : await client.PostAsJsonAsync("/api/memory", new { content = $"fault drill memory {marker}", metadata = new { drill = "fault" } }, CancellationToken.None);
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                var status = (int)response.StatusCode;
                string? error = null, conversationId = null, replyId = null;
                List<string> memoryIds = [];
                using (var json = JsonDocument.Parse(body))
                {
                    var root = json.RootElement;
                    if (status >= 400)
                    {
                        error = root.TryGetProperty("error", out var e) ? e.GetString() : $"no error field: {body}";
                    }
                    else if (kind == "chat")
                    {
                        conversationId = root.GetProperty("conversation_id").GetString();
                        replyId = root.GetProperty("message_id").GetString();
                    }
                    else
                    {
                        memoryIds = root.GetProperty("ids").EnumerateArray().Select(id => id.GetString()!).ToList();
                    }
                }
                writes.Enqueue(new Write(kind, marker, status, response.Headers.RetryAfter?.ToString(), error, at,
                    conversationId, replyId, memoryIds, null) { AnsweredAt = _clock.Elapsed });
                if (status >= 400)
                {
                    await Task.Delay(100, CancellationToken.None);
                }
            }
            catch (Exception ex)
            {
                writes.Enqueue(new Write(kind, marker, 0, null, null, at, null, null, [], $"{ex.GetType().Name}: {ex.Message}"));
                await Task.Delay(100, CancellationToken.None);
            }
        }
    }

    /// <summary>Polls /health every 100 ms until it answers <paramref name="expected"/>; returns the time since <paramref name="since"/>.</summary>
    private async Task<TimeSpan> WaitForHealthAsync(HttpClient health, HttpStatusCode expected, TimeSpan since, CancellationToken cancellationToken)
    {
        var deadline = since + TimeSpan.FromSeconds(30);
        var last = "";
        while (_clock.Elapsed < deadline)
        {
            try
            {
                using var response = await health.GetAsync("/health", cancellationToken);
                if (response.StatusCode == expected)
                {
                    return _clock.Elapsed - since;
                }
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}";
            }
            catch (HttpRequestException ex)
            {
                last = ex.Message;
            }
            await Task.Delay(100, cancellationToken);
        }
        throw new Xunit.Sdk.XunitException($"/health never answered {(int)expected} within 30 s; last: {last}");
    }

    /// <summary>
    /// Probes the dependency itself every 50 ms (Redis: AUTH + PING; PostgreSQL: a new connection and SELECT 1) and returns
    /// the time it first answered.
    /// </summary>
    private async Task<TimeSpan> WaitUntilServingAsync(string part, CancellationToken cancellationToken)
    {
        var connectionString = await stack.App.GetConnectionStringAsync(part == "redis" ? "redis" : "cartrita", cancellationToken)
            ?? throw new InvalidOperationException($"no connection string for {part}");
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                if (part == "redis" ? await RedisPingAsync(connectionString, cancellationToken) : await PostgresSelectOneAsync(connectionString, cancellationToken))
                {
                    return _clock.Elapsed;
                }
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or NpgsqlException or TimeoutException
                                       || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
            }
            await Task.Delay(50, cancellationToken);
        }
    }

    private static async Task<bool> RedisPingAsync(string connectionString, CancellationToken cancellationToken)
    {
        // host:port,password=...
        var parts = connectionString.Split(',');
        var hostPort = parts[0].Split(':');
        var password = parts.Single(p => p.StartsWith("password=", StringComparison.Ordinal))["password=".Length..];
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync("127.0.0.1", int.Parse(hostPort[1], System.Globalization.CultureInfo.InvariantCulture), cancellationToken);
        await using var stream = tcp.GetStream();
        var command = System.Text.Encoding.UTF8.GetBytes(
            $"*2\r\n$4\r\nAUTH\r\n${System.Text.Encoding.UTF8.GetByteCount(password)}\r\n{password}\r\n*1\r\n$4\r\nPING\r\n");
        await stream.WriteAsync(command, cancellationToken);
        var buffer = new byte[256];
        var received = "";
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        while (!received.Contains("\r\n+PONG", StringComparison.Ordinal) && !received.StartsWith('-'))
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            if (read == 0)
            {
                return false;
            }
            received += System.Text.Encoding.UTF8.GetString(buffer, 0, read);
        }
        return received.StartsWith("+OK\r\n+PONG", StringComparison.Ordinal);
    }

    private static async Task<bool> PostgresSelectOneAsync(string connectionString, CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, Timeout = 2 };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        return (int)(await command.ExecuteScalarAsync(cancellationToken))! == 1;
    }

    /// <summary>Whatever happened, leave PostgreSQL and Redis running and healthy for the next tests.</summary>
    private static async Task RestoreAsync(ResourceNotificationService notifications, ResourceCommandService commands)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        foreach (var part in new[] { "redis", "postgres" })
        {
            if (notifications.TryGetCurrentState(part, out var state) && state.Snapshot.State?.Text != KnownResourceStates.Running)
            {
                await commands.ExecuteCommandAsync(part, KnownResourceCommands.StartCommand, timeout.Token);
            }
        }
        foreach (var name in new[] { "redis", "postgres", "cartrita", "ai-orchestrator" })
        {
            await notifications.WaitForResourceAsync(name, e => e.Snapshot.HealthStatus == HealthStatus.Healthy, timeout.Token);
        }
    }

    private async Task AssertAcknowledgedWritesAreStoredAsync(List<Write> all)
    {
        var chats = all.Where(w => w.Kind == "chat" && w.Status == 200).ToList();
        var memories = all.Where(w => w.Kind == "memory" && w.Status == 201).ToList();

        await using var connection = new NpgsqlConnection(await stack.App.GetConnectionStringAsync("cartrita"));
        await connection.OpenAsync();

        var conversationIds = chats.Select(c => Guid.Parse(c.ConversationId!)).ToArray();
        var storedUserMessages = new HashSet<(Guid, string)>();
        await using (var command = new NpgsqlCommand("SELECT conversation_id, content FROM messages WHERE role = 'user' AND conversation_id = ANY(@ids)", connection))
        {
            command.Parameters.AddWithValue("ids", conversationIds);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                storedUserMessages.Add((reader.GetGuid(0), reader.GetString(1)));
            }
        }
        var storedReplies = await IdsAsync(connection, "SELECT id FROM messages WHERE role = 'assistant' AND id = ANY(@ids)",
            chats.Select(c => Guid.Parse(c.ReplyId!)).ToArray());
        var storedMemories = await IdsAsync(connection, "SELECT id FROM memories WHERE id = ANY(@ids)",
            memories.SelectMany(m => m.MemoryIds).Select(Guid.Parse).ToArray());

        var lost = new List<string>();
        foreach (var chat in chats)
        {
            if (!storedUserMessages.Contains((Guid.Parse(chat.ConversationId!), $"fault drill chat {chat.Marker}")))
            {
                lost.Add($"user message of chat {chat.Marker} (answered 200 at {chat.At.TotalSeconds:0.00}s)");
            }
            if (!storedReplies.Contains(Guid.Parse(chat.ReplyId!)))
            {
                lost.Add($"reply {chat.ReplyId} of chat {chat.Marker} (answered 200 at {chat.At.TotalSeconds:0.00}s)");
            }
        }
        lost.AddRange(memories.SelectMany(m => m.MemoryIds).Where(id => !storedMemories.Contains(Guid.Parse(id))).Select(id => $"memory {id}"));
        output.WriteLine($"checked in the database: {chats.Count} chats (user message + reply), {memories.Sum(m => m.MemoryIds.Count)} memories; lost {lost.Count}");
        Assert.Empty(lost);
    }

    private static async Task<HashSet<Guid>> IdsAsync(NpgsqlConnection connection, string sql, Guid[] ids)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("ids", ids);
        var found = new HashSet<Guid>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            found.Add(reader.GetGuid(0));
        }
        return found;
    }

    private void Report(List<Write> all, List<(string Name, TimeSpan From, TimeSpan To)> phases)
    {
        foreach (var (name, from, to) in phases)
        {
            output.WriteLine($"{name} outage {from.TotalSeconds:0.00}s..{to.TotalSeconds:0.00}s");
        }
        foreach (var group in all.GroupBy(w => (w.Kind, w.Status, w.Error)).OrderBy(g => g.Key.Kind).ThenBy(g => g.Key.Status))
        {
            output.WriteLine($"  {group.Key.Kind,-6} {group.Key.Status} {group.Key.Error ?? ""}: {group.Count()}");
        }
    }
}
