using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Cartrita.Tests.Reliability;

/// <summary>
/// Hostile requests against the orchestrator as the AppHost runs it: every one is answered 4xx with a JSON
/// <c>{error, detail}</c> body (never a 500, never a dropped connection), and the orchestrator stays healthy afterwards.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class HostileInputTests(StackFixture stack, ITestOutputHelper output)
{
    public sealed record Credentials(string ApiKey, string JwtSecret, string Token);

    private sealed record Case(Func<Credentials, HttpRequestMessage> Request, int Status, string Error);

    private const string Issuer = "cartrita-ai-orchestrator";
    private const int MaxBody = 1024 * 1024;

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // Malformed and truncated JSON
        ["truncated JSON object"] = new(PostJson("/api/chat", """{"message": "hel"""), 400, "invalid_json"),
        ["truncated after the colon"] = new(PostJson("/api/chat", """{"message": """), 400, "invalid_json"),
        ["single-quoted JSON"] = new(PostJson("/api/chat", "{'message': 'hi'}"), 400, "invalid_json"),
        ["trailing garbage after JSON"] = new(PostJson("/api/chat", """{"message": "hi"}}}"""), 400, "invalid_json"),
        ["plain text sent as JSON"] = new(PostJson("/api/memory/search", "what tea does robbie drink"), 400, "invalid_json"),
        ["token endpoint with malformed JSON"] = new(NoAuth(HttpMethod.Post, "/api/auth/token", """{"api_key": """), 400, "invalid_json"),
        ["empty body"] = new(PostJson("/api/chat", ""), 422, "validation_error"),
        ["JSON null"] = new(PostJson("/api/chat", "null"), 422, "validation_error"),
        ["JSON array instead of object"] = new(PostJson("/api/memory", """[{"content": "a"}]"""), 422, "validation_error"),
        // Wrong types and out-of-range values
        ["message is a number"] = new(PostJson("/api/chat", """{"message": 42}"""), 422, "validation_error"),
        ["message is an operator object"] = new(PostJson("/api/chat", """{"message": {"$ne": null}}"""), 422, "validation_error"),
        ["k is a string"] = new(PostJson("/api/memory/search", """{"query": "tea", "k": "5"}"""), 422, "validation_error"),
        ["k is NaN"] = new(PostJson("/api/memory/search", """{"query": "tea", "k": NaN}"""), 422, "validation_error"),
        ["k is huge"] = new(PostJson("/api/memory/search", """{"query": "tea", "k": 99999999999999999999999}"""), 422, "validation_error"),
        ["metadata holds Infinity"] = new(PostJson("/api/memory", """{"content": "a", "metadata": {"x": Infinity}}"""), 422, "validation_error"),
        ["257 memory items"] = new(PostJson("/api/memory", JsonSerializer.Serialize(new { items = Enumerable.Repeat(new { content = "x" }, 257) })), 422, "validation_error"),
        ["message of 16,001 characters"] = new(PostJson("/api/chat", JsonSerializer.Serialize(new { message = new string('x', 16_001) })), 422, "validation_error"),
        ["NUL character in message"] = new(PostJson("/api/chat", """{"message": "a\u0000b"}"""), 422, "validation_error"),
        ["lone surrogate in message"] = new(PostJson("/api/chat", """{"message": "a\ud800b"}"""), 422, "validation_error"),
        ["text/plain content type"] = new(c => WithToken(new HttpRequestMessage(HttpMethod.Post, "/api/chat") { Content = new StringContent("""{"message": "hi"}""", Encoding.UTF8, "text/plain") }, c), 422, "validation_error"),
        // Huge bodies and deep nesting
        ["body over 1 MB with Content-Length"] = new(PostJson("/api/chat", JsonSerializer.Serialize(new { message = new string('x', MaxBody + 10) })), 413, "payload_too_large"),
        ["chunked body over 1 MB"] = new(c =>
        {
            var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes($$"""{"content": "{{new string('y', 2 * MaxBody)}}"}""")));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            var request = WithToken(new HttpRequestMessage(HttpMethod.Post, "/api/memory") { Content = content }, c);
            request.Headers.TransferEncodingChunked = true;
            return request;
        }, 413, "payload_too_large"),
        ["JSON nested 100,000 arrays deep"] = new(PostJson("/api/chat", new string('[', 100_000) + new string(']', 100_000)), 400, "invalid_json"),
        ["metadata nested 40 objects deep"] = new(PostJson("/api/memory", $$"""{"content": "a", "metadata": {{string.Concat(Enumerable.Repeat("{\"k\": ", 40))}}1{{new string('}', 40)}}}"""), 422, "validation_error"),
        // Invalid UTF-8
        ["invalid UTF-8 in the body"] = new(PostBytes("/api/chat", [.. "{\"message\": \""u8, 0xff, 0xfe, 0x63, 0xe9, .. "\"}"u8]), 400, "invalid_body"),
        ["invalid UTF-8 in the path"] = new(Get("/api/conversations/%ff%fe"), 400, "invalid_encoding"),
        ["invalid UTF-8 in the query"] = new(Get("/api/chat/stream?message=%c3%28"), 400, "invalid_encoding"),
        // SQL- and shell-looking strings where they cannot be valid
        ["SQL in a conversation id (path)"] = new(Get("/api/conversations/1%27%20OR%20%271%27%3D%271"), 422, "validation_error"),
        ["SQL in a conversation id (body)"] = new(PostJson("/api/chat", """{"message": "hi", "conversation_id": "'; DROP TABLE conversations; --"}"""), 422, "validation_error"),
        ["SQL in limit"] = new(Get("/api/conversations?limit=1;DROP%20TABLE%20messages"), 422, "validation_error"),
        ["SQL in the stream's conversation id"] = new(Get("/api/chat/stream?message=hi&conversation_id=1%20UNION%20SELECT%20key_hash%20FROM%20api_clients"), 422, "validation_error"),
        ["shell substitution as agent"] = new(PostJson("/api/chat", """{"message": "hi", "agent": "$(rm -rf /)"}"""), 422, "validation_error"),
        ["shell metacharacters as agent"] = new(PostJson("/api/chat", """{"message": "hi", "agent": "general; cat /etc/passwd | nc 127.0.0.1 9"}"""), 422, "validation_error"),
        ["backticks in a path id"] = new(Get("/api/conversations/%60id%60"), 422, "validation_error"),
        ["encoded path traversal"] = new(Get("/api/conversations/..%2F..%2F..%2Fetc%2Fpasswd"), 404, "not_found"),
        ["unknown conversation"] = new(Get($"/api/conversations/{Guid.NewGuid()}"), 404, "not_found"),
        // Credentials
        ["no credentials"] = new(NoAuth(HttpMethod.Get, "/api/conversations"), 401, "unauthorized"),
        ["wrong API key"] = new(c => ApiKey("/api/conversations", "wrong-" + c.ApiKey), 401, "unauthorized"),
        ["empty API key"] = new(c => ApiKey("/api/conversations", ""), 401, "unauthorized"),
        ["API key in the query string"] = new(c => new HttpRequestMessage(HttpMethod.Get, $"/api/conversations?api_key={c.ApiKey}"), 401, "unauthorized"),
        ["token in the query of a non-streaming path"] = new(c => new HttpRequestMessage(HttpMethod.Get, $"/api/conversations?token={c.Token}"), 401, "unauthorized"),
        ["token endpoint with a wrong key"] = new(c => new HttpRequestMessage(HttpMethod.Post, "/api/auth/token") { Content = new StringContent($$"""{"api_key": "{{c.ApiKey}}x"}""", Encoding.UTF8, "application/json") }, 401, "unauthorized"),
        ["forged token (HS256, wrong secret)"] = new(c => Bearer(Jwt.Create(new { alg = "HS256", typ = "JWT" }, Claims(), "not-the-secret-" + c.JwtSecret)), 401, "unauthorized"),
        ["alg none token"] = new(_ => Bearer(Jwt.Create(new { alg = "none", typ = "JWT" }, Claims(), null)), 401, "unauthorized"),
        ["alg None token with a signature"] = new(c => Bearer(Jwt.Create(new { alg = "None", typ = "JWT" }, Claims(), null) + "c2lnbmF0dXJl"), 401, "unauthorized"),
        ["expired token (right secret)"] = new(c => Bearer(Jwt.Create(new { alg = "HS256", typ = "JWT" }, Claims(issuedAgo: 7200, expiresIn: -3600), c.JwtSecret)), 401, "unauthorized"),
        ["HS512 token (right secret)"] = new(c => Bearer(Jwt.Create(new { alg = "HS512", typ = "JWT" }, Claims(), c.JwtSecret)), 401, "unauthorized"),
        ["token without a subject (right secret)"] = new(c => Bearer(Jwt.Create(new { alg = "HS256", typ = "JWT" }, new { iat = Jwt.Now, exp = Jwt.Now + 600, iss = Issuer }, c.JwtSecret)), 401, "unauthorized"),
        ["token with a tampered subject"] = new(c => Bearer(Tamper(c.Token)), 401, "unauthorized"),
        ["garbage bearer"] = new(_ => Bearer("not.a.jwt"), 401, "unauthorized"),
        ["Basic authorization"] = new(c => { var r = new HttpRequestMessage(HttpMethod.Get, "/api/conversations"); r.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{c.ApiKey}"))); return r; }, 401, "unauthorized"),
        // Routing
        ["wrong method"] = new(c => WithToken(new HttpRequestMessage(HttpMethod.Delete, "/api/chat"), c), 405, "method_not_allowed"),
        ["unknown route"] = new(Get("/api/admin/users"), 404, "not_found"),
    };

    public static IEnumerable<object[]> CaseNames => Cases.Keys.Select(name => new object[] { name });

    [Fact]
    public void There_are_at_least_thirty_cases() => Assert.True(Cases.Count + WebSocketCases.Length >= 30, $"{Cases.Count} + {WebSocketCases.Length}");

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Hostile_request_is_answered_4xx_json_and_the_orchestrator_stays_up(string name)
    {
        var hostile = Cases[name];
        using var client = OrchestratorApi.Client(OrchestratorApi.BaseUri(stack.App), TimeSpan.FromSeconds(60));
        var credentials = await CredentialsAsync(client);
        var orchestratorPid = ResourceProcesses.ProcessId(stack.App, "ai-orchestrator");
        var orchestratorStart = ResourceProcesses.StartTicks(orchestratorPid);

        using var request = hostile.Request(credentials);
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        var target = request.RequestUri?.OriginalString ?? "";
        output.WriteLine($"{request.Method} {target[..Math.Min(100, target.Length)]} -> {(int)response.StatusCode} {body[..Math.Min(300, body.Length)]}");

        Assert.Equal(hostile.Status, (int)response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(body);
        Assert.Equal(hostile.Error, json.RootElement.GetProperty("error").GetString());
        Assert.False(string.IsNullOrWhiteSpace(json.RootElement.GetProperty("detail").GetString()));
        Assert.True(body.Length < 20_000, "the error echoes the request");
        Assert.DoesNotContain(credentials.ApiKey, body);
        Assert.DoesNotContain(credentials.JwtSecret, body);

        await AssertStillHealthyAsync(client, orchestratorPid, orchestratorStart);
    }

    // --- WebSocket ----------------------------------------------------------------------------------------------------

    private static readonly string[] WebSocketCases =
    [
        "no token", "forged token", "alg none token", "expired token",
        "binary frame", "text that is not JSON", "truncated JSON", "JSON array", "message is a number",
        "message too long", "unknown agent", "SQL in conversation id",
    ];

    [Fact]
    public async Task WebSocket_without_valid_credentials_gets_an_error_frame_and_close_4401()
    {
        using var client = OrchestratorApi.Client(OrchestratorApi.BaseUri(stack.App), TimeSpan.FromSeconds(30));
        var credentials = await CredentialsAsync(client);
        var tokens = new Dictionary<string, string?>
        {
            ["no token"] = null,
            ["forged token"] = Jwt.Create(new { alg = "HS256", typ = "JWT" }, Claims(), "forged-" + credentials.JwtSecret),
            ["alg none token"] = Jwt.Create(new { alg = "none", typ = "JWT" }, Claims(), null),
            ["expired token"] = Jwt.Create(new { alg = "HS256", typ = "JWT" }, Claims(issuedAgo: 7200, expiresIn: -3600), credentials.JwtSecret),
        };
        foreach (var (name, token) in tokens)
        {
            using var socket = await ConnectAsync(token);
            var frame = await ReceiveJsonAsync(socket);
            Assert.True(frame.GetProperty("type").GetString() == "error", $"{name}: {frame}");
            Assert.Equal("unauthorized", frame.GetProperty("error").GetString());
            Assert.False(string.IsNullOrWhiteSpace(frame.GetProperty("detail").GetString()));
            await ReceiveCloseAsync(socket);
            Assert.Equal((WebSocketCloseStatus)4401, socket.CloseStatus);
            output.WriteLine($"ws {name}: {frame} / close {(int?)socket.CloseStatus}");
        }
    }

    [Fact]
    public async Task WebSocket_garbage_frames_get_error_frames_and_the_socket_stays_usable()
    {
        using var client = OrchestratorApi.Client(OrchestratorApi.BaseUri(stack.App), TimeSpan.FromSeconds(30));
        var credentials = await CredentialsAsync(client);
        var orchestratorPid = ResourceProcesses.ProcessId(stack.App, "ai-orchestrator");
        var orchestratorStart = ResourceProcesses.StartTicks(orchestratorPid);
        using var socket = await ConnectAsync(await OrchestratorApi.TokenAsync(client, credentials.ApiKey, purpose: "ws"));

        (string Name, WebSocketMessageType Type, byte[] Payload, string Error)[] garbage =
        [
            ("binary frame", WebSocketMessageType.Binary, [0x00, 0xff, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef], "bad_request"),
            ("text that is not JSON", WebSocketMessageType.Text, "hello?"u8.ToArray(), "invalid_json"),
            ("truncated JSON", WebSocketMessageType.Text, """{"message": "hel"""u8.ToArray(), "invalid_json"),
            ("JSON array", WebSocketMessageType.Text, """["message", "hi"]"""u8.ToArray(), "validation_error"),
            ("message is a number", WebSocketMessageType.Text, """{"message": 42}"""u8.ToArray(), "validation_error"),
            ("message too long", WebSocketMessageType.Text, Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { message = new string('z', 16_001) })), "validation_error"),
            ("unknown agent", WebSocketMessageType.Text, """{"message": "hi", "agent": "$(reboot)"}"""u8.ToArray(), "validation_error"),
            ("SQL in conversation id", WebSocketMessageType.Text, """{"message": "hi", "conversation_id": "' OR 1=1 --"}"""u8.ToArray(), "validation_error"),
        ];
        Assert.Equal(WebSocketCases.Length - 4, garbage.Length);
        foreach (var (name, type, payload, error) in garbage)
        {
            await socket.SendAsync(payload, type, endOfMessage: true, CancellationToken.None);
            var frame = await ReceiveJsonAsync(socket);
            output.WriteLine($"ws {name}: {frame.ToString()[..Math.Min(200, frame.ToString().Length)]}");
            Assert.True(frame.GetProperty("type").GetString() == "error", $"{name}: {frame}");
            Assert.True(error == frame.GetProperty("error").GetString(), $"{name}: {frame}");
            Assert.False(string.IsNullOrWhiteSpace(frame.GetProperty("detail").GetString()));
            Assert.Equal(WebSocketState.Open, socket.State);
        }

        // Still usable: a real chat on the same socket streams to "done".
        await socket.SendAsync("""{"message": "still there after the garbage?"}"""u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        string? kind;
        do
        {
            var frame = await ReceiveJsonAsync(socket);
            kind = frame.GetProperty("type").GetString();
            Assert.True(kind is "meta" or "token" or "done", frame.ToString());
        }
        while (kind != "done");
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);

        await AssertStillHealthyAsync(client, orchestratorPid, orchestratorStart);
    }

    // --- Rate limit -----------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Rate_limit_holds_with_429_and_Retry_After()
    {
        // An orchestrator of its own with a small limit, on the stack's PostgreSQL and Redis (its own Redis database, so
        // its counters start at zero), and an API key of its own.
        await using var limited = await OrchestratorProcess.StartAsync(stack.App, rateLimit: 5, output);
        using var client = OrchestratorApi.Client(limited.BaseUri, TimeSpan.FromSeconds(30));

        var statuses = new List<int>();
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 12 && refused is null; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/conversations?limit=1");
            request.Headers.Add("X-API-Key", limited.ApiKey);
            var response = await client.SendAsync(request);
            statuses.Add((int)response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                refused = response;
            }
            else
            {
                Assert.Equal("5", response.Headers.GetValues("X-RateLimit-Limit").Single());
                response.Dispose();
            }
        }
        output.WriteLine($"statuses: {string.Join(' ', statuses)}");
        Assert.NotNull(refused);
        using (refused)
        {
            // At most 5 allowed per window (a window boundary may reset the count once).
            Assert.InRange(statuses.Count(s => s == 200), 5, 10);
            Assert.All(statuses.SkipLast(1), s => Assert.Equal(200, s));
            var retryAfter = refused.Headers.RetryAfter?.Delta;
            Assert.True(retryAfter is { } delta && delta > TimeSpan.Zero && delta <= TimeSpan.FromSeconds(60), $"Retry-After: {retryAfter}");
            using var json = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
            Assert.Equal("rate_limited", json.RootElement.GetProperty("error").GetString());
            Assert.False(string.IsNullOrWhiteSpace(json.RootElement.GetProperty("detail").GetString()));
            Assert.Equal((int)retryAfter!.Value.TotalSeconds, json.RootElement.GetProperty("retry_after").GetInt32());
        }

        // A token minted for the same client shares the budget: the WebSocket is refused with 4429.
        var token = Jwt.Create(new { alg = "HS256", typ = "JWT" }, new { sub = limited.Subject, iat = Jwt.Now, exp = Jwt.Now + 60, iss = Issuer, aud = "ws" }, limited.JwtSecret);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{limited.BaseUri.Port}/ws/chat?token={token}"), CancellationToken.None);
        var frame = await ReceiveJsonAsync(socket);
        Assert.Equal("rate_limited", frame.GetProperty("error").GetString());
        await ReceiveCloseAsync(socket);
        Assert.Equal((WebSocketCloseStatus)4429, socket.CloseStatus);

        // Refusing is cheap and harmless: health stays green.
        using var health = await client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    // --- helpers --------------------------------------------------------------------------------------------------------

    private async Task<Credentials> CredentialsAsync(HttpClient client)
    {
        var apiKey = await OrchestratorApi.ParameterAsync(stack.App, "cartrita-api-key");
        return new Credentials(apiKey, await OrchestratorApi.ParameterAsync(stack.App, "jwt-secret"), await OrchestratorApi.TokenAsync(client, apiKey));
    }

    private static async Task AssertStillHealthyAsync(HttpClient client, int pid, long? startTicks)
    {
        using var health = await client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(startTicks, ResourceProcesses.StartTicks(pid));
    }

    private async Task<ClientWebSocket> ConnectAsync(string? token)
    {
        var socket = new ClientWebSocket();
        var uri = OrchestratorApi.BaseUri(stack.App);
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{uri.Port}/ws/chat{(token is null ? "" : $"?token={token}")}"), CancellationToken.None);
        return socket;
    }

    private static async Task<JsonElement> ReceiveJsonAsync(ClientWebSocket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var message = new MemoryStream();
        var buffer = new byte[8192];
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, timeout.Token);
            Assert.NotEqual(WebSocketMessageType.Close, result.MessageType);
            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);
        return JsonDocument.Parse(message.ToArray()).RootElement.Clone();
    }

    private static async Task ReceiveCloseAsync(ClientWebSocket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[1024];
        while (socket.State == WebSocketState.Open)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                break;
            }
        }
    }

    private static object Claims(long issuedAgo = 0, long expiresIn = 600) =>
        new { sub = "apikey-0123456789abcdef", iat = Jwt.Now - issuedAgo, exp = Jwt.Now + expiresIn, iss = Issuer };

    private static string Tamper(string token)
    {
        var parts = token.Split('.');
        var payload = JsonSerializer.Serialize(new { sub = "admin", iat = Jwt.Now, exp = Jwt.Now + 600, iss = Issuer });
        parts[1] = Convert.ToBase64String(Encoding.UTF8.GetBytes(payload)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return string.Join('.', parts);
    }

    private static HttpRequestMessage WithToken(HttpRequestMessage request, Credentials credentials)
    {
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credentials.Token);
        return request;
    }

    private static Func<Credentials, HttpRequestMessage> PostJson(string path, string json) =>
        c => WithToken(new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") }, c);

    private static Func<Credentials, HttpRequestMessage> PostBytes(string path, byte[] body) => c =>
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return WithToken(new HttpRequestMessage(HttpMethod.Post, path) { Content = content }, c);
    };

    private static Func<Credentials, HttpRequestMessage> Get(string path) => c => WithToken(new HttpRequestMessage(HttpMethod.Get, path), c);

    private static Func<Credentials, HttpRequestMessage> NoAuth(HttpMethod method, string path, string? json = null) =>
        _ => new HttpRequestMessage(method, path) { Content = json is null ? null : new StringContent(json, Encoding.UTF8, "application/json") };

    private static HttpRequestMessage ApiKey(string path, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.TryAddWithoutValidation("X-API-Key", key);
        return request;
    }

    private static HttpRequestMessage Bearer(string token)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/conversations");
        request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {token}");
        return request;
    }
}
