using Cartrita.Publishing.Deployment;
using k8s.Models;

namespace Cartrita.Publishing.Kubernetes;

/// <summary>A service's startup, readiness and liveness probes.</summary>
internal static class Probes
{
    /// <summary>Sets the three probes of <paramref name="container"/>, all checking the same as the health check.</summary>
    public static void Add(V1Container container, Workload workload)
    {
        container.StartupProbe = Probe(workload, periodSeconds: 5, failureThreshold: 30);
        container.ReadinessProbe = Probe(workload, periodSeconds: 10, failureThreshold: 3);
        container.LivenessProbe = Probe(workload, periodSeconds: 20, failureThreshold: 6);
    }

    /// <summary>
    /// The profile's HTTP path on the first HTTP port, else its command, else a TCP connection to the first port; none
    /// for a workload without either.
    /// </summary>
    private static V1Probe? Probe(Workload workload, int periodSeconds, int failureThreshold)
    {
        var probe = new V1Probe { PeriodSeconds = periodSeconds, FailureThreshold = failureThreshold, TimeoutSeconds = workload.Health?.TimeoutSeconds ?? 5 };
        var http = workload.Ports.FirstOrDefault(p => p.Scheme is "http" or "https");
        if (workload.Health?.HttpPath is { } path && http is not null)
        {
            probe.HttpGet = new V1HTTPGetAction { Path = path, Port = ObjectNames.Port(http), Scheme = http.Scheme.ToUpperInvariant() };
        }
        else if (workload.Health?.Command is { } command)
        {
            probe.Exec = new V1ExecAction { Command = [.. command] };
        }
        else if (workload.Ports.FirstOrDefault() is { } port)
        {
            probe.TcpSocket = new V1TCPSocketAction { Port = ObjectNames.Port(port) };
        }
        else
        {
            return null;
        }
        return probe;
    }
}
