using Microsoft.Extensions.Hosting;

namespace Cartrita.AppHost.Parameters;

/// <summary>
/// Replaces the values of the model's secret parameters with <c>***</c> in text the AppHost prints or writes (a failed
/// resource's last lines, the resource log files): as configured, and percent-encoded as the URLs built from them carry
/// them. Values are picked up as each parameter resolves; one still waiting for the user's input never holds anything up.
/// One per AppHost (a DI singleton).
/// </summary>
internal sealed class SecretMask
{
    // Shorter values would mask ordinary words ("on", "1") and protect nothing.
    private const int ShortestMasked = 4;

    private readonly Lock _gate = new();
    private volatile string[] _secrets = [];

    public SecretMask(DistributedApplicationModel model, IHostApplicationLifetime lifetime)
    {
        var stopping = lifetime.ApplicationStopped;
        foreach (var parameter in model.Resources.OfType<ParameterResource>().Where(parameter => parameter.Secret))
        {
            _ = AddWhenResolvedAsync(parameter, stopping);
        }
    }

    public string Apply(string text)
    {
        foreach (var secret in _secrets)
        {
            text = text.Replace(secret, "***", StringComparison.Ordinal);
        }
        return text;
    }

    private async Task AddWhenResolvedAsync(ParameterResource parameter, CancellationToken stopping)
    {
        try
        {
            if (await parameter.GetValueAsync(stopping).ConfigureAwait(false) is not { Length: >= ShortestMasked } value)
            {
                return;
            }
            lock (_gate)
            {
                // Longest first, so that a secret containing another is masked whole.
                _secrets = [.. _secrets.Append(value).Append(Uri.EscapeDataString(value)).Distinct().OrderByDescending(s => s.Length)];
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or DistributedApplicationException or InvalidOperationException)
        {
            // Stopped first, or a parameter without a value: nothing to mask.
        }
    }
}
