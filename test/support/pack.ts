// The files `npm pack` would put in the tarball, as paths relative to the package root. Scripts
// are off (no prepack compile): build/ is listed as it is on disk, everything else as shipped.
import { execFileSync } from 'child_process';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..');

export function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  return (JSON.parse(out)[0].files as { path: string }[]).map((f) => f.path);
}
