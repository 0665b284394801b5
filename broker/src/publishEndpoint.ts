// The REST publisher's channel between processes: an API started with --api-only on the same data
// dir reaches the broker here. The broker listens on loopback only, on a port the OS picks, and
// writes where and a random secret into `<data dir>/publish-endpoint.json` (mode 0600, in the 0700
// data dir: whoever can read it can already read the credential store). A request carries the
// messages the API has validated and authorised; the broker only checks the secret and delivers.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import {
  PUBLISH_ENDPOINT_FILE, SignalGateError, fromWire,
  type Logger, type OutgoingMessage, type PublishChannel, type PublishEndpointFile, type PublishWireRequest,
} from '@signalgate/shared';

export interface PublishEndpoint {
  close(): Promise<void>;
}

export async function openPublishEndpoint(
  dataDir: string, brokerId: string, channel: PublishChannel, maxBodyBytes: number, logger: Logger,
): Promise<PublishEndpoint> {
  const secret = crypto.randomBytes(32).toString('base64url');
  const expected = Buffer.from(`Bearer ${secret}`);
  const server = http.createServer((req, res) => {
    const answer = (status: number, body: object) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const given = Buffer.from(req.headers.authorization ?? '');
    if (req.method !== 'POST' || req.url !== '/publish' || given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
      req.resume();
      return answer(403, { error: 'forbidden' });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBodyBytes) {
        answer(413, { error: 'payload_too_large' });
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      let body: PublishWireRequest;
      let messages: OutgoingMessage[];
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as PublishWireRequest;
        messages = fromWire(body);
      } catch {
        return answer(400, { error: 'invalid_request' });
      }
      channel.publish(body.orgId, messages).then(
        (results) => answer(200, { results }),
        (err: unknown) => {
          if (err instanceof SignalGateError) return answer(err.status, { error: err.code, message: err.message, retry_after: err.retryAfterSeconds });
          logger.error({ err }, 'REST publish from another process failed');
          answer(500, { error: 'internal_error' });
        },
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const file = path.join(dataDir, PUBLISH_ENDPOINT_FILE);
  const where: PublishEndpointFile = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/publish`, secret, brokerId };
  // Written whole, then renamed: a reader never sees half a file.
  const tmp = `${file}.${brokerId}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(where), { mode: 0o600 });
  fs.renameSync(tmp, file);
  return {
    async close() {
      // Only this broker's file: a broker started later on the same data dir owns it now.
      try {
        const current = JSON.parse(fs.readFileSync(file, 'utf8')) as PublishEndpointFile;
        if (current.brokerId === brokerId) fs.rmSync(file, { force: true });
      } catch {
        // gone already
      }
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
