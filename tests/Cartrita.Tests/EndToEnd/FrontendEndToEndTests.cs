using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Cartrita.Tests.Reliability;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace Cartrita.Tests.EndToEnd;

/// <summary>
/// The frontend in a real browser (headless Chromium through Playwright) against the whole stack the AppHost starts:
/// Next.js production build, orchestrator, PostgreSQL + pgvector, Redis. Every page is saved as a screenshot under
/// TestResults/screenshots/. Pages need a login (issue 17): each test signs in as the AppHost's first user
/// (parameters <c>admin-user</c> / <c>admin-password</c>), and every page runs under the frontend's
/// Content-Security-Policy, whose violations fail the test.
/// </summary>
[Collection(StackCollection.Name)]
public sealed partial class FrontendEndToEndTests(StackFixture stack, BrowserFixture browser, ITestOutputHelper output)
    : IClassFixture<BrowserFixture>
{
    private static readonly string[] Services = ["frontend", "orchestrator", "database", "redis"];

    private Uri FrontendUrl => stack.App.GetEndpoint("frontend", "http");

    [Fact]
    public async Task Status_page_shows_every_service_healthy()
    {
        var (context, page) = await NewPageAsync();
        await using var _ = context;

        await page.GotoAsync("/");

        foreach (var service in Services)
        {
            await Expect(page.GetByTestId($"status-{service}")).ToHaveTextAsync("healthy");
        }
        await Expect(page.GetByTestId("overall-status")).ToHaveTextAsync("healthy");
        await Expect(page.GetByTestId("orchestrator-banner")).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("nav-status")).ToHaveAttributeAsync("aria-current", "page");
        await ScreenshotAsync(page, "status");
    }

    [Fact]
    public async Task Chat_streams_a_reply_over_the_WebSocket_and_lists_the_conversation()
    {
        var (context, page) = await NewPageAsync();
        await using var _ = context;
        var marker = Marker();
        var message = $"Hello Cartrita, this is the browser test {marker}";

        await page.GotoAsync("/chat");
        await Expect(page.GetByTestId("chat-transport")).ToContainTextAsync("WebSocket");
        await RecordAssistantSnapshotsAsync(page);

        await page.GetByTestId("chat-input").FillAsync(message);
        await page.GetByTestId("chat-send").ClickAsync();

        var reply = page.GetByTestId("chat-message-assistant").Last;
        await Expect(reply).ToHaveAttributeAsync("data-state", "done", new() { Timeout = 30_000 });
        await Expect(reply).ToContainTextAsync(marker);
        await Expect(page.GetByTestId("chat-error")).ToHaveCountAsync(0);
        Assert.Equal("websocket", await reply.GetAttributeAsync("data-transport"));
        await AssertStreamedAsync(page, reply);

        // The conversation is now in the list, selected, with both messages.
        var conversationId = await page.GetByTestId("chat-messages").GetAttributeAsync("data-conversation-id");
        Assert.False(string.IsNullOrEmpty(conversationId));
        var item = page.Locator($"[data-testid='conversation-item'][data-conversation-id='{conversationId}']");
        await Expect(item).ToBeVisibleAsync();
        await Expect(item).ToContainTextAsync(marker);
        await Expect(item).ToContainTextAsync("2 messages");
        await Expect(item).ToHaveAttributeAsync("aria-current", "true");
        await ScreenshotAsync(page, "chat");

        // Selecting it again from a fresh chat shows its stored history.
        await page.GetByTestId("chat-new").ClickAsync();
        await Expect(page.GetByTestId("chat-message-assistant")).ToHaveCountAsync(0);
        await item.ClickAsync();
        await Expect(page.GetByTestId("chat-message-user")).ToHaveCountAsync(1);
        await Expect(page.GetByTestId("chat-message-user")).ToContainTextAsync(message);
        await Expect(page.GetByTestId("chat-message-assistant")).ToContainTextAsync(marker);
        await ScreenshotAsync(page, "chat-history");
    }

    [Fact]
    public async Task Chat_streams_a_reply_over_SSE_through_the_frontend()
    {
        var (context, page) = await NewPageAsync();
        await using var _ = context;
        var marker = Marker();

        await page.GotoAsync("/chat?transport=sse");
        await Expect(page.GetByTestId("chat-transport")).ToContainTextAsync("SSE");
        await RecordAssistantSnapshotsAsync(page);

        await page.GetByTestId("chat-input").FillAsync($"Stream this over server-sent events {marker}");
        await page.GetByTestId("chat-input").PressAsync("Enter");

        var reply = page.GetByTestId("chat-message-assistant").Last;
        await Expect(reply).ToHaveAttributeAsync("data-state", "done", new() { Timeout = 30_000 });
        await Expect(reply).ToContainTextAsync(marker);
        Assert.Equal("sse", await reply.GetAttributeAsync("data-transport"));
        await AssertStreamedAsync(page, reply);
        await Expect(page.GetByTestId("conversation-item").Filter(new() { HasText = marker })).ToHaveCountAsync(1);
        await ScreenshotAsync(page, "chat-sse");
    }

    [Fact]
    public async Task Chat_failure_shows_an_error_with_a_Retry_that_resends()
    {
        var (context, page) = await NewPageAsync();
        await using var _ = context;
        var marker = Marker();

        // The first stream request fails as if the orchestrator were down; the retry goes through for real.
        await page.RouteAsync("**/api/chat/stream?**", route => route.FulfillAsync(new()
        {
            Status = 502,
            ContentType = "application/json",
            Body = """{"error":"orchestrator_unreachable","detail":"cannot reach the orchestrator (simulated by the test)"}""",
        }), new() { Times = 1 });

        await page.GotoAsync("/chat?transport=sse");
        await page.GetByTestId("chat-input").FillAsync($"Please survive a failure {marker}");
        await page.GetByTestId("chat-send").ClickAsync();

        var error = page.GetByTestId("chat-error");
        await Expect(error).ToBeVisibleAsync();
        await Expect(error).ToContainTextAsync("simulated by the test");
        await Expect(page.GetByTestId("chat-message-assistant").Last).ToHaveAttributeAsync("data-state", "error");
        await ScreenshotAsync(page, "chat-error");

        await page.GetByTestId("chat-retry").ClickAsync();

        var reply = page.GetByTestId("chat-message-assistant").Last;
        await Expect(reply).ToHaveAttributeAsync("data-state", "done", new() { Timeout = 30_000 });
        await Expect(reply).ToContainTextAsync(marker);
        await Expect(error).ToHaveCountAsync(0);
        // The failed turn was replaced by the resent one, not shown twice.
        await Expect(page.GetByTestId("chat-message-user")).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task Memory_added_on_the_memory_page_is_found_by_semantic_search_with_a_score()
    {
        var (context, page) = await NewPageAsync();
        await using var _ = context;
        var marker = Marker();
        var content = $"Robbie's browser-test pet {marker} is a purple zebra called Ziggy who loves violin music";

        await page.GotoAsync("/memory");
        await page.GetByTestId("memory-input").FillAsync(content);
        await page.GetByTestId("memory-add").ClickAsync();
        await Expect(page.GetByTestId("memory-added")).ToContainTextAsync("Saved");

        await page.GetByTestId("memory-search-input").FillAsync($"which purple zebra {marker} loves violin");
        await page.GetByTestId("memory-search").ClickAsync();

        await Expect(page.GetByTestId("memory-results")).ToBeVisibleAsync();
        var best = page.GetByTestId("memory-result").First;
        await Expect(best).ToContainTextAsync(content);
        await Expect(best.GetByTestId("memory-score")).ToHaveTextAsync(ScoreText());
        var score = double.Parse((await best.GetAttributeAsync("data-score"))!, CultureInfo.InvariantCulture);
        output.WriteLine($"best match score {score:0.000}");
        Assert.InRange(score, 0.3, 1.0001);
        await Expect(page.GetByTestId("memory-error")).ToHaveCountAsync(0);
        await ScreenshotAsync(page, "memory");
    }

    [Fact]
    public async Task Orchestrator_down_shows_a_banner_on_every_page()
    {
        var (context, page) = await NewPageAsync();
        await using var _ = context;

        // The browser's health polls see the orchestrator unreachable (the shared stack itself stays up).
        await page.RouteAsync("**/api/health", route => route.FulfillAsync(new()
        {
            Status = 503,
            ContentType = "application/json",
            Body = JsonSerializer.Serialize(new
            {
                status = "degraded",
                service = "frontend",
                version = "0.1.0",
                uptime_s = 1,
                timestamp = DateTimeOffset.UtcNow.ToString("O"),
                orchestrator = new
                {
                    url = "http://localhost:1",
                    reachable = false,
                    status = (string?)null,
                    http_status = (int?)null,
                    latency_ms = 1,
                    detail = "ECONNREFUSED (simulated by the test)",
                    checks = (object?)null,
                },
            }),
        }));

        foreach (var (path, name) in new[] { ("/chat", "chat"), ("/memory", "memory"), ("/", "status") })
        {
            await page.GotoAsync(path);
            // Rendered healthy on the server; the next poll (every 5 s) brings the banner.
            var banner = page.GetByTestId("orchestrator-banner");
            await Expect(banner).ToBeVisibleAsync(new() { Timeout = 20_000 });
            await Expect(banner).ToContainTextAsync("unreachable");
            await ScreenshotAsync(page, $"{name}-orchestrator-down");
        }
    }

    [Trait("Category", "Security")]
    [Fact]
    public async Task The_API_key_never_reaches_the_browser()
    {
        var apiKey = await ApiKeyAsync();
        Assert.True(apiKey.Length >= 24, "the stack's API key looks wrong");
        var (context, page) = await NewPageAsync();
        await using var _ = context;

        // Bodies are read as they arrive: a response cut off by a navigation never gets one (reading it later hangs).
        var reads = new List<Task<SeenResponse>>();
        var frames = new List<string>();
        page.Response += (_, response) =>
        {
            lock (reads)
            {
                reads.Add(ReadResponseAsync(response));
            }
        };
        page.WebSocket += (_, socket) =>
        {
            lock (frames)
            {
                frames.Add(socket.Url);
            }
            socket.FrameSent += (_, frame) => { lock (frames) { frames.Add(frame.Text ?? ""); } };
            socket.FrameReceived += (_, frame) => { lock (frames) { frames.Add(frame.Text ?? ""); } };
        };

        await page.GotoAsync("/");
        await Expect(page.GetByTestId("status-orchestrator")).ToHaveTextAsync("healthy");
        await page.GotoAsync("/chat");
        await page.GetByTestId("chat-input").FillAsync($"Is anything secret here? {Marker()}");
        await page.GetByTestId("chat-send").ClickAsync();
        await Expect(page.GetByTestId("chat-message-assistant").Last).ToHaveAttributeAsync("data-state", "done", new() { Timeout = 30_000 });
        var memory = $"A memory that must not leak anything {Marker()}";
        await page.GotoAsync("/memory");
        await page.GetByTestId("memory-input").FillAsync(memory);
        await page.GetByTestId("memory-add").ClickAsync();
        await Expect(page.GetByTestId("memory-added")).ToContainTextAsync("Saved");
        await page.GetByTestId("memory-search-input").FillAsync(memory);
        await page.GetByTestId("memory-search").ClickAsync();
        await Expect(page.GetByTestId("memory-result").First).ToContainTextAsync(memory);

        Task<SeenResponse>[] pending;
        lock (reads)
        {
            pending = [.. reads];
        }
        var seen = await Task.WhenAll(pending);
        var checkedBodies = 0;
        var sawToken = false;
        foreach (var response in seen)
        {
            Assert.False(response.Headers.Contains(apiKey, StringComparison.Ordinal), $"{response.Url}: a header contains the API key");
            if (response.Body is null)
            {
                continue; // redirects, aborted requests: no body
            }
            checkedBodies++;
            Assert.False(response.Body.Contains(apiKey, StringComparison.Ordinal), $"{response.Url} contains the API key");
            if (new Uri(response.Url).AbsolutePath == "/api/token")
            {
                using var json = JsonDocument.Parse(response.Body);
                Assert.Equal(["expires_in", "token"], json.RootElement.EnumerateObject().Select(p => p.Name).Order());
                // The one token a URL ever carries (the WebSocket's) lives a minute at most.
                Assert.InRange(json.RootElement.GetProperty("expires_in").GetInt32(), 1, 60);
                sawToken = true;
            }
        }
        Assert.True(sawToken, "the chat page never asked /api/token for its WebSocket token");
        string[] socketTraffic;
        lock (frames)
        {
            socketTraffic = [.. frames];
        }
        Assert.NotEmpty(socketTraffic);
        Assert.DoesNotContain(socketTraffic, frame => frame.Contains(apiKey, StringComparison.Ordinal));
        Assert.DoesNotContain(await page.ContentAsync(), apiKey, StringComparison.Ordinal);
        output.WriteLine($"checked {checkedBodies} of {seen.Length} response bodies and {socketTraffic.Length} WebSocket URLs/frames");
        Assert.True(checkedBodies > 10, $"only {checkedBodies} responses were checked");
    }

    [Trait("Category", "Security")]
    [Fact]
    public async Task Login_page_signs_in_and_returns_to_the_page_asked_for_and_sign_out_ends_the_session()
    {
        var (user, password) = await AdminAsync();
        var (context, page) = await NewPageAsync(signIn: false);
        await using var _ = context;

        await page.GotoAsync("/memory");
        await Expect(page).ToHaveURLAsync(new Regex(@"/login\?next=%2Fmemory$"));
        await ScreenshotAsync(page, "login");

        await page.GetByTestId("login-username").FillAsync(user);
        await page.GetByTestId("login-password").FillAsync("certainly-not-the-password");
        await page.GetByTestId("login-submit").ClickAsync();
        await Expect(page.GetByTestId("login-error")).ToHaveTextAsync("Wrong username or password.");
        await ScreenshotAsync(page, "login-error");

        await page.GetByTestId("login-password").FillAsync(password);
        await page.GetByTestId("login-submit").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/memory$"));
        await Expect(page.GetByTestId("signed-in-user")).ToHaveTextAsync(user);
        // HttpOnly: no script of the page can read the session.
        Assert.DoesNotContain("cartrita_session", await page.EvaluateAsync<string>("() => document.cookie"), StringComparison.Ordinal);
        var cookie = (await context.CookiesAsync()).Single(c => c.Name == "cartrita_session");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);

        await page.GetByTestId("sign-out").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/login$"));
        Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == "cartrita_session");
        await page.GotoAsync("/chat");
        await Expect(page).ToHaveURLAsync(new Regex(@"/login\?next=%2Fchat$"));
        AssertNoCspViolations(page);
    }

    [Trait("Category", "Security")]
    [Fact]
    public async Task Data_routes_refuse_a_client_without_a_session()
    {
        using var http = new HttpClient { BaseAddress = FrontendUrl };
        foreach (var (method, path) in new[]
        {
            (HttpMethod.Post, "/api/token"),
            (HttpMethod.Get, "/api/conversations"),
            (HttpMethod.Post, "/api/memory/search"),
            (HttpMethod.Get, "/api/chat/stream?message=hi"),
        })
        {
            using var request = new HttpRequestMessage(method, path);
            if (method == HttpMethod.Post)
            {
                request.Content = new StringContent("""{"query":"anything"}""", System.Text.Encoding.UTF8, "application/json");
            }
            using var response = await http.SendAsync(request);
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("""{"error":"unauthorized","detail":"sign in first"}""", await response.Content.ReadAsStringAsync());
        }
    }

    [Trait("Category", "Security")]
    [Fact]
    public async Task Pages_work_under_the_Content_Security_Policy_without_violations()
    {
        var (context, page) = await NewPageAsync();
        await using var _ = context;
        var marker = Marker();

        var chat = await page.GotoAsync("/chat");
        var policy = await chat!.HeaderValueAsync("content-security-policy");
        Assert.NotNull(policy);
        Assert.Matches(@"script-src 'self' 'nonce-[^']+' 'strict-dynamic'", policy);
        Assert.Contains("frame-ancestors 'none'", policy, StringComparison.Ordinal);
        // connect-src: our origin and the orchestrator's WebSocket origin (NEXT_PUBLIC_WS_URL), nothing else.
        var orchestratorPort = stack.App.GetEndpoint("ai-orchestrator", "http").Port;
        Assert.Matches($@"connect-src 'self' ws://[^ ;]+:{orchestratorPort}(;|$)", policy);
        Assert.Contains("microphone=()", await chat.HeaderValueAsync("permissions-policy") ?? "", StringComparison.Ordinal);
        Assert.Null(await chat.HeaderValueAsync("strict-transport-security")); // plain http

        // The WebSocket (connect-src), the chat's scripts and styles, the memory page's score bars, the status board.
        await Expect(page.GetByTestId("chat-transport")).ToContainTextAsync("WebSocket");
        await page.GetByTestId("chat-input").FillAsync($"Anything blocked? {marker}");
        await page.GetByTestId("chat-send").ClickAsync();
        var reply = page.GetByTestId("chat-message-assistant").Last;
        await Expect(reply).ToHaveAttributeAsync("data-state", "done", new() { Timeout = 30_000 });
        Assert.Equal("websocket", await reply.GetAttributeAsync("data-transport"));
        await page.GotoAsync("/memory");
        await page.GetByTestId("memory-input").FillAsync($"CSP check memory {marker}");
        await page.GetByTestId("memory-add").ClickAsync();
        await Expect(page.GetByTestId("memory-added")).ToContainTextAsync("Saved");
        await page.GetByTestId("memory-search-input").FillAsync($"CSP check memory {marker}");
        await page.GetByTestId("memory-search").ClickAsync();
        await Expect(page.GetByTestId("memory-result").First).ToBeVisibleAsync();
        await page.GotoAsync("/");
        await Expect(page.GetByTestId("status-orchestrator")).ToHaveTextAsync("healthy");

        AssertNoCspViolations(page);
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    /// <summary>Console messages per page (errors, warnings and the CSP reports the init script raises).</summary>
    private readonly Dictionary<IPage, List<string>> _consoleMessages = [];

    private static bool IsCspViolation(string message) =>
        message.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase)
        || message.Contains("CSP violation", StringComparison.Ordinal);

    private void AssertNoCspViolations(IPage page)
    {
        List<string> messages;
        lock (_consoleMessages)
        {
            messages = [.. _consoleMessages[page]];
        }
        Assert.DoesNotContain(messages, IsCspViolation);
    }

    /// <summary>The first user the AppHost creates (issue 17): parameters admin-user (default "admin") and admin-password.</summary>
    private async Task<(string User, string Password)> AdminAsync() =>
        (await OrchestratorApi.ParameterAsync(stack.App, "admin-user"), await OrchestratorApi.ParameterAsync(stack.App, "admin-password"));

    /// <summary>Signs the context in through POST /api/auth/login (its cookie jar is the browser's).</summary>
    private async Task SignInAsync(IBrowserContext context)
    {
        var (user, password) = await AdminAsync();
        var response = await context.APIRequest.PostAsync("/api/auth/login", new()
        {
            DataObject = new { username = user, password },
        });
        Assert.True(response.Ok, $"login as {user} failed: HTTP {response.Status} {await response.TextAsync()}");
    }

    private async Task<(IBrowserContext Context, IPage Page)> NewPageAsync(bool signIn = true)
    {
        var context = await browser.Browser.NewContextAsync(new()
        {
            BaseURL = FrontendUrl.ToString(),
            ViewportSize = new() { Width = 1280, Height = 900 },
            ColorScheme = ColorScheme.Light,
        });
        if (signIn)
        {
            await SignInAsync(context);
        }
        // Every violation, also those the browser does not log itself, as a console error.
        await context.AddInitScriptAsync(
            "document.addEventListener('securitypolicyviolation', e => console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));");
        var page = await context.NewPageAsync();
        var messages = new List<string>();
        lock (_consoleMessages)
        {
            _consoleMessages[page] = messages;
        }
        page.Console += (_, message) =>
        {
            if (message.Type is "error" or "warning")
            {
                output.WriteLine($"[browser {message.Type}] {message.Text}");
                lock (_consoleMessages)
                {
                    messages.Add(message.Text);
                }
            }
        };
        page.PageError += (_, error) => output.WriteLine($"[page error] {error}");
        page.Response += (_, response) =>
        {
            if (response.Status >= 400 && response.Url.Contains("/_next/static/", StringComparison.Ordinal))
            {
                // Without its chunks the page never hydrates: buttons stay disabled, nothing polls.
                output.WriteLine($"[static asset missing] {response.Status} {response.Url}");
            }
        };
        return (context, page);
    }

    private static string Marker() => $"e2e{Guid.NewGuid():N}"[..15];

    private async Task ScreenshotAsync(IPage page, string name)
    {
        var path = Path.Combine(BrowserFixture.ScreenshotDirectory, $"{name}.png");
        await page.ScreenshotAsync(new() { Path = path, FullPage = true });
        output.WriteLine($"screenshot: {path}");
    }

    /// <summary>Records the last assistant message's state and text length on every DOM change.</summary>
    private static Task RecordAssistantSnapshotsAsync(IPage page) => page.EvaluateAsync("""
        () => {
          window.__assistantSnapshots = [];
          const box = document.querySelector('[data-testid="chat-messages"]');
          new MutationObserver(() => {
            const all = box.querySelectorAll('[data-testid="chat-message-assistant"]');
            const last = all[all.length - 1];
            if (last) window.__assistantSnapshots.push({ state: last.dataset.state, length: last.querySelector('.message-body').textContent.length });
          }).observe(box, { subtree: true, childList: true, characterData: true, attributes: true });
        }
        """);

    /// <summary>The reply arrived as several token events, and the page showed it growing before it was done.</summary>
    private async Task AssertStreamedAsync(IPage page, ILocator reply)
    {
        var tokens = int.Parse((await reply.GetAttributeAsync("data-tokens"))!, CultureInfo.InvariantCulture);
        var finalLength = (await reply.Locator(".message-body").TextContentAsync())!.Length;
        var snapshots = await page.EvaluateAsync<JsonElement>("() => window.__assistantSnapshots");
        var partialLengths = snapshots.EnumerateArray()
            .Select(s => (State: s.GetProperty("state").GetString(), Length: s.GetProperty("length").GetInt32()))
            .Where(s => s.State == "streaming" && s.Length > 0 && s.Length < finalLength)
            .Select(s => s.Length).Distinct().Count();
        output.WriteLine($"{tokens} token events; {partialLengths} distinct partial renders before done (final {finalLength} chars)");
        Assert.True(tokens > 1, $"the reply came as {tokens} token event(s), not as a stream");
    }

    private sealed record SeenResponse(string Url, string Headers, string? Body);

    private static async Task<SeenResponse> ReadResponseAsync(IResponse response)
    {
        var headers = "";
        try
        {
            headers = string.Join("\n", (await response.AllHeadersAsync().WaitAsync(TimeSpan.FromSeconds(10))).Select(h => $"{h.Key}: {h.Value}"));
            return new(response.Url, headers, await response.TextAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        }
        catch (Exception ex) when (ex is PlaywrightException or TimeoutException)
        {
            return new(response.Url, headers, null);
        }
    }

    private Task<string> ApiKeyAsync() => OrchestratorApi.ParameterAsync(stack.App, "cartrita-api-key");

    [GeneratedRegex(@"^score [01]\.\d{3}$")]
    private static partial Regex ScoreText();
}
