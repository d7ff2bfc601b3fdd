using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Cartrita.Tests.Reliability;

/// <summary>
/// A loopback stand-in for the OpenAI and Deepgram HTTP APIs, so a stack configured with (sentinel) provider keys uses
/// them without anything leaving the machine. It records the credentials it was sent. A chat whose last message holds
/// <see cref="EchoKeyTrigger"/> is refused with 401 and an error body that quotes the key, as OpenAI does.
/// </summary>
public sealed class FakeProviders : IDisposable
{
    public const string EchoKeyTrigger = "PLEASE-FAIL-WITH-KEY-ECHO";

    private readonly HttpListener _listener = new();
    private readonly Task _serving;

    public FakeProviders()
    {
        Port = LoopbackPorts.Free();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _serving = Task.Run(ServeAsync);
    }

    public int Port { get; }

    /// <summary>OPENAI_BASE_URL (with /v1, like OpenAI's SDKs).</summary>
    public string OpenAiBaseUrl => $"http://127.0.0.1:{Port}/v1";

    /// <summary>DEEPGRAM_BASE_URL and ANTHROPIC_BASE_URL.</summary>
    public string BaseUrl => $"http://127.0.0.1:{Port}";

    public ConcurrentQueue<string> Credentials { get; } = new();

    public ConcurrentQueue<string> Paths { get; } = new();

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        try
        {
            var key = request.Headers["Authorization"] ?? request.Headers["x-api-key"] ?? "";
            Credentials.Enqueue(key);
            Paths.Enqueue(request.Url!.AbsolutePath);
            using var reader = new StreamReader(request.InputStream, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();

            switch (request.Url.AbsolutePath)
            {
                case "/v1/chat/completions" when body.Contains(EchoKeyTrigger, StringComparison.Ordinal):
                    await WriteJsonAsync(response, 401, new { error = new { message = $"Incorrect API key provided: {key}.", type = "invalid_request_error" } });
                    break;
                case "/v1/chat/completions" when body.Contains("\"stream\": true", StringComparison.Ordinal) || body.Contains("\"stream\":true", StringComparison.Ordinal):
                    response.StatusCode = 200;
                    response.ContentType = "text/event-stream";
                    var sse = new StringBuilder();
                    foreach (var piece in new[] { "Hello ", "from ", "the ", "fake ", "provider." })
                    {
                        sse.Append("data: ").Append(JsonSerializer.Serialize(new { choices = new[] { new { index = 0, delta = new { content = piece } } } })).Append("\n\n");
                    }
                    sse.Append("data: [DONE]\n\n");
                    var bytes = Encoding.UTF8.GetBytes(sse.ToString());
                    await response.OutputStream.WriteAsync(bytes);
                    break;
                case "/v1/chat/completions":
                    await WriteJsonAsync(response, 200, new
                    {
                        id = "chatcmpl-fake",
                        model = "gpt-4o-mini",
                        choices = new[] { new { index = 0, message = new { role = "assistant", content = "Hello from the fake provider." }, finish_reason = "stop" } },
                        usage = new { prompt_tokens = 12, completion_tokens = 6, total_tokens = 18 },
                    });
                    break;
                case "/v1/embeddings":
                    using (var json = JsonDocument.Parse(body))
                    {
                        var inputs = json.RootElement.GetProperty("input");
                        var texts = inputs.ValueKind == JsonValueKind.Array ? inputs.EnumerateArray().Select(i => i.GetString() ?? "").ToList() : [inputs.GetString() ?? ""];
                        await WriteJsonAsync(response, 200, new
                        {
                            @object = "list",
                            model = "text-embedding-3-small",
                            data = texts.Select((text, index) => new { @object = "embedding", index, embedding = Embed(text) }).ToArray(),
                            usage = new { prompt_tokens = 1, total_tokens = 1 },
                        });
                    }
                    break;
                case "/v1/listen":
                    await WriteJsonAsync(response, 200, new { results = new { channels = new[] { new { alternatives = new[] { new { transcript = "hello from the fake transcriber" } } } } } });
                    break;
                default:
                    await WriteJsonAsync(response, 404, new { error = "no such fake endpoint" });
                    break;
            }
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or JsonException)
        {
        }
        finally
        {
            try
            {
                response.Close();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
            }
        }
    }

    /// <summary>A deterministic unit vector of 1536 dimensions from the text's words.</summary>
    private static float[] Embed(string text)
    {
        var vector = new float[1536];
        foreach (var word in text.ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            vector[(int)((uint)word.GetHashCode(StringComparison.Ordinal) % 1536)] += 1;
        }
        vector[0] += 0.01f;
        var norm = MathF.Sqrt(vector.Sum(v => v * v));
        return vector.Select(v => v / norm).ToArray();
    }

    private static async Task WriteJsonAsync(HttpListenerResponse response, int status, object body)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(body);
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes);
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _serving.Wait(TimeSpan.FromSeconds(5));
    }
}
