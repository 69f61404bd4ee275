// Asks every member's control plane which role it has now (GET /global/role), on a fixed tick, and
// hands the choice of core/global/writer-target.ts to the forwarders whenever it changes. A member
// that does not answer keeps its last answer, aging: see chooseWriterTarget.
import {
  chooseWriterTarget,
  type MemberObservation,
  type MemberRole,
  sameTarget,
  type WriterTargetChoice,
} from '../../core/global/writer-target.ts';
import type { Logger } from '../../core/log.ts';

export interface Member {
  region: string;
  controlPlaneUrl: string;
}

export interface MemberPollerOptions {
  members: readonly Member[];
  pollMs: number;
  /** Per request: a member slower than this is not answering. */
  requestTimeoutMs: number;
  staleAfterMs: number;
  logger: Logger;
  onChange: (choice: WriterTargetChoice, previous: WriterTargetChoice) => void;
  onOverruled: (region: string) => void;
}

function isMemberRole(value: unknown): value is MemberRole {
  const v = value as MemberRole;
  return (
    typeof v === 'object' &&
    v !== null &&
    (v.role === 'primary' || v.role === 'secondary') &&
    typeof v.region === 'string' &&
    (v.promotedAtMs === null || typeof v.promotedAtMs === 'number') &&
    (v.writerEndpoint === null || typeof v.writerEndpoint === 'string') &&
    (v.mysqlWriterEndpoint === null || typeof v.mysqlWriterEndpoint === 'string') &&
    typeof v.resourceArn === 'string' &&
    typeof v.secretArn === 'string'
  );
}

export class MemberPoller {
  readonly #observations: MemberObservation[];
  #choice: WriterTargetChoice = { kind: 'none', reason: 'not polled yet' };
  #overruled = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(private readonly options: MemberPollerOptions) {
    this.#observations = options.members.map((m) => ({
      region: m.region,
      last: undefined,
      answeredAtMs: undefined,
    }));
  }

  get choice(): WriterTargetChoice {
    return this.#choice;
  }

  /** Every member's last answer (for /health and the ARN translation). */
  get known(): MemberRole[] {
    return this.#observations.flatMap((o) => (o.last ? [o.last] : []));
  }

  get observations(): readonly MemberObservation[] {
    return this.#observations;
  }

  start(): void {
    const tick = async () => {
      if (this.#stopped) return;
      await this.pollOnce();
      if (!this.#stopped) this.#timer = setTimeout(() => void tick(), this.options.pollMs);
    };
    void tick();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** One round: every member asked at once, then the choice made again. */
  async pollOnce(): Promise<void> {
    await Promise.all(
      this.options.members.map(async (member, i) => {
        try {
          const response = await fetch(`${member.controlPlaneUrl}/global/role`, {
            signal: AbortSignal.timeout(this.options.requestTimeoutMs),
          });
          const body = (await response.json()) as unknown;
          if (!response.ok || !isMemberRole(body)) throw new Error(`bad answer ${response.status}`);
          if (body.region !== member.region) {
            throw new Error(
              `the control plane at ${member.controlPlaneUrl} is in ${body.region}, not ${member.region}`,
            );
          }
          this.#observations[i] = { region: member.region, last: body, answeredAtMs: Date.now() };
        } catch (error) {
          this.options.logger.debug(
            { region: member.region, err: (error as Error).message },
            'member did not answer',
          );
        }
      }),
    );
    const choice = chooseWriterTarget(this.#observations, Date.now(), this.options.staleAfterMs);
    const overruled = new Set(choice.kind === 'primary' ? choice.overruled : []);
    for (const region of overruled) {
      if (this.#overruled.has(region)) continue;
      this.options.logger.warn(
        { region, primary: choice.kind === 'primary' ? choice.target.region : null },
        'global writer endpoint: a member claims the writer but another was promoted later: not routed to',
      );
      this.options.onOverruled(region);
    }
    this.#overruled = overruled;
    if (sameTarget(choice, this.#choice)) {
      this.#choice = choice;
      return;
    }
    const previous = this.#choice;
    this.#choice = choice;
    this.options.onChange(choice, previous);
  }
}
