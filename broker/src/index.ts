// Contract used by the CLI (`signalgate start`) and the cross-service tests. Implementation: broker helper.
import type { Config, Logger, Services } from '@signalgate/shared';

export interface BrokerOptions {
  config: Config;
  services: Services;
  logger: Logger;
}

export interface BrokerHandle {
  /** Ports actually bound, per listener that is on (config port 0 picks a free one). */
  ports: { mqtt?: number; ws?: number; mqtts?: number; wss?: number };
  close(): Promise<void>;
}

export async function startBroker(_opts: BrokerOptions): Promise<BrokerHandle> {
  throw new Error('not implemented yet');
}
