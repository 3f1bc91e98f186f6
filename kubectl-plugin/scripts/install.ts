// `npm run plugin:install [-- --dir DIR]`: links bin/kubectl-modelship into DIR (default
// ~/.local/bin), so kubectl finds it on the PATH as `kubectl modelship`. The link points into this
// repository: the plugin runs with the repository's Node and code, and `git pull` updates it.
import { existsSync, lstatSync, mkdirSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const launcher = resolve(dirname(fileURLToPath(import.meta.url)), '../bin/kubectl-modelship');

function install(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const link = join(dir, 'kubectl-modelship');
  if (existsSync(link) || isSymlink(link)) {
    if (!isSymlink(link)) throw new Error(`${link} exists and is not a link: remove it first`);
    if (readlinkSync(link) === launcher) return link;
    unlinkSync(link);
  }
  symlinkSync(launcher, link);
  return link;
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

try {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { dir: { type: 'string' } } });
  const dir = resolve(values.dir ?? join(homedir(), '.local', 'bin'));
  const link = install(dir);
  process.stdout.write(`linked ${link} -> ${launcher}\n`);
  const onPath = (process.env.PATH ?? '').split(delimiter).some((p) => p && resolve(p) === dir);
  process.stdout.write(
    onPath
      ? 'try: kubectl modelship --help\n'
      : `${dir} is not on your PATH: add it (export PATH="${dir}:$PATH") so kubectl finds the plugin\n`,
  );
} catch (err) {
  process.stderr.write(`plugin:install: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
