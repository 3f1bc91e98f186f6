// Host network state of the single-node test cluster: the pod bridge, the CNI configuration, the
// sysctls kubelet / kube-proxy need, and the tear-down that removes exactly what a cluster created
// (bridge, netns, iptables chains, mounts, CNI cache entries) and restores the sysctls it changed.
// Every function here is idempotent so the same tear-down also reaps a cluster whose owner died.

import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One cluster per machine: fixed bridge and subnet (the cluster lock in cluster.ts enforces it). */
export const BRIDGE = 'msbr0';
export const POD_CIDR = '10.244.0.0/24';
export const GATEWAY_IP = '10.244.0.1';
export const CNI_NETWORK = 'modelship-pods';
export const CNI_BIN_DIR = '/usr/lib/cni';
/** Where containerd 1.6's CRI plugin bind-mounts pod network namespaces (not configurable there). */
export const NETNS_DIR = '/var/run/netns';
/** libcni's result cache (containerd 1.6 does not move it). */
export const CNI_CACHE_DIR = '/var/lib/cni';
export const RUN_CONTAINERD = '/run/containerd';

/** Sysctls the cluster sets itself or that kubelet / kube-proxy may change; restored on tear-down. */
export const SYSCTLS = [
  'net/ipv4/ip_forward',
  'net/bridge/bridge-nf-call-iptables',
  'net/bridge/bridge-nf-call-ip6tables',
  'net/ipv4/conf/all/route_localnet',
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
] as const;

export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${(stderr || err.message).trim()}`));
        else resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Synchronous, never throws: for tear-down paths (also from a process 'exit' handler). */
export function runSync(cmd: string, args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 }) };
  } catch (err) {
    return { ok: false, out: String((err as { stderr?: string }).stderr ?? err) };
  }
}

// ---- pure builders ----------------------------------------------------------------

export function cniConflist(o: { ipamDataDir: string }): string {
  return `${JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: CNI_NETWORK,
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: POD_CIDR, gateway: GATEWAY_IP }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: o.ipamDataDir,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

/** `iptables -S` output → chain names that exist (`-N X`, and built-ins `-P X`). */
export function chainsOf(rules: string): string[] {
  const chains: string[] = [];
  for (const line of rules.split('\n')) {
    const m = /^-[NP] (\S+)/.exec(line);
    if (m) chains.push(m[1]!);
  }
  return chains;
}

/**
 * The commands that remove `chains` from one table given its `iptables -S` output: delete every
 * rule that jumps to one of them (from any chain), then flush and delete the chains.
 */
export function chainRemovalCommands(table: string, rules: string, chains: readonly string[]): string[][] {
  const doomed = new Set(chains);
  const cmds: string[][] = [];
  for (const line of rules.split('\n')) {
    const m = /^-A (\S+) (.*)$/.exec(line);
    if (!m) continue;
    const target = /(?:^| )-[jg] (\S+)/.exec(m[2]!)?.[1];
    if (target && doomed.has(target) && !doomed.has(m[1]!)) cmds.push(['-t', table, '-D', m[1]!, ...splitRule(m[2]!)]);
  }
  for (const c of chains) cmds.push(['-t', table, '-F', c]);
  for (const c of chains) cmds.push(['-t', table, '-X', c]);
  return cmds;
}

