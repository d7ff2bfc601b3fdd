namespace Cartrita.Publishing;

/// <summary>
/// The one way a name becomes a DNS label here. Compose service names and the host names in connection strings, the
/// Kubernetes object, volume and port names, the namespace and the default application name all come from it, so the
/// host a workload is reached by in Compose is the Service it is reached by in Kubernetes.
/// </summary>
internal static class DnsName
{
    /// <summary>
    /// <paramref name="name"/> lower-cased, every character other than an ASCII letter or digit replaced by <c>-</c>, with
    /// leading and trailing <c>-</c> removed; <paramref name="whenEmpty"/> when nothing is left
    /// (<c>Web</c> → <c>web</c>, <c>/var/run</c> → <c>var-run</c>, <c>cartrita.apphost-data</c> → <c>cartrita-apphost-data</c>).
    /// </summary>
    /// <remarks>
    /// An Aspire resource name (ASCII letters, digits and single hyphens, starting with a letter) only changes case, so a
    /// manifest from an AppHost gets the same names as with plain lower-casing. Runs of <c>-</c> are kept, not collapsed:
    /// a volume's claim is its data, and a name that changed would be a new, empty claim. Lengths are not cut (a cut
    /// name could collide); only port names have a limit of their own, applied where they are made.
    /// </remarks>
    public static string Slug(string name, string whenEmpty = "x")
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(whenEmpty);
        var slug = new string([.. name.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-')]).Trim('-');
        return slug.Length == 0 ? whenEmpty : slug;
    }
}
