// What the machine needs before a node can run (root, and host tools from Debian packages), checked
// before anything is built. As root with apt, missing packages are installed (said on screen);
// otherwise it fails fast with the exact command. The decision is pure (planPrerequisites); the
// I/O shell (ensurePrerequisites) looks at the machine and runs apt-get.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Host tools the node runs, by absolute path, and the Debian package of each. */
export const HOST_TOOLS = {
  containerd: { path: '/usr/bin/containerd', pkg: 'containerd' },
  ctr: { path: '/usr/bin/ctr', pkg: 'containerd' },
  runc: { path: '/usr/sbin/runc', pkg: 'runc' },
  bridge: { path: '/usr/lib/cni/bridge', pkg: 'containernetworking-plugins' },
  'host-local': { path: '/usr/lib/cni/host-local', pkg: 'containernetworking-plugins' },
  loopback: { path: '/usr/lib/cni/loopback', pkg: 'containernetworking-plugins' },
  portmap: { path: '/usr/lib/cni/portmap', pkg: 'containernetworking-plugins' },
  iptables: { path: '/usr/sbin/iptables', pkg: 'iptables' },
  conntrack: { path: '/usr/sbin/conntrack', pkg: 'conntrack' },
  buildah: { path: '/usr/bin/buildah', pkg: 'buildah' },
  debootstrap: { path: '/usr/sbin/debootstrap', pkg: 'debootstrap' },
  modprobe: { path: '/usr/sbin/modprobe', pkg: 'kmod' },
  curl: { path: '/usr/bin/curl', pkg: 'curl' },
} as const;
export type HostTool = keyof typeof HOST_TOOLS;

/** Every Debian package the node needs (what `.ci/run` used to install). */
export const APT_PACKAGES = [...new Set(Object.values(HOST_TOOLS).map((t) => t.pkg))];

export function hostTool(name: HostTool): string {
  return HOST_TOOLS[name].path;
}

export interface MachineFacts {
  isRoot: boolean;
  hasApt: boolean;
  /**
   * Host tools whose binary is absent. Checked by file rather than by `dpkg -s`: a tool installed
   * another way (e.g. containerd from Docker's containerd.io) is fine, and installing the Debian
   * package over it would conflict.
   */
  missingTools: HostTool[];
}

export type PrerequisitePlan =
  { action: 'none' } | { action: 'install'; packages: string[]; commands: string[][] } | { action: 'fail'; message: string };

/** The exact apt command lines that install `packages`. */
export function aptCommands(packages: readonly string[]): string[][] {
  return [
    ['apt-get', 'update', '-qq'],
    ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...packages],
  ];
}

/** Pure: what to do about the machine's prerequisites. */
export function planPrerequisites(f: MachineFacts): PrerequisitePlan {
  const packages = [...new Set(f.missingTools.map((t) => HOST_TOOLS[t].pkg))].sort();
  const problems: string[] = [];
  if (!f.isRoot) problems.push('the node must run as root (containerd, kubelet, iptables, the bridge)');
  if (packages.length === 0 && problems.length === 0) return { action: 'none' };
  if (packages.length > 0 && f.isRoot && f.hasApt) return { action: 'install', packages, commands: aptCommands(packages) };
  if (packages.length > 0) {
    const how = f.hasApt
      ? aptCommands(packages)
          .map((c) => `sudo ${c.join(' ')}`)
          .join(' && ')
      : `install the Debian/Ubuntu packages ${packages.join(' ')}`;
    problems.push(`missing packages ${packages.join(' ')}: ${how}`);
  }
  return { action: 'fail', message: `cannot run the dev cluster's node: ${problems.join('; ')}` };
}

export function machineFacts(): MachineFacts {
  return {
    isRoot: process.getuid?.() === 0,
    hasApt: existsSync('/usr/bin/apt-get'),
    missingTools: (Object.keys(HOST_TOOLS) as HostTool[]).filter((t) => !existsSync(HOST_TOOLS[t].path)),
  };
}

/**
 * Makes sure the node's prerequisites are there, installing missing Debian packages when root with
 * apt; throws with the exact command otherwise. `say` shows what is done (stderr by default).
 */
export function ensurePrerequisites(say: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  const plan = planPrerequisites(machineFacts());
  if (plan.action === 'none') return;
  if (plan.action === 'fail') throw new Error(plan.message);
  say(`prerequisites: installing the Debian packages the dev cluster's node needs: ${plan.packages.join(' ')}`);
  for (const cmd of plan.commands) {
    say(`prerequisites: ${cmd.join(' ')}`);
    execFileSync(cmd[0]!, cmd.slice(1), {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  const after = planPrerequisites(machineFacts());
  if (after.action !== 'none')
    throw new Error(
      `prerequisites still missing after apt-get install: ${after.action === 'fail' ? after.message : after.packages.join(' ')}`,
    );
}
