// Message bodies: objects travel as JSON; received payloads that parse as JSON are handed over
// parsed, anything else as a string (seed 002's `onMessage((topic, message) => …)`).

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export function encodePayload(message: unknown): string | Uint8Array {
  if (typeof message === 'string') return message;
  if (message instanceof Uint8Array) return message;
  if (message === undefined) return '';
  return JSON.stringify(message);
}

export function decodePayload(payload: Uint8Array | string): unknown {
  const text = typeof payload === 'string' ? payload : decoder.decode(payload);
  if (text === '') return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export const payloadBytes = (message: unknown): Uint8Array => {
  const p = encodePayload(message);
  return typeof p === 'string' ? encoder.encode(p) : p;
};
