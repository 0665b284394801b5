// SIGNALGATE_MAX_PACKET_BYTES for every transport. aedes builds its mqtt-packet parser without a
// size limit, and the parser buffers a packet until its declared remaining length has arrived: one
// CONNECT announcing 256 MB would make the broker hold 256 MB. (A WebSocket maxPayload caps one
// frame, not one MQTT packet, which may span frames.) So the parser's length step (mqtt-packet 9
// `_parseLength`, covered by broker tests) is wrapped: a larger declared length is a parse error,
// which aedes answers by closing the connection before the body is buffered.
import type { Client } from 'aedes';

interface Parser {
  packet: { length: number };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

export function limitPacketSize(client: Client, maxBytes: number): void {
  const parser = (client as unknown as { _parser: Parser })._parser;
  const parseLength = parser._parseLength;
  parser._parseLength = function guardedParseLength(this: Parser): boolean {
    const complete = parseLength.call(this);
    if (complete && this.packet.length > maxBytes) {
      this._emitError(new Error(`packet of ${this.packet.length} bytes exceeds the ${maxBytes}-byte limit`));
      return false;
    }
    return complete;
  };
}
