using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Npgsql;
using Xunit.Abstractions;

namespace Cartrita.Tests.Reliability;

/// <summary>
/// The AppHost run the way a developer runs it (<c>dotnet run</c>, dashboard included, fixed ports, one data folder),
/// with a sentinel value for every secret parameter, through a life of unclean stops:
/// run 1 → kill -9 of the AppHost → run 2 (same ports and data) → kill -9 of the AppHost and DCP, leaving orphaned
/// servers → run 3, which the preflight must refuse, naming each port and its owner. Then the publishers, with the same
/// sentinels. Everything printed, logged, answered or published along the way is kept for the secret scan.
/// </summary>
public sealed class AppHostLifecycleFixture : IAsyncLifetime
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(4);
    public static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(90);

    private readonly StringBuilder _log = new();

    public AppHostLifecycleFixture()
    {
        string Sentinel(string name) => $"SENTINEL{name.Replace("-", "", StringComparison.Ordinal)}{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12))}";
        Sentinels = new Dictionary<string, string>
        {
            ["postgres-password"] = Sentinel("postgres-password"),
            ["redis-password"] = Sentinel("redis-password"),
            ["jwt-secret"] = Sentinel("jwt-secret"),
            ["cartrita-api-key"] = Sentinel("cartrita-api-key"),
            ["openai-api-key"] = "sk-" + Sentinel("openai-api-key"),
            ["anthropic-api-key"] = Sentinel("anthropic-api-key"),
            ["deepgram-api-key"] = Sentinel("deepgram-api-key"),
        };
    }

    /// <summary>Every secret parameter of the AppHost and its sentinel value.</summary>
    public IReadOnlyDictionary<string, string> Sentinels { get; }

    public FakeProviders Providers { get; } = new();

    public string DataDirectory { get; } = TestStack.CreateDataDirectory();

    public StackPorts Ports { get; } = StackPorts.Pick();

    /// <summary>Every text a secret could leak into: (where it came from, the text).</summary>
    public List<(string Source, string Text)> Surfaces { get; } = [];

    /// <summary>Chat replies and their providers, per run (shows the sentinel keys were really used).</summary>
    public List<string> ChatProviders { get; } = [];

    public TimeSpan FirstStart { get; private set; }
    public TimeSpan SecondStart { get; private set; }
    public TimeSpan? CleanupAfterKill { get; private set; }
    public List<string> LeftoversAfterKill { get; } = [];

    public string SurvivorMarker { get; } = "survivor" + Guid.NewGuid().ToString("N");
    public string? SurvivorConversationId { get; private set; }
    public string? SurvivorMemoryId { get; private set; }
    public int? SurvivorConversationStatus { get; private set; }
    public bool SurvivorConversationHasMarker { get; private set; }
    public bool SurvivorMemoryFoundBySearch { get; private set; }
    public long SurvivorRowsInDatabase { get; private set; }

    /// <summary>Servers left running after the AppHost and DCP were killed: (pid, name, command line, ports it listens on).</summary>
    public List<ProcessTable.Entry> Orphans { get; } = [];
    public int? PreflightExitCode { get; private set; }
    public string PreflightOutput { get; private set; } = "";
    public TimeSpan PreflightTook { get; private set; }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    private void Note(string line)
    {
        lock (_log)
        {
            _log.AppendLine(line);
        }
    }

    private Dictionary<string, string> Environment() => new(Sentinels.Select(s => KeyValuePair.Create($"Parameters__{s.Key}", s.Value)))
    {
        // The provider clients talk to the loopback fake (DCP passes the AppHost's environment on to executables;
        // Guard() checks that before any chat is sent, so a sentinel key never leaves the machine).
        ["OPENAI_BASE_URL"] = Providers.OpenAiBaseUrl,
        ["ANTHROPIC_BASE_URL"] = Providers.BaseUrl,
        ["DEEPGRAM_BASE_URL"] = Providers.BaseUrl,
    };

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();

        // --- run 1: fresh data folder ---------------------------------------------------------------------------------
        await using (var run1 = AppHostRun.Start(DataDirectory, Ports, Environment()))
        {
            await run1.WaitHealthyAsync(StartTimeout);
            FirstStart = clock.Elapsed;
            Note($"run 1 healthy after {FirstStart.TotalSeconds:0.0}s");
            Guard(run1);
            await ExerciseAsync(run1, "run 1", writeSurvivor: true);

            // Unclean stop: kill -9 of the AppHost. DCP notices and stops what it started.
            var appHost = run1.AppHostProcessId();
            var killedAt = clock.Elapsed;
            AppHostRun.Signal(appHost, AppHostRun.SigKill);
            CleanupAfterKill = await WaitForCleanupAsync(killedAt, clock);
            Note(CleanupAfterKill is { } took
                ? $"kill -9 AppHost (PID {appHost}): ports free, no process on the data folder, no postmaster.pid after {took.TotalSeconds:0.0}s"
                : $"kill -9 AppHost (PID {appHost}): still there after {CleanupTimeout.TotalSeconds}s: {string.Join("; ", LeftoversAfterKill)}");
            await run1.WaitForExitAsync(TimeSpan.FromSeconds(30));
            Surfaces.Add(("run 1 AppHost console", run1.Output));
            AddResourceLogs("run 1");
        }
        if (CleanupAfterKill is null)
        {
            return; // the facts report it; a second start would only fail on the leftovers
        }

        // --- run 2: same ports, same data ---------------------------------------------------------------------------------
        var secondFrom = clock.Elapsed;
        var run2 = AppHostRun.Start(DataDirectory, Ports, Environment());
        List<ProcessTable.Entry> started;
        try
        {
            await run2.WaitHealthyAsync(StartTimeout);
            SecondStart = clock.Elapsed - secondFrom;
            Note($"run 2 healthy after {SecondStart.TotalSeconds:0.0}s");
            Guard(run2);
            await CheckSurvivorAsync(run2);
            await ExerciseAsync(run2, "run 2", writeSurvivor: false);

            // Unclean stop of everything that supervises the servers: the AppHost and DCP (its API server, controllers and
            // process monitors) frozen, then killed, so none of them can stop the servers: those are orphaned and keep
            // their ports, as after a crash of the whole supervisor side.
            var appHost = run2.AppHostProcessId();
            var dcp = ProcessTable.Snapshot().Where(p => p.Name == "dcp" && p.CommandLine.Contains($"--monitor {appHost} ", StringComparison.Ordinal)).ToList();
            started = [.. dcp.SelectMany(d => ProcessTable.Descendants(d.Pid))];
            var supervisors = dcp.Concat(started.Where(p => p.Name == "dcp")).Select(p => p.Pid).Append(appHost).Append(run2.ProcessId).Distinct().ToList();
            foreach (var pid in supervisors)
            {
                AppHostRun.Signal(pid, AppHostRun.SigStop);
            }
            foreach (var pid in supervisors)
            {
                AppHostRun.Signal(pid, AppHostRun.SigKill);
            }
            Note($"kill -9 of the AppHost and DCP: {string.Join(", ", supervisors)}");
            await run2.WaitForExitAsync(TimeSpan.FromSeconds(30));
            await Task.Delay(TimeSpan.FromSeconds(2));
            Orphans.AddRange(started.Where(p => !supervisors.Contains(p.Pid) && p.IsAlive));
            Note($"orphans: {string.Join("; ", Orphans.Select(o => $"{o.Pid} {o.Name}"))}");
        }
        finally
        {
            Surfaces.Add(("run 2 AppHost console", run2.Output));
            AddResourceLogs("run 2");
            await run2.DisposeAsync();
        }

        // --- run 3: the orphans hold the ports; the preflight must say so ------------------------------------------------
        try
        {
            var preflightFrom = clock.Elapsed;
            await using var run3 = AppHostRun.Start(DataDirectory, Ports, Environment());
            if (await run3.WaitForExitAsync(TimeSpan.FromSeconds(120)))
            {
                PreflightExitCode = run3.ExitCode;
            }
            PreflightTook = clock.Elapsed - preflightFrom;
            PreflightOutput = run3.Output;
            Surfaces.Add(("run 3 AppHost console", run3.Output));
        }
        finally
        {
            await StopAsync(Orphans);
        }

        // --- publishers ------------------------------------------------------------------------------------------------
        try
        {
            await PublishAsync();
        }
        catch (Exception ex) when (ex is Xunit.Sdk.XunitException or IOException or System.ComponentModel.Win32Exception)
        {
            PublishProblem = ex.Message;
        }
        Note($"fixture done after {clock.Elapsed.TotalSeconds:0.0}s");
    }

    public async Task DisposeAsync()
    {
        // Whatever failed above: nothing started here outlives the tests.
        await StopAsync(ProcessTable.Mentioning(DataDirectory));
        Providers.Dispose();
        TestStack.DeleteDataDirectory(DataDirectory);
    }

    /// <summary>The orchestrator must talk to the loopback fake, never to a real provider with a sentinel key.</summary>
    private void Guard(AppHostRun run)
    {
        var uvicorn = ProcessTable.Snapshot().FirstOrDefault(p => p.CommandLine.Contains("uvicorn", StringComparison.Ordinal)
            && p.CommandLine.Contains($"--port {run.Ports.Orchestrator}", StringComparison.Ordinal));
        Assert.True(uvicorn is not null, "no uvicorn process on the orchestrator's port");
        var baseUrl = ProcessTable.EnvironmentVariable(uvicorn.Pid, "OPENAI_BASE_URL");
        if (baseUrl != Providers.OpenAiBaseUrl)
        {
            throw new Xunit.Sdk.XunitException($"the orchestrator's OPENAI_BASE_URL is '{baseUrl}', not the loopback fake: refusing to send a chat");
        }
    }

    private async Task ExerciseAsync(AppHostRun run, string label, bool writeSurvivor)
    {
        var apiKey = Sentinels["cartrita-api-key"];
        using var client = new HttpClient { BaseAddress = run.OrchestratorUri, Timeout = TimeSpan.FromSeconds(60) };
        string? token = null;

        async Task<(HttpStatusCode Status, string Body)> Send(HttpMethod method, string path, HttpContent? content = null, Action<HttpRequestMessage>? authorize = null)
        {
            using var request = new HttpRequestMessage(method, path) { Content = content };
            if (authorize is not null)
            {
                authorize(request);
            }
            else if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }
            using var response = await client.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            Surfaces.Add(($"{label} {method} {path} -> {(int)response.StatusCode}", $"{response.Headers}{response.Content.Headers}\n{body}"));
            return (response.StatusCode, body);
        }

        void Anonymous(HttpRequestMessage request)
        {
        }

        await Send(HttpMethod.Get, "/health");
        var (tokenStatus, tokenBody) = await Send(HttpMethod.Post, "/api/auth/token", authorize: r => r.Headers.Add("X-API-Key", apiKey));
        Assert.True(tokenStatus == HttpStatusCode.OK, $"{label}: token {tokenStatus} {tokenBody}");
        token = JsonDocument.Parse(tokenBody).RootElement.GetProperty("access_token").GetString()!;

        // Refusals that involve the secrets.
        await Send(HttpMethod.Post, "/api/auth/token", JsonContent.Create(new { api_key = apiKey[..^1] }), Anonymous);
        await Send(HttpMethod.Get, "/api/conversations", authorize: r => r.Headers.Add("X-API-Key", apiKey + "x"));
        await Send(HttpMethod.Get, $"/api/conversations?api_key={apiKey}", authorize: Anonymous);
        await Send(HttpMethod.Post, "/api/chat", new StringContent($$"""{"message": "{{apiKey}}", oops""", Encoding.UTF8, "application/json"));
        await Send(HttpMethod.Post, "/api/memory/search", JsonContent.Create(new { query = 5, k = Sentinels["jwt-secret"] }));

        // Chat through the (fake) OpenAI provider: plain, refused by the provider with the key in its error, SSE, WebSocket.
        var (chatStatus, chatBody) = await Send(HttpMethod.Post, "/api/chat", JsonContent.Create(new { message = $"hello from {label}, {SurvivorMarker}" }));
        Assert.True(chatStatus == HttpStatusCode.OK, $"{label}: chat {chatStatus} {chatBody}");
        var chat = JsonDocument.Parse(chatBody).RootElement;
        ChatProviders.Add($"{label}: {chat.GetProperty("provider").GetString()}");
        Note($"{label} chat: {chatBody[..Math.Min(400, chatBody.Length)]}; fake providers saw {Providers.Paths.Count} requests");
        var conversationId = chat.GetProperty("conversation_id").GetString()!;
        await Send(HttpMethod.Post, "/api/chat", JsonContent.Create(new { message = FakeProviders.EchoKeyTrigger }));
        await Send(HttpMethod.Get, $"/api/chat/stream?message={Uri.EscapeDataString($"stream in {label}")}");
        var (_, wsTokenBody) = await Send(HttpMethod.Post, "/api/auth/token", JsonContent.Create(new { purpose = "ws" }), r => r.Headers.Add("X-API-Key", apiKey));
        var wsToken = JsonDocument.Parse(wsTokenBody).RootElement.GetProperty("access_token").GetString()!;
        Surfaces.Add(($"{label} WS /ws/chat", await WebSocketChatAsync(run, wsToken, $"socket in {label}")));

        // Memory, conversations, agents, voice (fake Deepgram), metrics.
        var (memoryStatus, memoryBody) = await Send(HttpMethod.Post, "/api/memory", JsonContent.Create(new { content = $"the {SurvivorMarker} memory from {label}", metadata = new { run = label } }));
        Assert.True(memoryStatus == HttpStatusCode.Created, $"{label}: memory {memoryStatus} {memoryBody}");
        await Send(HttpMethod.Post, "/api/memory/search", JsonContent.Create(new { query = $"{SurvivorMarker} memory", k = 3 }));
        await Send(HttpMethod.Get, "/api/conversations");
        await Send(HttpMethod.Get, $"/api/conversations/{conversationId}");
        await Send(HttpMethod.Get, "/api/agents");
        var audio = new ByteArrayContent(RandomNumberGenerator.GetBytes(2048));
        audio.Headers.ContentType = new MediaTypeHeaderValue("audio/wav");
        await Send(HttpMethod.Post, "/api/voice/transcribe", audio);
        await Send(HttpMethod.Get, "/metrics");

        // The frontend (it holds the API key server-side) and the dashboard's front door.
        using var browser = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        foreach (var uri in new[] { "/", "/api/health", "/chat", "/memory", "/api/agents", "/api/conversations" }.Select(p => new Uri(run.FrontendUri, p))
                     .Append(new Uri($"http://127.0.0.1:{run.Ports.Dashboard}/")))
        {
            using var response = await browser.GetAsync(uri);
            Surfaces.Add(($"{label} GET {uri} -> {(int)response.StatusCode}", $"{response.Headers}\n{await response.Content.ReadAsStringAsync()}"));
        }

        if (writeSurvivor)
        {
            SurvivorConversationId = conversationId;
            SurvivorMemoryId = JsonDocument.Parse(memoryBody).RootElement.GetProperty("ids")[0].GetString();
        }
    }

    private async Task<string> WebSocketChatAsync(AppHostRun run, string token, string message)
    {
        using var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{run.Ports.Orchestrator}/ws/chat?token={token}"), timeout.Token);
        await socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(new { message }), WebSocketMessageType.Text, true, timeout.Token);
        var frames = new StringBuilder();
        var buffer = new byte[16384];
        using var frame = new MemoryStream();
        string? kind = null;
        while (kind is not ("done" or "error"))
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                break;
            }
            frame.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                var text = Encoding.UTF8.GetString(frame.ToArray());
                frame.SetLength(0);
                frames.AppendLine(text);
                kind = JsonDocument.Parse(text).RootElement.GetProperty("type").GetString();
            }
        }
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
        return frames.ToString();
    }

    private async Task CheckSurvivorAsync(AppHostRun run)
    {
        using var client = new HttpClient { BaseAddress = run.OrchestratorUri, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Add("X-API-Key", Sentinels["cartrita-api-key"]);
        using (var conversation = await client.GetAsync($"/api/conversations/{SurvivorConversationId}"))
        {
            var body = await conversation.Content.ReadAsStringAsync();
            SurvivorConversationStatus = (int)conversation.StatusCode;
            SurvivorConversationHasMarker = body.Contains(SurvivorMarker, StringComparison.Ordinal);
            Surfaces.Add(("run 2 survivor conversation", body));
        }
        using (var search = await client.PostAsJsonAsync("/api/memory/search", new { query = $"the {SurvivorMarker} memory from run 1", k = 5 }))
        {
            var body = await search.Content.ReadAsStringAsync();
            SurvivorMemoryFoundBySearch = body.Contains(SurvivorMemoryId!, StringComparison.Ordinal);
            Surfaces.Add(("run 2 survivor search", body));
        }
        await using var connection = new NpgsqlConnection(run.DatabaseConnectionString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT (SELECT count(*) FROM memories WHERE id = @memory) + (SELECT count(*) FROM messages WHERE conversation_id = @conversation)", connection);
        command.Parameters.AddWithValue("memory", Guid.Parse(SurvivorMemoryId!));
        command.Parameters.AddWithValue("conversation", Guid.Parse(SurvivorConversationId!));
        SurvivorRowsInDatabase = (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>After kill -9 of the AppHost: waits until every port is free, no process runs on the data folder and PostgreSQL left no pid file.</summary>
    private async Task<TimeSpan?> WaitForCleanupAsync(TimeSpan killedAt, Stopwatch clock)
    {
        var pidFile = Path.Combine(DataDirectory, "postgres", "postmaster.pid");
        while (clock.Elapsed - killedAt < CleanupTimeout)
        {
            LeftoversAfterKill.Clear();
            LeftoversAfterKill.AddRange(Ports.All.Where(LoopbackPorts.Listening).Select(p => $"port {p} still listening"));
            LeftoversAfterKill.AddRange(ProcessTable.Mentioning(DataDirectory).Select(p => $"PID {p.Pid} {p.Name} still running"));
            if (File.Exists(pidFile))
            {
                LeftoversAfterKill.Add("postmaster.pid still there");
            }
            if (LeftoversAfterKill.Count == 0)
            {
                return clock.Elapsed - killedAt;
            }
            await Task.Delay(250);
        }
        return null;
    }

    private void AddResourceLogs(string label)
    {
        var logs = Path.Combine(DataDirectory, "logs");
        foreach (var file in Directory.Exists(logs) ? Directory.EnumerateFiles(logs, "*.log") : [])
        {
            Surfaces.Add(($"{label} resource log {Path.GetFileName(file)}", File.ReadAllText(file)));
        }
    }

    /// <summary>
    /// Ends processes our AppHost runs started: SIGTERM to the top ones (PostgreSQL then shuts down cleanly with its
    /// children), SIGKILL to whatever is left after 15 s. A PID is only signalled while it is still the same process.
    /// </summary>
    private static async Task StopAsync(IReadOnlyCollection<ProcessTable.Entry> processes)
    {
        var pids = processes.Select(p => p.Pid).ToHashSet();
        foreach (var top in processes.Where(p => !pids.Contains(p.ParentPid) && p.IsAlive))
        {
            AppHostRun.Signal(top.Pid, AppHostRun.SigTerm);
        }
        var clock = Stopwatch.StartNew();
        while (processes.Any(p => p.IsAlive) && clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            await Task.Delay(200);
        }
        foreach (var left in processes.Where(p => p.IsAlive))
        {
            AppHostRun.Signal(left.Pid, AppHostRun.SigKill);
        }
    }

    /// <summary>The manifest publisher and the Compose / Kubernetes converter, with the sentinels in the environment.</summary>
    private async Task PublishAsync()
    {
        var output = Path.Combine(DataDirectory, "publish");
        Directory.CreateDirectory(output);
        var environment = Sentinels.ToDictionary(s => $"Parameters__{s.Key}", s => s.Value);
        var manifest = Path.Combine(output, "aspire-manifest.json");

        var (manifestExit, manifestOutput) = await RunAsync("dotnet",
            ["run", "--no-build", "--no-launch-profile", "--project", Path.Combine(Repository.Root, "Cartrita.AppHost"), "--", "--publisher", "manifest", "--output-path", manifest],
            environment);
        Surfaces.Add(("manifest publisher console", manifestOutput));
        Assert.True(manifestExit == 0 && File.Exists(manifest), $"manifest publisher exit {manifestExit}:\n{manifestOutput}");

        var converter = Path.Combine(Repository.Root, "Cartrita.Publishing", "bin", "Debug", "net10.0", "Cartrita.Publishing.dll");
        Assert.True(File.Exists(converter), $"{converter} is missing: build Cartrita.sln (./cartrita test does)");
        var profile = Path.Combine(Repository.Root, "deploy", "publish-profile.yaml");
        var (convertExit, convertOutput) = await RunAsync("dotnet",
            [converter, "all", "--manifest", manifest, "--profile", File.Exists(profile) ? profile : "none",
             "--compose-out", Path.Combine(output, "compose"), "--k8s-out", Path.Combine(output, "k8s")],
            environment);
        Surfaces.Add(("compose/k8s converter console", convertOutput));
        Assert.True(convertExit == 0, $"converter exit {convertExit}:\n{convertOutput}");

        // Secret values belong in the secrets/ folders (git-ignored, mounted as secrets); every other file is scanned.
        PublishedFiles = Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(output, f).Split(Path.DirectorySeparatorChar).Contains("secrets"))
            .ToList();
        foreach (var file in PublishedFiles)
        {
            Surfaces.Add(($"published {Path.GetRelativePath(output, file)}", await File.ReadAllTextAsync(file)));
        }
        Note($"published {PublishedFiles.Count} files (outside secrets/)");
    }

    public List<string> PublishedFiles { get; private set; } = [];

    public string? PublishProblem { get; private set; }

    private static Task<(int ExitCode, string Output)> RunAsync(string program, string[] arguments, IReadOnlyDictionary<string, string> environment) =>
        ChildProcess.RunAsync(program, arguments, TimeSpan.FromMinutes(2), environment, Repository.Root);
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AppHostLifecycleCollection : ICollectionFixture<AppHostLifecycleFixture>
{
    // Runs on its own after the parallel collections: it starts whole stacks and kills them.
    public const string Name = "apphost-lifecycle";
}

[Collection(AppHostLifecycleCollection.Name)]
public sealed class AppHostLifecycleTests(AppHostLifecycleFixture runs, ITestOutputHelper output)
{
    [Fact]
    public void Sentinel_secrets_appear_in_no_log_line_http_response_or_published_file()
    {
        output.WriteLine(runs.Log);
        output.WriteLine($"scanned {runs.Surfaces.Count} texts ({runs.Surfaces.Sum(s => s.Text.Length) / 1024} KiB): " +
            $"{runs.Surfaces.Count(s => s.Source.Contains("resource log", StringComparison.Ordinal))} resource logs, " +
            $"{runs.Surfaces.Count(s => s.Source.Contains(" -> ", StringComparison.Ordinal))} HTTP responses, {runs.PublishedFiles.Count} published files");

        Assert.True(runs.PublishProblem is null, runs.PublishProblem);
        // The secrets were really in play: the fake providers were called with the sentinel keys, and the API key worked.
        Assert.Contains($"Bearer {runs.Sentinels["openai-api-key"]}", runs.Providers.Credentials);
        Assert.Contains($"Token {runs.Sentinels["deepgram-api-key"]}", runs.Providers.Credentials);
        Assert.All(runs.ChatProviders, p => Assert.EndsWith("openai", p));
        Assert.Contains(runs.Surfaces, s => s.Source.Contains("resource log ai-orchestrator.log", StringComparison.Ordinal));
        Assert.Contains(runs.Surfaces, s => s.Source.StartsWith("published", StringComparison.Ordinal));

        var leaks = (
            from surface in runs.Surfaces
            from sentinel in runs.Sentinels.Select(s => (s.Key, s.Value)).Append(("any sentinel", "SENTINEL"))
            let at = surface.Text.IndexOf(sentinel.Item2, StringComparison.OrdinalIgnoreCase)
            where at >= 0
            select $"{sentinel.Item1} in {surface.Source}: …{surface.Text[Math.Max(0, at - 80)..Math.Min(surface.Text.Length, at + 80)]}…").ToList();
        Assert.Empty(leaks);
    }

    [Fact]
    public void Postgres_data_written_before_an_unclean_stop_is_there_after_the_restart()
    {
        output.WriteLine(runs.Log);
        Assert.True(runs.CleanupAfterKill is not null, $"run 2 never started: {string.Join("; ", runs.LeftoversAfterKill)}");
        Assert.Equal(200, runs.SurvivorConversationStatus);
        Assert.True(runs.SurvivorConversationHasMarker, "the conversation from run 1 lost its messages");
        Assert.True(runs.SurvivorMemoryFoundBySearch, "the memory from run 1 is not found by search in run 2");
        Assert.Equal(3, runs.SurvivorRowsInDatabase); // the memory, the user message and the reply
    }

    [Fact]
    public void Kill_9_of_the_AppHost_leaves_nothing_that_blocks_the_next_start()
    {
        output.WriteLine(runs.Log);
        Assert.True(runs.CleanupAfterKill is not null,
            $"{AppHostLifecycleFixture.CleanupTimeout.TotalSeconds}s after kill -9 of the AppHost: {string.Join("; ", runs.LeftoversAfterKill)}");
        // The second start used the same fixed ports and the same data folder, and came up healthy.
        Assert.True(runs.SecondStart > TimeSpan.Zero && runs.SecondStart < AppHostLifecycleFixture.StartTimeout, $"second start: {runs.SecondStart}");
    }

    [Fact]
    public void Orphaned_servers_on_the_ports_are_reported_by_the_preflight_with_port_and_owner()
    {
        output.WriteLine(runs.Log);
        output.WriteLine(runs.PreflightOutput);
        // The scenario happened: with the AppHost and DCP gone, the servers they started kept running on their ports.
        var postgres = runs.Orphans.Where(o => o.Name == "postgres" && o.CommandLine.Contains(runs.DataDirectory, StringComparison.Ordinal)).ToList();
        var redis = runs.Orphans.Where(o => o.Name == "redis-server").ToList();
        Assert.True(postgres.Count > 0 && redis.Count > 0, $"expected orphaned postgres and redis-server, found: {string.Join("; ", runs.Orphans)}");

        Assert.True(runs.PreflightExitCode is not null and not 0, $"the third start did not refuse (exit {runs.PreflightExitCode}) within {runs.PreflightTook}");
        Assert.Contains("Cannot start: ports Cartrita needs are in use.", runs.PreflightOutput);
        Assert.Contains($"port {runs.Ports.Postgres} (postgres) is taken by PID ", runs.PreflightOutput);
        Assert.Contains($"port {runs.Ports.Redis} (redis) is taken by PID ", runs.PreflightOutput);
        Assert.Contains(runs.PreflightOutput.Split('\n'), line =>
            line.Contains($"port {runs.Ports.Redis} (redis)", StringComparison.Ordinal) && redis.Any(o => line.Contains($"PID {o.Pid} (", StringComparison.Ordinal)) && line.Contains("redis-server", StringComparison.Ordinal));
        Assert.Contains(runs.PreflightOutput.Split('\n'), line =>
            line.Contains($"port {runs.Ports.Postgres} (postgres)", StringComparison.Ordinal) && line.Contains("postgres", StringComparison.Ordinal) && runs.Orphans.Any(o => line.Contains($"PID {o.Pid} (", StringComparison.Ordinal)));
        Assert.Contains("--Cartrita:Ports:", runs.PreflightOutput); // and how to move off the port
        Assert.True(runs.PreflightTook < TimeSpan.FromSeconds(60), $"the refusal took {runs.PreflightTook}");
    }
}
