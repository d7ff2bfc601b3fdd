using System.Collections.Immutable;
using System.Globalization;

namespace Cartrita.Publishing.Manifest;

/// <summary>
/// Resolves manifest expressions — <c>{postgres.bindings.tcp.host}</c>, <c>{redis.bindings.tcp.port}</c>,
/// <c>{jwt-secret.value}</c>, <c>{cartrita.connectionString}</c>, nested to any depth — for a deployment in which every
/// workload is reachable under its resource name on its container (target) port, as in Compose and in Kubernetes
/// (where each Service's port equals its target port).
/// </summary>
public sealed class ExpressionResolver(AspireManifest manifest)
{
    private readonly Dictionary<string, IReadOnlyDictionary<string, int>> _ports = new(StringComparer.Ordinal);

    /// <summary>Resolves the expressions in <paramref name="template"/>.</summary>
    /// <param name="template">A manifest string.</param>
    /// <param name="where">Where it comes from, for messages (<c>resource 'frontend', env 'NEXT_PUBLIC_API_URL'</c>).</param>
    /// <exception cref="PublishingException">An expression names an unknown resource or property, or refers to itself.</exception>
    public ResolvedValue Resolve(string template, string where)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(where);
        return Resolve(template, where, ImmutableStack<string>.Empty);
    }

    /// <summary>
    /// The container port of each binding of <paramref name="workload"/>: its <c>targetPort</c>, else its <c>port</c>,
    /// else 8080 (8443 for https), moved up past ports another binding of the workload already has.
    /// </summary>
    public IReadOnlyDictionary<string, int> TargetPorts(WorkloadResource workload)
    {
        ArgumentNullException.ThrowIfNull(workload);
        if (_ports.TryGetValue(workload.Name, out var known))
        {
            return known;
        }
        var ports = new Dictionary<string, int>(StringComparer.Ordinal);
        var taken = new HashSet<int>(workload.Bindings.Select(b => b.TargetPort ?? b.Port).OfType<int>());
        foreach (var binding in workload.Bindings)
        {
            if ((binding.TargetPort ?? binding.Port) is int explicitPort)
            {
                ports[binding.Name] = explicitPort;
                continue;
            }
            var port = binding.Scheme == "https" ? 8443 : 8080;
            while (!taken.Add(port))
            {
                port++;
            }
            ports[binding.Name] = port;
        }
        _ports[workload.Name] = ports;
        return ports;
    }

    private ResolvedValue Resolve(string template, string where, ImmutableStack<string> resolving)
    {
        var parts = new List<ValuePart>();
        var references = new SortedSet<string>(StringComparer.Ordinal);
        var literal = new System.Text.StringBuilder();
        for (var i = 0; i < template.Length; i++)
        {
            var c = template[i];
            if (c == '{' && i + 1 < template.Length && template[i + 1] == '{')
            {
                literal.Append('{');
                i++;
                continue;
            }
            if (c == '}' && i + 1 < template.Length && template[i + 1] == '}')
            {
                literal.Append('}');
                i++;
                continue;
            }
            if (c != '{')
            {
                literal.Append(c);
                continue;
            }
            var end = template.IndexOf('}', i + 1);
            if (end < 0)
            {
                throw new PublishingException($"{where}: unterminated expression '{template[i..]}' in \"{template}\".");
            }
            parts.Add(new LiteralPart(literal.ToString()));
            literal.Clear();
            var resolved = ResolveReference(template[(i + 1)..end], where, resolving);
            parts.AddRange(resolved.Parts);
            references.UnionWith(resolved.References);
            i = end;
        }
        parts.Add(new LiteralPart(literal.ToString()));
        return new ResolvedValue(parts, references);
    }

    private ResolvedValue ResolveReference(string expression, string where, ImmutableStack<string> resolving)
    {
        var segments = expression.Split('.');
        if (segments.Length < 2 || segments.Any(s => s.Length == 0))
        {
            throw new PublishingException($"{where}: malformed expression '{{{expression}}}': expected {{resource.property}}.");
        }
        if (resolving.Contains(expression))
        {
            throw new PublishingException($"{where}: '{{{expression}}}' refers to itself ({string.Join(" -> ", resolving.Reverse().Append(expression))}).");
        }
        var name = segments[0];
        var resource = manifest.Find(name)
            ?? throw new PublishingException($"{where}: unknown resource '{name}' in expression '{{{expression}}}'.");
        var path = segments[1..];
        var inner = resolving.Push(expression);
        var context = $"{where} -> {{{expression}}}";

        switch (resource, path)
        {
            case (ParameterResource p, ["value"]):
                return Resolve(p.Value, context, inner);
            case (ParameterResource p, ["connectionString"]) when p.ConnectionString is not null:
                return Resolve(p.ConnectionString, context, inner);
            case (ParameterResource p, ["inputs", var input, ..]) when path.Length <= 3:
                if (!p.Inputs.TryGetValue(input, out var parameterInput))
                {
                    throw new PublishingException($"{where}: parameter '{name}' has no input '{input}' (expression '{{{expression}}}').");
                }
                var parameterName = input == "value" ? p.Name : $"{p.Name}.{input}";
                return new ResolvedValue([new ParameterPart(parameterName, parameterInput.Secret, [])], []);
            case (ValueResource v, ["connectionString" or "value"]):
                return Resolve(v.ConnectionString, context, inner);
            case (AnnotatedStringResource a, ["value"]):
                var value = Resolve(a.Value, context, inner);
                return a.Filter is null ? value : Filter(value, a.Filter, context);
            case (WorkloadResource w, ["connectionString"]):
                if (w.ConnectionString is null)
                {
                    throw new PublishingException($"{where}: resource '{name}' ({w.Type}) has no connectionString (expression '{{{expression}}}').");
                }
                var connectionString = Resolve(w.ConnectionString, context, inner);
                return new ResolvedValue(connectionString.Parts, connectionString.References.Add(w.Name));
            case (WorkloadResource w, ["bindings", var bindingName, var property]):
                return new ResolvedValue([new LiteralPart(BindingProperty(w, bindingName, property, where, expression))], [w.Name]);
            default:
                throw new PublishingException(
                    $"{where}: resource '{name}' ({resource.Type}) has no property '{string.Join('.', path)}' (expression '{{{expression}}}').");
        }
    }

    private string BindingProperty(WorkloadResource workload, string bindingName, string property, string where, string expression)
    {
        var binding = workload.Bindings.FirstOrDefault(b => b.Name == bindingName)
            ?? throw new PublishingException(
                $"{where}: resource '{workload.Name}' has no binding '{bindingName}' (expression '{{{expression}}}'; " +
                $"bindings: {(workload.Bindings.Count == 0 ? "none" : string.Join(", ", workload.Bindings.Select(b => b.Name)))}).");
        var port = TargetPorts(workload)[binding.Name].ToString(CultureInfo.InvariantCulture);
        // The Compose service and the Kubernetes Service of the workload (Workload.ServiceName) are named so.
        var host = DnsName.Slug(workload.Name);
        return property switch
        {
            "host" => host,
            "port" or "targetPort" => port,
            "url" => $"{binding.Scheme}://{host}:{port}",
            "scheme" => binding.Scheme,
            "protocol" => binding.Protocol,
            "transport" => binding.Transport,
            _ => throw new PublishingException(
                $"{where}: binding '{workload.Name}.{bindingName}' has no property '{property}' (expression '{{{expression}}}'; " +
                "known: host, port, targetPort, url, scheme, protocol, transport)."),
        };
    }

    private static ResolvedValue Filter(ResolvedValue value, string filter, string where)
    {
        try
        {
            ResolvedValue.ApplyFilter("", filter); // rejects an unknown filter even when there is no literal text
            var parts = value.Parts.Select(part => part switch
            {
                LiteralPart l => new LiteralPart(ResolvedValue.ApplyFilter(l.Text, filter)),
                ParameterPart p => p with { Filters = p.Filters.Add(filter) },
                _ => part,
            });
            return new ResolvedValue(parts, value.References);
        }
        catch (PublishingException e)
        {
            throw new PublishingException($"{where}: {e.Message}");
        }
    }
}
