// After `next build` (npm's postbuild hook): copy .next/static and public/ into the
// standalone folder, which serves static files only from its own tree. Without this
// a manual `npm run build` leaves a .next/standalone/server.js whose pages load no
// JavaScript (the AppHost, seeing an up-to-date build, would then serve exactly that).
// The Dockerfile copies the same folders itself; doing it here too is harmless.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const standalone = join(root, '.next', 'standalone');
if (!existsSync(join(standalone, 'server.js'))) {
  console.error('standalone-assets: no .next/standalone/server.js (is output: "standalone" set?)');
  process.exit(1);
}
for (const [from, to] of [
  [join(root, '.next', 'static'), join(standalone, '.next', 'static')],
  [join(root, 'public'), join(standalone, 'public')],
]) {
  if (!existsSync(from)) continue;
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
}
console.log('standalone-assets: copied .next/static and public into .next/standalone');
