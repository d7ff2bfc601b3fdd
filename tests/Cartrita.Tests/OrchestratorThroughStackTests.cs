using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Cartrita.Tests;

/// <summary>A chat and a memory search through the orchestrator as the AppHost runs it (migrated schema, real Redis).</summary>
[Collection(StackCollection.Name)]
public sealed class OrchestratorThroughStackTests(StackFixture stack)
{
    private async Task<HttpClient> AuthorizedClientAsync()
    {
        var model = stack.App.Services.GetRequiredService<DistributedApplicationModel>();
        var apiKey = await model.Resources.OfType<ParameterResource>().Single(p => p.Name == "cartrita-api-key").GetValueAsync(default);
        var client = stack.App.CreateHttpClient("ai-orchestrator", "http");

        using var tokenRequest = new HttpRequestMessage(HttpMethod.Post, "/api/auth/token");
        tokenRequest.Headers.Add("X-API-Key", apiKey);
        using var tokenResponse = await client.SendAsync(tokenRequest);
        Assert.Equal(HttpStatusCode.OK, tokenResponse.StatusCode);
        var token = (await tokenResponse.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    [Fact]
    public async Task Chat_is_answered_and_stored_in_the_conversation()
    {
        using var client = await AuthorizedClientAsync();

        using var chat = await client.PostAsJsonAsync("/api/chat", new { message = "Hello Cartrita, what can you do?" });
        var reply = await chat.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.False(string.IsNullOrWhiteSpace(reply.GetProperty("reply").GetString()));
        var conversationId = reply.GetProperty("conversation_id").GetString();

        var conversation = await client.GetFromJsonAsync<JsonElement>($"/api/conversations/{conversationId}");
        var roles = conversation.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("role").GetString()).ToList();
        Assert.Equal(["user", "assistant"], roles);
    }

    [Fact]
    public async Task Memory_search_returns_the_closest_memory_first()
    {
        using var client = await AuthorizedClientAsync();
        var marker = Guid.NewGuid().ToString("N")[..8];

        using var stored = await client.PostAsJsonAsync("/api/memory", new
        {
            items = new[]
            {
                new { content = $"robbie prefers green tea in the morning {marker}" },
                new { content = "the deployment uses kubernetes with three replicas" },
                new { content = "quarterly revenue grew by twelve percent" },
            },
        });
        Assert.Equal(HttpStatusCode.Created, stored.StatusCode);

        // The shared stack holds many other memories (the fault tests write hundreds): ask with the memory's own words,
        // so the expected item is the unambiguous nearest for the approximate (HNSW) search too.
        using var search = await client.PostAsJsonAsync("/api/memory/search", new { query = $"robbie prefers green tea in the morning {marker}", k = 3 });
        var results = (await search.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results");
        Assert.Equal(HttpStatusCode.OK, search.StatusCode);
        Assert.Contains(marker, results[0].GetProperty("content").GetString());
    }

    [Fact]
    public async Task Api_refuses_requests_without_credentials()
    {
        using var client = stack.App.CreateHttpClient("ai-orchestrator", "http");

        using var response = await client.GetAsync("/api/conversations");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}
