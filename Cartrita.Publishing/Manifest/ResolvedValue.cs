using System.Collections.Immutable;
using System.Text;

namespace Cartrita.Publishing.Manifest;

/// <summary>A piece of a resolved manifest value.</summary>
public abstract record ValuePart;

/// <summary>Text known when publishing (host names, ports, literal parts of a connection string).</summary>
public sealed record LiteralPart(string Text) : ValuePart;

/// <summary>
/// The value of a parameter, known only from the deployment's inputs. <paramref name="Filters"/> are applied to the value
/// in order (<c>uri</c>: percent-encoding).
/// </summary>
public sealed record ParameterPart(string Parameter, bool Secret, ImmutableArray<string> Filters) : ValuePart;

/// <summary>A deployment setting from the profile (<c>${NAME}</c>), with the default used when the deployment sets none.</summary>
public sealed record SettingPart(string Name, string Default) : ValuePart;

/// <summary>
/// A manifest string with every expression resolved: literal text, parameter values and settings, plus the workloads it
/// refers to (which become dependencies and network paths).
/// </summary>
public sealed class ResolvedValue
{
    /// <summary>Creates a value of <paramref name="parts"/> referring to <paramref name="references"/>.</summary>
    public ResolvedValue(IEnumerable<ValuePart> parts, IEnumerable<string> references)
    {
        ArgumentNullException.ThrowIfNull(parts);
        ArgumentNullException.ThrowIfNull(references);
        Parts = Merge(parts);
        References = references.ToImmutableSortedSet(StringComparer.Ordinal);
    }

    /// <summary>A literal value.</summary>
    public static ResolvedValue Literal(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new([new LiteralPart(text)], []);
    }

    /// <summary>The parts, with adjacent literals merged.</summary>
    public ImmutableArray<ValuePart> Parts { get; }

    /// <summary>The workloads (by resource name) the value refers to.</summary>
    public ImmutableSortedSet<string> References { get; }

    /// <summary>Whether any part is a secret parameter: the whole value must then be treated as a secret.</summary>
    public bool IsSecret => Parts.Any(p => p is ParameterPart { Secret: true });

    /// <summary>The parameters the value is built from.</summary>
    public IEnumerable<ParameterPart> ParameterParts => Parts.OfType<ParameterPart>();

    /// <summary>The parameter, when the value is exactly one unfiltered parameter.</summary>
    public ParameterPart? SingleParameter => Parts is [ParameterPart { Filters.IsEmpty: true } p] ? p : null;

    /// <summary>The text, when the value is all literal.</summary>
    public string? LiteralText => Parts.All(p => p is LiteralPart) ? string.Concat(Parts.Cast<LiteralPart>().Select(p => p.Text)) : null;

    /// <summary>Renders the value, asking <paramref name="parameter"/> and <paramref name="setting"/> for what is not literal.</summary>
    /// <param name="parameter">The (unfiltered) value of a parameter; filters are applied here.</param>
    /// <param name="setting">How a setting is written (its default, or a placeholder).</param>
    /// <param name="literal">How literal text is written (for escaping); as is by default.</param>
    public string Render(Func<string, string> parameter, Func<SettingPart, string> setting, Func<string, string>? literal = null)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        ArgumentNullException.ThrowIfNull(setting);
        var builder = new StringBuilder();
        foreach (var part in Parts)
        {
            builder.Append(part switch
            {
                LiteralPart l => literal is null ? l.Text : literal(l.Text),
                ParameterPart p => ApplyFilters(parameter(p.Parameter), p.Filters, literal),
                SettingPart s => setting(s),
                _ => throw new InvalidOperationException(part.GetType().Name),
            });
        }
        return builder.ToString();
    }

    /// <summary>Applies a manifest filter (<c>uri</c>) to a value.</summary>
    public static string ApplyFilter(string value, string filter)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(filter);
        return filter switch
        {
            "uri" => Uri.EscapeDataString(value),
            _ => throw new PublishingException($"Unknown filter '{filter}' (known: uri)."),
        };
    }

    private static string ApplyFilters(string value, ImmutableArray<string> filters, Func<string, string>? literal)
    {
        foreach (var filter in filters)
        {
            value = ApplyFilter(value, filter);
        }
        return literal is null ? value : literal(value);
    }

    private static ImmutableArray<ValuePart> Merge(IEnumerable<ValuePart> parts)
    {
        var merged = ImmutableArray.CreateBuilder<ValuePart>();
        foreach (var part in parts)
        {
            if (part is LiteralPart { Text.Length: 0 })
            {
                continue;
            }
            if (part is LiteralPart next && merged.Count > 0 && merged[^1] is LiteralPart previous)
            {
                merged[^1] = new LiteralPart(previous.Text + next.Text);
                continue;
            }
            merged.Add(part);
        }
        return merged.ToImmutable();
    }

    /// <inheritdoc/>
    public override string ToString() => Render(p => $"{{{p}.value}}", s => $"${{{s.Name}}}");
}
