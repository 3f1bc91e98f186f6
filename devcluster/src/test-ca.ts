/**
 * Test certificates, made at test time with the openssl CLI in a temporary directory (no private
 * key is ever committed): a CA, server and client certificates it signs (P-256, SHA-256), and an
 * expired one. `openssl ca` because it can back-date a certificate (startdate/enddate).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyPair {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface IssueOptions {
  cn: string;
  dns?: string[];
  ips?: string[];
  client?: boolean;
  /** valid in 2020 only */
  expired?: boolean;
}

export class TestCa {
  readonly dir: string;
  readonly ca: KeyPair;
  private n = 0;

  constructor(name = 'modelship-test-ca') {
    this.dir = mkdtempSync(join(tmpdir(), 'modelship-tls-'));
    writeFileSync(join(this.dir, 'index.txt'), '');
    writeFileSync(join(this.dir, 'index.txt.attr'), 'unique_subject = no\n');
    writeFileSync(join(this.dir, 'serial'), '1000\n');
    mkdirSync(join(this.dir, 'issued'));
    writeFileSync(
      join(this.dir, 'ca.cnf'),
      [
        '[ca]',
        'default_ca = test',
        '[test]',
        `database = ${join(this.dir, 'index.txt')}`,
        `serial = ${join(this.dir, 'serial')}`,
        `new_certs_dir = ${join(this.dir, 'issued')}`,
        'default_md = sha256',
        'policy = any',
        'unique_subject = no',
        'copy_extensions = none',
        '[any]',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
    const certFile = join(this.dir, 'ca.crt');
    const keyFile = join(this.dir, 'ca.key');
    openssl([
      'req',
      '-x509',
      ...ecKey(keyFile),
      '-out',
      certFile,
      '-days',
      '3',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    this.ca = { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  }

  issue(o: IssueOptions): KeyPair {
    const base = join(this.dir, `${o.cn.replace(/[^a-z0-9.-]/gi, '_')}-${++this.n}`);
    const keyFile = `${base}.key`;
    const certFile = `${base}.crt`;
    openssl(['req', ...ecKey(keyFile), '-out', `${base}.csr`, '-subj', `/CN=${o.cn}`]);
    const san = [...(o.dns ?? []).map((d) => `DNS:${d}`), ...(o.ips ?? []).map((i) => `IP:${i}`)];
    writeFileSync(
      `${base}.ext`,
      [
        'basicConstraints = CA:FALSE',
        'keyUsage = critical,digitalSignature',
        `extendedKeyUsage = ${o.client ? 'clientAuth' : 'serverAuth'}`,
        ...(san.length ? [`subjectAltName = ${san.join(',')}`] : []),
        '',
      ].join('\n'),
    );
    const validity = o.expired ? ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z'] : ['-days', '2'];
    openssl([
      'ca',
      '-batch',
      '-notext',
      '-config',
      join(this.dir, 'ca.cnf'),
      '-cert',
      this.ca.certFile,
      '-keyfile',
      this.ca.keyFile,
      '-in',
      `${base}.csr`,
      '-out',
      certFile,
      '-extfile',
      `${base}.ext`,
      ...validity,
    ]);
    return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A self-signed P-256 certificate valid for a day, written as `<dir>/<name>.crt` and `.key`; `sans` like `DNS:x`, `IP:1.2.3.4`. */
export function selfSignedPair(dir: string, name: string, cn: string, sans: readonly string[]): KeyPair {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  openssl([
    'req',
    '-x509',
    ...ecKey(keyFile),
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    `subjectAltName=${sans.join(',')}`,
  ]);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

const ecKey = (keyFile: string) => ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
