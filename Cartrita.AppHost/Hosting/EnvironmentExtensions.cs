using System.Globalization;

namespace Aspire.Hosting;

/// <summary>Environment helpers shared by Cartrita's resources.</summary>
public static class EnvironmentExtensions
{
    /// <summary>
    /// Sets the environment variable <paramref name="name"/> only when <paramref name="value"/> is configured, so the
    /// program keeps its own default otherwise.
    /// </summary>
    /// <param name="builder">The resource builder.</param>
    /// <param name="name">The environment variable.</param>
    /// <param name="value">The configured value, or <see langword="null"/>.</param>
    /// <returns>The resource builder.</returns>
    public static IResourceBuilder<T> WithEnvironmentIfSet<T>(this IResourceBuilder<T> builder, string name, int? value)
        where T : IResourceWithEnvironment
    {
        ArgumentNullException.ThrowIfNull(builder);
        return value is { } configured ? builder.WithEnvironment(name, configured.ToString(CultureInfo.InvariantCulture)) : builder;
    }
}
