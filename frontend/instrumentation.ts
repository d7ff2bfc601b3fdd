// Next.js calls register() once per server process at startup.
// The TCP peer of each request is stamped from here on (lib/client-address.ts).
// Tracing is opt-in: nothing is loaded unless OTEL_EXPORTER_OTLP_ENDPOINT is set,
// so builds and runs without a collector are unaffected.
//
// Standard OTel variables apply: OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL
// (http/protobuf [default], http/json, grpc), OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME,
// OTEL_TRACES_SAMPLER(_ARG). @vercel/otel handles the HTTP protocols; it has no gRPC
// exporter (it would silently fall back to http://localhost:4318), so for grpc, which
// Aspire's WithOtlpExporter() hands out by default, we plug in the official gRPC exporter.

export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return;

  // Before any route runs: who sent each request (lib/client-address.ts).
  const { installPeerStamp } = await import('./lib/client-address');
  installPeerStamp();

  const env = process.env;
  const endpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim() || env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim();
  if (!endpoint) return;

  const serviceName = env['OTEL_SERVICE_NAME']?.trim() || 'cartrita-frontend';
  const protocol = (env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'] ?? 'http/protobuf').trim();
  // Propagate W3C trace context to the orchestrator so its spans join ours.
  const propagateContextUrls = [env['ORCHESTRATOR_URL'], env['NEXT_PUBLIC_API_URL']].flatMap((url) => {
    try {
      return url?.trim() ? [new URL(url.trim()).origin] : [];
    } catch {
      return [];
    }
  });

  try {
    const { registerOTel } = await import('@vercel/otel');
    if (protocol === 'grpc') {
      // Reads the same OTEL_EXPORTER_OTLP_* variables (endpoint used as-is, headers, TLS).
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-grpc');
      registerOTel({
        serviceName,
        spanProcessors: [], // no "auto" processors: they would add an HTTP exporter too
        traceExporter: new OTLPTraceExporter(),
        instrumentationConfig: { fetch: { propagateContextUrls } },
      });
    } else {
      registerOTel({ serviceName, instrumentationConfig: { fetch: { propagateContextUrls } } });
    }
    let where = 'the configured endpoint';
    try {
      where = new URL(endpoint).origin; // never log credentials, paths or headers
    } catch {
      /* keep the generic wording */
    }
    console.info(`[otel] tracing enabled for ${serviceName}: ${protocol} to ${where}`);
  } catch (error) {
    console.warn('[otel] tracing disabled, could not start the SDK:', error instanceof Error ? error.message : error);
  }
}
