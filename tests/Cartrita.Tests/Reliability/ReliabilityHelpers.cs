using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Cartrita.Tests.Reliability;

/// <summary>Talking to the orchestrator of a running stack the way a client would: its own HTTP client, loopback only.</summary>
internal static class OrchestratorApi
{
    public static async Task<string> ParameterAsync(DistributedApplication app, string name)
    {
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        return await model.Resources.OfType<ParameterResource>().Single(p => p.Name == name).GetValueAsync(default) ?? "";
    }

    /// <summary>The orchestrator's URL on 127.0.0.1 (it listens on loopback IPv4; "localhost" may try ::1 first).</summary>
    public static Uri BaseUri(DistributedApplication app) =>
        new UriBuilder(app.GetEndpoint("ai-orchestrator", "http")) { Host = "127.0.0.1" }.Uri;

    /// <summary>A client of its own (no resilience handlers that would retry and hide 5xx), with an explicit timeout.</summary>
    public static HttpClient Client(Uri baseUri, TimeSpan timeout, int maxConnections = 16) =>
        new(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = maxConnections,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        })
        {
            BaseAddress = baseUri,
            Timeout = timeout,
        };

    /// <param name="purpose"><c>"ws"</c>: the 60-second kind, the only one a <c>/ws/</c> URL takes.</param>
    public static async Task<string> TokenAsync(HttpClient client, string apiKey, string? purpose = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/auth/token")
        {
            Content = purpose is null ? null : JsonContent.Create(new { purpose }),
        };
        request.Headers.Add("X-API-Key", apiKey);
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"token: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("access_token").GetString()!;
    }

    public static async Task<HttpClient> AuthorizedClientAsync(DistributedApplication app, TimeSpan timeout, int maxConnections = 16)
    {
        var client = Client(BaseUri(app), timeout, maxConnections);
        var token = await TokenAsync(client, await ParameterAsync(app, "cartrita-api-key"));
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public static Task<HttpResponseMessage> PostJsonAsync(HttpClient client, string path, object body, CancellationToken cancellationToken = default) =>
        client.PostAsJsonAsync(path, body, cancellationToken);
}

/// <summary>Hand-made JSON Web Tokens (HS256/HS512 or unsigned) for forged, expired and alg-none cases.</summary>
internal static class Jwt
{
    public static string Create(object header, object payload, string? secret)
    {
        var signingInput = $"{Encode(JsonSerializer.SerializeToUtf8Bytes(header))}.{Encode(JsonSerializer.SerializeToUtf8Bytes(payload))}";
        if (secret is null)
        {
            return signingInput + ".";
        }
        var alg = JsonSerializer.SerializeToElement(header).GetProperty("alg").GetString();
        var key = Encoding.UTF8.GetBytes(secret);
        var data = Encoding.ASCII.GetBytes(signingInput);
        var signature = alg == "HS512" ? HMACSHA512.HashData(key, data) : HMACSHA256.HashData(key, data);
        return $"{signingInput}.{Encode(signature)}";
    }

    public static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private static string Encode(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>Resource processes as the AppHost reports them.</summary>
internal static class ResourceProcesses
{
    public static int ProcessId(DistributedApplication app, string resourceName)
    {
        var notifications = app.Services.GetRequiredService<ResourceNotificationService>();
        Assert.True(notifications.TryGetCurrentState(resourceName, out var state), $"no state for {resourceName}");
        var pid = state!.Snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value;
        Assert.True(pid is not null, $"{resourceName} has no executable.pid ({state.Snapshot.State?.Text})");
        return Convert.ToInt32(pid, System.Globalization.CultureInfo.InvariantCulture);
    }

    public static string? State(DistributedApplication app, string resourceName) =>
        app.Services.GetRequiredService<ResourceNotificationService>().TryGetCurrentState(resourceName, out var state)
            ? state.Snapshot.State?.Text
            : null;

    /// <summary>The process's start time in clock ticks since boot (/proc/PID/stat field 22): identifies it across PID reuse.</summary>
    public static long? StartTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[19], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }

    public static string? CommandName(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>kill -9.</summary>
    public static void KillHard(int pid)
    {
        using var process = Process.GetProcessById(pid);
        process.Kill();
    }
}

internal static class LoopbackPorts
{
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static bool Listening(int port)
    {
        using var client = new TcpClient();
        try
        {
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

internal static class Stats
{
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0)
        {
            return double.NaN;
        }
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Count) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
    }
}
