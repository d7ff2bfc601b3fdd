using System.Globalization;
using Cartrita.MigrationService.Data.Entities;
using Microsoft.EntityFrameworkCore;
using Pgvector;
using Pgvector.EntityFrameworkCore;

namespace Cartrita.Data.Tests;

/// <summary>Memories with 1536-d embeddings, written and searched by cosine distance through EF and through raw SQL.</summary>
[Collection(PostgresCollection.Name)]
public sealed class VectorSearchTests(PostgresServer server)
{
    private const int Count = 40;

    [Fact]
    public async Task Memories_stored_through_EF_come_back_nearest_first_by_cosine_distance()
    {
        var connectionString = await MigratedDatabaseAsync();
        var random = new Random(1536);
        var embeddings = Enumerable.Range(0, Count).Select(_ => RandomVector(random)).ToArray();

        await using (var context = Db.CreateContext(connectionString))
        {
            context.Memories.AddRange(embeddings.Select((embedding, i) => new Memory
            {
                Content = $"memory {i}",
                Metadata = $$"""{"index": {{i}}}""",
                Embedding = new Vector(embedding),
            }));
            await context.SaveChangesAsync();

            var ids = await context.Memories.Select(m => m.Id).ToListAsync();
            Assert.Equal(Count, ids.Distinct().Count());
            Assert.DoesNotContain(Guid.Empty, ids);
        }

        // A query close to memory 17 (small noise), then one close to memory 3.
        foreach (var target in new[] { 17, 3 })
        {
            var query = new Vector(Perturb(embeddings[target], random, 0.05f));
            await using var context = Db.CreateContext(connectionString);
            var nearest = await context.Memories
                .OrderBy(m => m.Embedding.CosineDistance(query))
                .Select(m => new { m.Content, m.Metadata, Distance = m.Embedding.CosineDistance(query) })
                .Take(3)
                .ToListAsync();

            Assert.Equal($"memory {target}", nearest[0].Content);
            Assert.Contains($"\"index\": {target}", nearest[0].Metadata);
            Assert.True(nearest[0].Distance < 0.01, $"distance to the perturbed vector was {nearest[0].Distance}");
            Assert.True(nearest[0].Distance < nearest[1].Distance && nearest[1].Distance <= nearest[2].Distance);
        }
    }

    [Fact]
    public async Task Memories_written_as_text_vectors_with_raw_SQL_are_found_through_the_hnsw_index()
    {
        var connectionString = await MigratedDatabaseAsync();
        var random = new Random(42);
        var embeddings = Enumerable.Range(0, Count).Select(_ => RandomVector(random)).ToArray();

        await using var db = await Db.OpenAsync(connectionString);
        for (var i = 0; i < Count; i++)
        {
            // How the Python orchestrator writes: text cast to vector, metadata and timestamps left to their defaults.
            await db.ExecuteAsync("INSERT INTO memories (content, embedding) VALUES ($1, $2::vector)", $"raw {i}", ToText(embeddings[i]));
        }

        Assert.Equal(Count, await db.ScalarAsync<long>("SELECT count(*) FROM memories WHERE metadata = '{}'::jsonb"));

        var query = ToText(Perturb(embeddings[29], random, 0.05f));
        await db.ExecuteAsync("SET enable_seqscan = off");
        var plan = string.Join("\n", await db.ListAsync<string>($"EXPLAIN SELECT id FROM memories ORDER BY embedding <=> '{query}'::vector LIMIT 5"));
        Assert.Contains("ix_memories_embedding", plan);

        var nearest = await db.ListAsync<string>("SELECT content FROM memories ORDER BY embedding <=> $1::vector LIMIT 3", query);
        Assert.Equal("raw 29", nearest[0]);

        // And EF reads what raw SQL wrote.
        await using var context = Db.CreateContext(connectionString);
        var viaEf = await context.Memories
            .OrderBy(m => m.Embedding.CosineDistance(new Vector(embeddings[5])))
            .FirstAsync();
        Assert.Equal("raw 5", viaEf.Content);
        Assert.Equal(embeddings[5], viaEf.Embedding.ToArray());
    }

    private async Task<string> MigratedDatabaseAsync()
    {
        var connectionString = await server.CreateDatabaseAsync();
        var run = await MigrationWorker.RunAsync(connectionString);
        Assert.True(run.ExitCode == 0, run.ToString());
        return connectionString;
    }

    private static float[] RandomVector(Random random) =>
        Enumerable.Range(0, Memory.EmbeddingDimensions).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

    private static float[] Perturb(float[] vector, Random random, float amount) =>
        vector.Select(x => x + (float)(random.NextDouble() * 2 - 1) * amount).ToArray();

    private static string ToText(float[] vector) =>
        "[" + string.Join(", ", vector.Select(x => x.ToString("R", CultureInfo.InvariantCulture))) + "]";
}
