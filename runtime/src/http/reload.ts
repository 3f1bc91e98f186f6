/**
 * Re-reading mounted Secrets while serving: the TLS key pair (server.setSecureContext: new
 * handshakes get the new pair, open connections are untouched) and the API key file. A change that
 * fails its checks keeps what is in use and logs a JSON error naming the reason.
 */
import type { Server as HttpsServer } from 'node:https';
import { MOUNTED_FILE_POLL_MS } from '../../../contract/runtime-contract.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { KeyFileDigests } from './api-keys.ts';
import { MountedFilePoller } from './mounted-file.ts';
import { materialOf, secureContextOptions, tlsPaths, type TlsFiles, type TlsMaterial } from './tls.ts';

export function reloadTls(
  server: HttpsServer,
  files: TlsFiles,
  initial: Buffer[],
  log: Logger,
  onReload: (m: TlsMaterial) => void = () => {},
  intervalMs = MOUNTED_FILE_POLL_MS,
): MountedFilePoller {
  return new MountedFilePoller(tlsPaths(files), initial, intervalMs, {
    changed: (contents) => {
      let material: TlsMaterial;
      try {
        material = materialOf(files, contents);
        server.setSecureContext(secureContextOptions(material));
      } catch (err) {
        log.error('TLS reload refused: keeping the certificate in use', { reason: errorMessage(err), certFile: files.certFile });
        return;
      }
      onReload(material);
      log.info('TLS certificate reloaded', { ...material.summary, clientCa: material.clientCa !== undefined });
    },
    unreadable: (message) => log.error('TLS reload: cannot read the files; keeping the certificate in use', { reason: message }),
  });
}

export function reloadKeyFile(keys: KeyFileDigests, initial: Buffer, log: Logger, intervalMs = MOUNTED_FILE_POLL_MS): MountedFilePoller {
  return new MountedFilePoller([keys.path], [initial], intervalMs, {
    changed: ([content]) => {
      try {
        keys.update((content as Buffer).toString('utf8'));
      } catch (err) {
        log.error('API key reload refused: keeping the keys in use', { reason: errorMessage(err) });
        return;
      }
      log.info('API keys reloaded', { keys: keys.count, file: keys.path });
    },
    unreadable: (message) => log.error('API key reload: cannot read the file; keeping the keys in use', { reason: message }),
  });
}
