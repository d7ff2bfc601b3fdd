using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using Xunit.Abstractions;

namespace Cartrita.Tests.Reliability;

/// <summary>Mixed traffic through the orchestrator as the AppHost runs it: health, chat (local provider), memory search.</summary>
[Collection(StackCollection.Name)]
public sealed class LoadTests(StackFixture stack, ITestOutputHelper output)
{
    private const int Requests = 10_000;
    private const int Connections = 64;
    // About 70 s on two quiet cores; the bound is generous because the cores are shared.
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(240);
    private static readonly string[] Kinds = ["health", "chat", "search"];

    [Fact]
    public async Task Ten_thousand_mixed_requests_on_64_connections_get_no_5xx()
    {
        using var budget = new CancellationTokenSource(Budget);
        using var client = await OrchestratorApi.AuthorizedClientAsync(stack.App, TimeSpan.FromSeconds(60), Connections);

        // Something to find: memory search then walks the HNSW index rather than an empty table.
        var topics = new[] { "kubernetes replicas", "espresso machines", "quarterly revenue", "python asyncio", "postgres vacuum", "redis eviction", "nextjs routing", "jwt expiry" };
        using (var seeded = await client.PostAsJsonAsync("/api/memory", new
        {
            items = Enumerable.Range(0, 64).Select(i => new { content = $"load seed {i}: notes about {topics[i % topics.Length]} number {i}" }).ToArray(),
        }, budget.Token))
        {
            Assert.Equal(201, (int)seeded.StatusCode);
        }

        var status = new int[Requests];
        var latencyMs = new double[Requests];
        var failures = new ConcurrentQueue<string>();
        var next = -1;
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, Connections).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < Requests && !budget.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var response = Kinds[i % 3] switch
                    {
                        "health" => await client.GetAsync("/health", budget.Token),
                        "chat" => await client.PostAsJsonAsync("/api/chat", new { message = $"load question {i}: how are the {topics[i % topics.Length]} doing?" }, budget.Token),
                        _ => await client.PostAsJsonAsync("/api/memory/search", new { query = $"what do we know about {topics[i % topics.Length]}", k = 5 }, budget.Token),
                    };
                    await response.Content.ReadAsByteArrayAsync(budget.Token);
                    status[i] = (int)response.StatusCode;
                }
                catch (Exception ex)
                {
                    failures.Enqueue($"#{i} {Kinds[i % 3]}: {ex.GetType().Name}: {ex.Message}");
                }
                latencyMs[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        })).ToList();
        await Task.WhenAll(workers);
        var elapsed = clock.Elapsed;

        var done = Math.Min(next, Requests);
        output.WriteLine($"{done} requests on {Connections} connections in {elapsed.TotalSeconds:0.0}s ({done / elapsed.TotalSeconds:0} req/s)");
        ReportLatencies("all", Enumerable.Range(0, Requests).Where(i => status[i] != 0));
        foreach (var (kind, index) in Kinds.Select((k, n) => (k, n)))
        {
            ReportLatencies(kind, Enumerable.Range(0, Requests).Where(i => i % 3 == index && status[i] != 0));
        }
        foreach (var group in status.Where(s => s != 0).GroupBy(s => s).OrderBy(g => g.Key))
        {
            output.WriteLine($"  HTTP {group.Key}: {group.Count()}");
        }

        Assert.False(budget.IsCancellationRequested, $"the load did not finish within {Budget.TotalSeconds}s");
        Assert.Empty(failures.Take(20));
        Assert.Empty(status.Select((s, i) => (s, i)).Where(x => x.s >= 500).Select(x => $"#{x.i} {Kinds[x.i % 3]}: {x.s}").Take(20));
        // Nothing refused either (429 would mean the load measured the rate limiter, not the service).
        Assert.All(status, s => Assert.InRange(s, 200, 299));

        void ReportLatencies(string name, IEnumerable<int> indexes)
        {
            var sorted = indexes.Select(i => latencyMs[i]).Order().ToList();
            output.WriteLine($"  {name,-6} n={sorted.Count,5}  p50 {Stats.Percentile(sorted, 50),7:0.0} ms  p95 {Stats.Percentile(sorted, 95),7:0.0} ms  " +
                $"p99 {Stats.Percentile(sorted, 99),7:0.0} ms  max {sorted.LastOrDefault(),7:0.0} ms");
        }
    }
}
