using System.Globalization;
using k8s.Models;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>The profile's Compose-style amounts as Kubernetes quantities.</summary>
internal static class Quantities
{
    /// <summary>Compose memory (<c>512M</c>, <c>2G</c>, binary units) as a Kubernetes quantity (<c>512Mi</c>, <c>2Gi</c>).</summary>
    public static ResourceQuantity Memory(string memory)
    {
        var unit = memory[^1];
        return char.ToUpperInvariant(unit) switch
        {
            'K' or 'M' or 'G' or 'T' => new ResourceQuantity($"{memory[..^1]}{char.ToUpperInvariant(unit)}i"),
            'B' => Memory(memory[..^1]),
            _ => new ResourceQuantity(memory),
        };
    }

    /// <summary>Compose CPUs (<c>0.5</c>) as a Kubernetes quantity (<c>500m</c>).</summary>
    public static ResourceQuantity Cpu(string cpus)
    {
        var millicores = (long)Math.Round(decimal.Parse(cpus, CultureInfo.InvariantCulture) * 1000);
        return new ResourceQuantity(millicores % 1000 == 0 ? (millicores / 1000).ToString(CultureInfo.InvariantCulture) : $"{millicores}m");
    }
}
