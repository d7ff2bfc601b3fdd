using Microsoft.Extensions.Configuration;

namespace Aspire.Hosting;

/// <summary>Secret parameters with Cartrita's rules: generated when unset, validated when set.</summary>
public static class SecretParameterExtensions
{
    /// <summary>
    /// Adds a secret parameter that is generated (letters and digits, persisted to the AppHost's user secrets so it stays
    /// stable across runs) when no value is configured. A configured value shorter than <paramref name="minLength"/> stops
    /// the AppHost with a message naming the parameter.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="name">The parameter name; its value is read from <c>Parameters:{name}</c> (env <c>Parameters__{name}</c>).</param>
    /// <param name="minLength">The shortest acceptable value.</param>
    /// <returns>The parameter's resource builder.</returns>
    public static IResourceBuilder<ParameterResource> AddGeneratedSecret(
        this IDistributedApplicationBuilder builder, [ResourceName] string name, int minLength = 24)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configured = builder.Configuration[$"Parameters:{name}"];
        if (configured is not null && configured.Length < minLength)
        {
            throw new DistributedApplicationException(
                $"Parameter '{name}' is too short: it must be at least {minLength} characters, the configured value has {configured.Length}. " +
                $"Set Parameters:{name} (environment variable Parameters__{name}) to a longer value, or remove it to have one generated.");
        }
        return builder.AddParameter(name, new GenerateParameterDefault { MinLength = Math.Max(minLength, 32), Special = false }, secret: true, persist: true);
    }

    /// <summary>
    /// Adds a secret parameter that may stay empty (an optional provider key: the feature is off without it). Its value is
    /// read from <c>Parameters:{name}</c> like any parameter's; unset means empty.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="name">The parameter name.</param>
    /// <returns>The parameter's resource builder.</returns>
    public static IResourceBuilder<ParameterResource> AddOptionalSecret(this IDistributedApplicationBuilder builder, [ResourceName] string name)
    {
        ArgumentNullException.ThrowIfNull(builder);
        // Not AddParameter(name, value: ""): a parameter with a fixed value never reads configuration.
        return builder.AddParameter(name, () => builder.Configuration[$"Parameters:{name}"] ?? "", secret: true);
    }
}
