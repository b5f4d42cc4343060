import type { LocalSwarm } from './local-swarm';
import { DEFAULT_RESTART_POLICY, RestartPolicy, type RestartPolicyOptions } from './restart-policy';
import type { RunningService } from './service-process';

/**
 * Keeps every service of a local swarm running, as compose's `restart:` and Kubernetes do for
 * theirs: a service that exits on its own is started again with the same environment (same ports,
 * same data), with exponential backoff, until it crash-loops (RestartPolicy), which is reported
 * and left alone while the rest keep running.
 */
export class Supervisor {
  private stopping = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly swarm: LocalSwarm,
    private readonly say: (line: string) => void,
    private readonly policy: RestartPolicyOptions = DEFAULT_RESTART_POLICY,
  ) {}

  start(): void {
    for (const { processName, service } of this.swarm.services()) this.watch(processName, service, new RestartPolicy(this.policy));
  }

  /** Stop restarting: cancels pending restarts and waits for one under way (stopping what it started). */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  private watch(processName: string, svc: RunningService, policy: RestartPolicy): void {
    void svc.exited.then(({ code, signal }) => {
      if (!this.stopping) this.onExit(processName, `pid ${svc.proc.pid} exited with code ${code} signal ${signal}`, policy);
    });
  }

  private onExit(processName: string, why: string, policy: RestartPolicy): void {
    const d = policy.onExit();
    if (d.action === 'give-up') {
      this.say(`error: ${processName} ${why}; it crashed ${d.restarts + 1} times within ${d.windowMs / 1000} s, so it is not restarted again: read ${this.logHint(processName)}, then restart the swarm`);
      return;
    }
    this.say(`warning: ${processName} ${why}; restarting it in ${d.delayMs} ms (restart ${d.attempt}); see ${this.logHint(processName)}`);
    const t = setTimeout(() => {
      this.timers.delete(t);
      const p = this.restart(processName, policy).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }, d.delayMs);
    this.timers.add(t);
  }

  private async restart(processName: string, policy: RestartPolicy): Promise<void> {
    if (this.stopping) return;
    let svc: RunningService;
    try {
      svc = await this.swarm.respawn(processName);
    } catch (e) {
      if (!this.stopping) this.onExit(processName, `did not start again (${(e as Error).message.split('\n')[0]})`, policy);
      return;
    }
    if (this.stopping) {
      await svc.stop();
      return;
    }
    this.say(`${processName} is running again: pid ${svc.proc.pid}`);
    this.watch(processName, svc, policy);
  }

  private logHint(processName: string): string {
    return `${this.swarm.dataDir}/logs/${processName}.log`;
  }
}
