/**
 * A directory laid out as the kubelet lays out a Secret volume, updated the way it updates one:
 * the files live in a timestamped directory, `..data` links to it, each key links through `..data`,
 * and an update writes a new directory and swaps `..data` with one rename (atomic).
 */
import { mkdirSync, mkdtempSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class SecretVolume {
  readonly dir: string;
  private n = 0;

  constructor(files: Record<string, string>) {
    this.dir = mkdtempSync(join(tmpdir(), 'modelship-secret-'));
    this.update(files);
  }

  path(key: string): string {
    return join(this.dir, key);
  }

  update(files: Record<string, string>): void {
    const data = `..${Date.now()}_${++this.n}`;
    mkdirSync(join(this.dir, data));
    for (const [k, v] of Object.entries(files)) writeFileSync(join(this.dir, data, k), v);
    const old = existsSync(join(this.dir, '..data')) ? readlinkSync(join(this.dir, '..data')) : undefined;
    symlinkSync(data, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const k of Object.keys(files)) if (!existsSync(join(this.dir, k))) symlinkSync(join('..data', k), join(this.dir, k));
    if (old) rmSync(join(this.dir, old), { recursive: true, force: true });
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