/** Splits an `iptables -S` rule body into argv, honouring double quotes (comments). */
export function splitRule(rule: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of rule.matchAll(re)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

// ---- snapshot of what existed before ------------------------------------------------------------

export interface NetworkBaseline {
  sysctls: Record<string, string>;
  /** iptables chains per family and table before the cluster started: these are never removed. */
  chains: Record<string, string[]>;
  netns: string[];
  netnsDirExisted: boolean;
  /** containerd 1.6 puts shim sockets and FIFOs under /run/containerd whatever its state dir is. */
  runContainerdExisted: boolean;
  cniCacheExisted: boolean;
  bridgeExisted: boolean;
}

const IPT = ['iptables', 'ip6tables'] as const;
const TABLES = ['filter', 'nat', 'mangle'] as const;

function iptablesRules(bin: string, table: string): string | undefined {
  const r = runSync(bin, ['-w', '5', '-t', table, '-S']);
  return r.ok ? r.out : undefined;
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

export function takeBaseline(): NetworkBaseline {
  const sysctls: Record<string, string> = {};
  for (const s of SYSCTLS) {
    try {
      sysctls[s] = readFileSync(`/proc/sys/${s}`, 'utf8').trim();
    } catch {
      // not present on this kernel
    }
  }
  const chains: Record<string, string[]> = {};
  for (const bin of IPT) {
    for (const table of TABLES) {
      const rules = iptablesRules(bin, table);
      if (rules !== undefined) chains[`${bin}/${table}`] = chainsOf(rules);
    }
  }
  return {
    sysctls,
    chains,
    netns: existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR) : [],
    netnsDirExisted: existsSync(NETNS_DIR),
    runContainerdExisted: existsSync(RUN_CONTAINERD),
    cniCacheExisted: existsSync(CNI_CACHE_DIR),
    bridgeExisted: linkExists(BRIDGE),
  };
}

export function setSysctl(name: string, value: string): void {
  writeFileSync(`/proc/sys/${name}`, `${value}\n`);
}

/** ip_forward and bridge netfilter on; the bridge with the gateway address, up. */
export async function setUpHostNetwork(): Promise<void> {
  if (!existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) {
    await run('modprobe', ['br_netfilter']).catch(() => undefined);
  }
  setSysctl('net/ipv4/ip_forward', '1');
  setSysctl('net/bridge/bridge-nf-call-iptables', '1');
  if (existsSync('/proc/sys/net/bridge/bridge-nf-call-ip6tables')) setSysctl('net/bridge/bridge-nf-call-ip6tables', '1');
  if (!linkExists(BRIDGE)) await run('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  const addrs = await run('ip', ['-4', '-o', 'addr', 'show', 'dev', BRIDGE]);
  if (!addrs.includes(`${GATEWAY_IP}/`)) await run('ip', ['addr', 'add', `${GATEWAY_IP}/24`, 'dev', BRIDGE]);
  await run('ip', ['link', 'set', BRIDGE, 'up']);
}

// ---- tear-down ------------------------------------------------------------------------------------

/** Mount points at or below any of `prefixes`, deepest first. */
export function mountsUnder(prefixes: readonly string[], mountinfo: string = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const points: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const point = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (prefixes.some((p) => point === p || point.startsWith(`${p}/`))) points.push(point);
  }
  return points.sort((a, b) => b.length - a.length);
}

export function unmountAll(prefixes: readonly string[], log: (line: string) => void): void {
  for (let pass = 0; pass < 3; pass++) {
    const points = mountsUnder(prefixes);
    if (points.length === 0) return;
    for (const p of points) {
      const r = runSync('umount', [p]);
      if (!r.ok) runSync('umount', ['-l', p]);
    }
    if (pass === 0) log(`unmounted ${points.length} mount(s) under ${prefixes.join(', ')}`);
  }
}

/** Removes netns created since the baseline (containerd names them cni-<uuid>). */
export function removeNewNetns(baseline: NetworkBaseline, log: (line: string) => void): void {
  if (!existsSync(NETNS_DIR)) return;
  const before = new Set(baseline.netns);
  const created = readdirSync(NETNS_DIR).filter((n) => n.startsWith('cni-') && !before.has(n));
  for (const n of created) {
    const path = join(NETNS_DIR, n);
    runSync('umount', [path]);
    rmSync(path, { force: true });
  }
  if (created.length > 0) log(`removed ${created.length} pod network namespace(s)`);
  if (!baseline.netnsDirExisted && existsSync(NETNS_DIR) && readdirSync(NETNS_DIR).length === 0) {
    // the dir may have been made a (shared) mount point of itself, as `ip netns` does
    if (mountsUnder([NETNS_DIR, '/run/netns']).length > 0) runSync('umount', [NETNS_DIR]);
    removeEmptyTree(NETNS_DIR);
  }
}

/** Removes `dir` and its subdirectories if they hold no files (deepest first); returns true if gone. */
export function removeEmptyTree(dir: string): boolean {
  if (!existsSync(dir)) return true;
  let empty = true;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory() && !e.isSymbolicLink()) empty = removeEmptyTree(join(dir, e.name)) && empty;
    else empty = false;
  }
  if (!empty) return false;
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

/** /run/containerd/{s,fifo,runc} left behind by our containerd, if none existed before. */
export function removeRunContainerd(baseline: NetworkBaseline): void {
  if (!baseline.runContainerdExisted) removeEmptyTree(RUN_CONTAINERD);
}

/** Removes iptables chains that did not exist before (KUBE-*, CNI-*) and the rules jumping to them. */
export function removeNewChains(baseline: NetworkBaseline, log: (line: string) => void): void {
  let removed = 0;
  for (const bin of IPT) {
    for (const table of TABLES) {
      const before = baseline.chains[`${bin}/${table}`];
      if (!before) continue;
      const rules = iptablesRules(bin, table);
      if (rules === undefined) continue;
      const known = new Set(before);
      const doomed = chainsOf(rules).filter((c) => !known.has(c) && /^(KUBE-|CNI-)/.test(c));
      if (doomed.length === 0) continue;
      for (const cmd of chainRemovalCommands(table, rules, doomed)) runSync(bin, ['-w', '5', ...cmd]);
      removed += doomed.length;
    }
  }
  if (removed > 0) log(`removed ${removed} iptables chain(s)`);
}

export function restoreSysctls(baseline: NetworkBaseline): void {
  for (const [name, value] of Object.entries(baseline.sysctls)) {
    try {
      if (readFileSync(`/proc/sys/${name}`, 'utf8').trim() !== value) setSysctl(name, value);
    } catch {
      // best effort
    }
  }
}

export function removeBridge(baseline: NetworkBaseline, log: (line: string) => void): void {
  if (baseline.bridgeExisted || !linkExists(BRIDGE)) return;
  // veths of pods still attached (their netns gone by now) disappear with their namespace
  const r = runSync('ip', ['link', 'delete', BRIDGE]);
  if (r.ok) log(`removed bridge ${BRIDGE}`);
}

/** libcni's cached results for our network (files named <network>-<container>-<ifname>). */
export function removeCniCache(baseline: NetworkBaseline): void {
  const results = join(CNI_CACHE_DIR, 'results');
  if (existsSync(results)) {
    for (const f of readdirSync(results)) if (f.startsWith(`${CNI_NETWORK}-`)) rmSync(join(results, f), { force: true });
  }
  if (!baseline.cniCacheExisted) removeEmptyTree(CNI_CACHE_DIR);
}
