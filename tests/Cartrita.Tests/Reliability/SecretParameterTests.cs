namespace Cartrita.Tests.Reliability;

/// <summary>Every secret the AppHost hands out can be set from configuration (Parameters:name / Parameters__name).</summary>
public sealed class SecretParameterTests
{
    public static readonly string[] SecretParameters =
    [
        "postgres-password", "postgres-owner-password", "postgres-app-password", "redis-password", "jwt-secret", "cartrita-api-key",
        "admin-password", "metrics-token", "proxy-token", "openai-api-key", "anthropic-api-key", "deepgram-api-key",
    ];

    [Fact]
    public async Task Every_secret_parameter_is_secret_and_takes_its_configured_value()
    {
        var configured = SecretParameters.ToDictionary(name => name, name => $"configured{name.Replace("-", "", StringComparison.Ordinal)}{Guid.NewGuid():N}");
        var args = TestStack.ProcessesModeArgs(Path.GetTempPath(), [.. configured.Select(c => $"--Parameters:{c.Key}={c.Value}")]);

        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Cartrita_AppHost>(args);

        var parameters = builder.Resources.OfType<ParameterResource>().ToDictionary(p => p.Name);
        Assert.Equal(SecretParameters.Order(), parameters.Values.Where(p => p.Secret).Select(p => p.Name).Order());
        foreach (var (name, value) in configured)
        {
            // The optional provider keys used to be fixed empty values that ignored configuration.
            Assert.Equal(value, await parameters[name].GetValueAsync(default));
        }
    }
}
