/**
 * What the server knows about itself: lifecycle phase and, once loaded, the model and its
 * scheduler. Shared by the hot path, the express routes and the lifecycle code.
 */
import { HttpError, notFound } from '../errors.ts';
import type { ModelSpec } from '../tensor/model.ts';
import type { Scheduler } from '../execution/scheduler.ts';

/** loading -> ready -> draining (SIGTERM: not ready, still serving) -> stopping (not accepting) */
export type Phase = 'loading' | 'ready' | 'draining' | 'stopping' | 'failed';

export class ServerState {
  readonly modelName: string;
  readonly modelVersion: string;
  phase: Phase = 'loading';
  model: ModelSpec | undefined;
  scheduler: Scheduler | undefined;
  /** constant start of every V2 response */
  v2Prefix = '';
  /** live and configured inference workers, and retired workers stuck in a run, once the pool exists */
  workers: (() => { live: number; size: number; stuck: number }) | undefined;

  constructor(modelName: string, modelVersion: string) {
    this.modelName = modelName;
    this.modelVersion = modelVersion;
  }

  /**
   * Why the process should be restarted (liveness fails), if it should: an inference run that
   * never returned keeps a thread that nothing but a restart reclaims.
   */
  notLiveReason(): string | undefined {
    const stuck = this.workers?.().stuck ?? 0;
    if (stuck === 0) return undefined;
    return `${stuck} inference run${stuck === 1 ? ' has' : 's have'} not returned long after the run timeout; a restart reclaims the thread`;
  }

  /** Ready: loaded, not shutting down, and every configured inference worker running. */
  get ready(): boolean {
    return this.phase === 'ready' && this.poolComplete();
  }

  private poolComplete(): boolean {
    if (!this.workers) return true;
    const { live, size } = this.workers();
    return live >= size;
  }

  /**
   * Shutting down: responses carry Connection: close, so keep-alive clients reconnect (through the
   * Service, to a pod that is still ready) instead of reusing a connection this server will close.
   */
  get closing(): boolean {
    return this.phase === 'draining' || this.phase === 'stopping';
  }

  notReadyReason(): string {
    switch (this.phase) {
      case 'loading':
        return 'the model is loading';
      case 'draining':
      case 'stopping':
        return 'the server is shutting down';
      case 'failed':
        return 'the model failed to load';
      default: {
        if (this.poolComplete() || !this.workers) return 'ready';
        const { live, size } = this.workers();
        return `${live} of ${size} inference workers are running; the others are being restarted`;
      }
    }
  }

  /** 404 for another model or version; 503 while the model is not loaded. */
  resolve(name: string, version: string | undefined): ModelSpec {
    if (name !== this.modelName) throw notFound(`model "${name}" does not exist: this server serves model "${this.modelName}"`);
    if (version !== undefined && version !== this.modelVersion) {
      throw notFound(`model "${name}" has no version "${version}": this server serves version "${this.modelVersion}"`);
    }
    if (!this.model) throw new HttpError(503, `model "${name}" is not ready: ${this.notReadyReason()}`);
    return this.model;
  }
}
