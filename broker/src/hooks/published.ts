// After a message is routed: hand it to the history recorder (which batches the writes).
import type { AedesPublishPacket, Client } from 'aedes';
import type { HistoryRecorder } from '../history.js';

export function createPublished(history: HistoryRecorder) {
  return function published(packet: AedesPublishPacket, _client: Client, cb: (error?: Error | null) => void): void {
    history.record(packet);
    cb(null);
  };
}
