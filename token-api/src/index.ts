// Contract used by the CLI (`signalgate start`) and the cross-service tests. Implementation: token-api helper.
import type http from 'node:http';
import type { Config, Logger, Services } from '@signalgate/shared';

export interface TokenApiOptions {
  config: Config;
  services: Services;
  logger: Logger;
}

export interface TokenApiHandle {
  server: http.Server;
  /** The port actually bound (config port 0 picks a free one). */
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startTokenApi(_opts: TokenApiOptions): Promise<TokenApiHandle> {
  throw new Error('not implemented yet');
}
