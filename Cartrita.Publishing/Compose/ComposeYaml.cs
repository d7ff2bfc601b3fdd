using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Cartrita.Publishing.Compose;

/// <summary>Serializes the Compose model to YAML (snake_case keys, nothing empty, strings quoted where YAML 1.1 would misread them).</summary>
public static class ComposeYaml
{
    private static readonly ISerializer Serializer = new SerializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .ConfigureDefaultValuesHandling(DefaultValuesHandling.OmitNull | DefaultValuesHandling.OmitEmptyCollections)
        // docker-compose 1.29 reads YAML 1.1, where an unquoted `no` or `on` is a boolean.
        .WithQuotingNecessaryStrings(quoteYaml1_1Strings: true)
        .DisableAliases()
        .Build();

    /// <summary>The YAML of <paramref name="file"/>.</summary>
    public static string Serialize(ComposeFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return Serializer.Serialize(file);
    }
}
