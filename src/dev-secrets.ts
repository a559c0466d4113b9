import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Development only: a random secret generated on first use and kept in `<dataDir>/<name>`
 * (mode 0600) so tokens and webhook signatures stay valid across restarts.
 */
export async function persistedSecret(dataDir: string, name: string): Promise<string> {
  const file = path.join(dataDir, name);
  try {
    const value = (await readFile(file, 'utf8')).trim();
    if (value) return value;
  } catch {
    // first start
  }
  const value = randomBytes(32).toString('hex');
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${value}\n`, { mode: 0o600 });
  return value;
}
