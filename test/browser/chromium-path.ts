// Where the Chromium for browser tests is: CHROMIUM_PATH, else the first one on PATH
// (scripts/browser-deps.sh installs Debian's).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome']) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here; keep looking
      }
    }
  }
  throw new Error("No Chromium found: run scripts/browser-deps.sh (it installs Debian's chromium) or set CHROMIUM_PATH.");
}
