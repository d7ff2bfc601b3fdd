// Container health check of this server: exit 0 when our own /api/health answers JSON saying it is the frontend.
// It answers 503 while the orchestrator is down; that is no reason to restart the frontend, so any such JSON counts.
// A file in the image (`node /app/healthcheck.mjs`), not `node -e "<code>"`: podman's Docker-compatible API splits a
// health-check argument that contains spaces into words, and the check would then fail for ever.
const port = process.env.PORT || 3000;
try {
  const response = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(4000) });
  const body = await response.json();
  process.exit(body && body.service === 'frontend' ? 0 : 1);
} catch (error) {
  console.error(`unhealthy: ${error.message}`);
  process.exit(1);
}
