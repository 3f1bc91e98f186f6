// The cluster harness's pure pieces: CNI / containerd / kubelet / kube-proxy configuration, the
// iptables and mount parsing its tear-down relies on, the image build context allow-list.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contextFiles, hashOf } from '@modelship/devcluster/images';
import {
  BRIDGE,
  GATEWAY_IP,
  POD_CIDR,
  chainRemovalCommands,
  chainsOf,
  cniConflist,
  mountsUnder,
  splitRule,
} from '@modelship/devcluster/network';
import { containerdConfig } from '@modelship/devcluster/containerd';
import { kubeProxyConfig } from '@modelship/devcluster/kube-proxy';
import { kubeletArgs, kubeletConfig } from '@modelship/devcluster/kubelet';

describe('cluster harness builders', () => {
  it('CNI: bridge msbr0 with host-local in our subnet and data dir, portmap', () => {
    const conf = JSON.parse(cniConflist({ ipamDataDir: '/d/ipam' })) as { plugins: Array<Record<string, unknown>> };
    const bridge = conf.plugins[0] as {
      type: string;
      bridge: string;
      ipam: { ranges: Array<Array<{ subnet: string; gateway: string }>>; dataDir: string };
    };
    assert.equal(bridge.type, 'bridge');
    assert.equal(bridge.bridge, BRIDGE);
    assert.deepEqual(bridge.ipam.ranges, [[{ subnet: POD_CIDR, gateway: GATEWAY_IP }]]);
    assert.equal(bridge.ipam.dataDir, '/d/ipam');
    assert.equal(conf.plugins[1]?.type, 'portmap');
  });

  it('containerd: own root/state/socket/runc root, our pause image, cgroupfs, oom_score_adj restricted', () => {
    const toml = containerdConfig({
      root: '/d/r',
      state: '/d/s',
      socket: '/d/c.sock',
      runcRoot: '/d/runc',
      cniConfDir: '/d/net.d',
      sandboxImage: 'localhost/p:1',
      runcBin: '/usr/sbin/runc',
    });
    for (const line of [
      'root = "/d/r"',
      'state = "/d/s"',
      'address = "/d/c.sock"',
      'sandbox_image = "localhost/p:1"',
      'SystemdCgroup = false',
      'Root = "/d/runc"',
      'conf_dir = "/d/net.d"',
      'restrict_oom_score_adj = true',
    ]) {
      assert.ok(toml.includes(line), line);
    }
  });

  it('kubelet: cgroup v1 allowed, cgroupfs, no swap check, our runtime socket, rlimit not raised', () => {
    const y = kubeletConfig({
      rootDir: '/d/k',
      podLogsDir: '/d/l',
      volumePluginDir: '/d/v',
      resolvConf: '/d/r',
      containerdSocket: '/d/c.sock',
      clientCaFile: '/p/ca.crt',
      port: 1,
      healthzPort: 2,
      maxOpenFiles: 1024,
      clusterDns: GATEWAY_IP,
    });
    for (const line of [
      'failCgroupV1: false',
      'cgroupDriver: cgroupfs',
      'failSwapOn: false',
      'containerRuntimeEndpoint: unix:///d/c.sock',
      'maxOpenFiles: 1024',
      `address: ${GATEWAY_IP}`,
      `clusterDNS: [${GATEWAY_IP}]`,
    ]) {
      assert.ok(y.includes(line), line);
    }
    assert.ok(!/staticPodPath/.test(y));
    const args = kubeletArgs({
      configPath: '/d/k.yaml',
      kubeconfigPath: '/d/kc',
      rootDir: '/d/k',
      certDir: '/d/pki',
      containerdSocket: '/d/c.sock',
    });
    assert.ok(args.includes('--root-dir=/d/k') && args.includes(`--node-ip=${GATEWAY_IP}`) && args.includes('--containerd=/d/c.sock'));
  });

  it('kube-proxy: iptables mode, conntrack sysctls left alone, no route_localnet', () => {
    const y = kubeProxyConfig({ kubeconfigPath: '/d/kc', healthzPort: 1, metricsPort: 2 });
    for (const line of ['mode: iptables', 'maxPerCore: 0', 'localhostNodePorts: false', `clusterCIDR: ${POD_CIDR}`])
      assert.ok(y.includes(line), line);
  });

  it('iptables: chains listed, jumps to removed chains deleted first (quoted comments kept)', () => {
    const rules = [
      '-P POSTROUTING ACCEPT',
      '-N CNI-abc',
      '-N KEEP',
      '-A POSTROUTING -s 10.244.0.5/32 -m comment --comment "name: \\"modelship-pods\\" id: \\"x\\"" -j CNI-abc',
      '-A CNI-abc -d 10.244.0.0/24 -j ACCEPT',
      '-A POSTROUTING -j KEEP',
    ].join('\n');
    assert.deepEqual(chainsOf(rules), ['POSTROUTING', 'CNI-abc', 'KEEP']);
    assert.deepEqual(chainRemovalCommands('nat', rules, ['CNI-abc']), [
      [
        '-t',
        'nat',
        '-D',
        'POSTROUTING',
        '-s',
        '10.244.0.5/32',
        '-m',
        'comment',
        '--comment',
        'name: "modelship-pods" id: "x"',
        '-j',
        'CNI-abc',
      ],
      ['-t', 'nat', '-F', 'CNI-abc'],
      ['-t', 'nat', '-X', 'CNI-abc'],
    ]);
    assert.deepEqual(splitRule('-m comment --comment "a b" -j X'), ['-m', 'comment', '--comment', 'a b', '-j', 'X']);
  });

  it('mounts under a dir, deepest first, octal escapes decoded', () => {
    const info = [
      '1 0 8:0 / / rw - ext4 /dev/vda rw',
      '2 1 0:1 / /tmp/c/kubelet/pods/x/volumes/tmp rw - tmpfs tmpfs rw',
      '3 1 0:2 / /tmp/c/containerd/state/a\\040b/rootfs rw - overlay overlay rw',
      '4 1 0:3 / /tmp/cx rw - tmpfs tmpfs rw',
    ].join('\n');
    assert.deepEqual(mountsUnder(['/tmp/c'], info), ['/tmp/c/containerd/state/a b/rootfs', '/tmp/c/kubelet/pods/x/volumes/tmp']);
  });

  it('image context: the .dockerignore allow-list, other patterns refused', () => {
    const list = (d: string) => (d === 'runtime/src' ? ['runtime/src/a.ts', 'runtime/src/b/c.ts'] : []);
    assert.deepEqual(contextFiles('# c\n**\n!package.json\n!runtime/src/**\n', list), [
      'package.json',
      'runtime/src/a.ts',
      'runtime/src/b/c.ts',
    ]);
    assert.throws(() => contextFiles('node_modules\n', list), /allow-list/);
    assert.throws(() => contextFiles('**\n!*.ts\n', list), /unsupported/);
    assert.notEqual(hashOf(['ab', 'c']), hashOf(['a', 'bc']));
  });
});
