// The one way this module reads a URL: the JWKS and discovery documents of identity providers. The
// URLs come from organisations' configuration, so the server at the other end may be hostile: it
// gets no redirects, a timeout, and a size limit checked on the declared length and again on the
// bytes read (after any content decoding), so a gzip bomb or an endless body costs at most the limit.

/**
 * The most bytes a key set or discovery document may have. Real ones are a few KiB: Google's and
 * Firebase's key sets ~1-2 KiB, Auth0's and Keycloak's with x5c certificates ~3-5 KiB, Microsoft
 * Entra's (the largest common one, several RSA keys each with an x5c chain) ~10-20 KiB, discovery
 * documents 1-8 KiB. 64 KiB leaves room for a few dozen RSA keys with certificates while bounding
 * what one exchange can make the process read and parse (without a limit, ~200 KiB of gzip inflated
 * to a 200 MiB body: a 5.4 s event-loop stall and RSS from 122 to 1371 MiB, per exchange).
 */
export const MAX_PROVIDER_DOCUMENT_BYTES = 64 * 1024;

/** Why a document could not be read; the message is for logs, never for the API client. */
export class DocumentFetchError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'DocumentFetchError';
  }
}

export interface DocumentFetchOptions {
  /** Aborts the request and the body read (a timeout). */
  signal: AbortSignal;
  /** Milliseconds behind `signal`, to say so when it fires. */
  timeoutMs: number;
  accept: string;
}

// Errors are read by shape, not instanceof: fetch's errors may come from another realm (Node's
// built-in undici under a vm context, as in the test runner), where instanceof Error is false.
const fieldOf = (err: unknown, name: string): unknown => (typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[name] : undefined);

/** An error's message (and its cause's system error code, e.g. ECONNREFUSED), for logs. */
export function messageOf(err: unknown): string {
  const message = fieldOf(err, 'message');
  if (typeof message !== 'string') return String(err);
  const code = fieldOf(fieldOf(err, 'cause'), 'code');
  return typeof code === 'string' ? `${message} (${code})` : message;
}

/** What went wrong reaching or reading a URL, for logs. */
function describe(err: unknown, timeoutMs: number): string {
  const name = fieldOf(err, 'name');
  return name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${timeoutMs} ms` : messageOf(err);
}

/** The body's bytes, refused as soon as more than `max` have arrived (the rest is never read). */
async function readAtMost(body: ReadableStream<Uint8Array> | null, max: number): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return Buffer.concat(chunks, total);
      total += value.byteLength;
      if (total > max) throw new DocumentFetchError(`the body is larger than the ${max}-byte limit`);
      chunks.push(value);
    }
  } catch (err) {
    // Cancelling the body closes the connection: nothing more is downloaded or decompressed.
    await reader.cancel().catch(() => {});
    throw err;
  }
}

/**
 * GETs `url` and parses its body as JSON. Throws DocumentFetchError (message for logs) when the
 * request fails or times out, the status is not 200, the body is over the limit, or not JSON.
 */
export async function fetchJsonDocument(url: string, opts: DocumentFetchOptions): Promise<unknown> {
  const max = MAX_PROVIDER_DOCUMENT_BYTES;
  try {
    const res = await fetch(url, {
      // No redirects (as jose does by default): the configured URL is the authority, and a redirect
      // would let it point the fetch anywhere.
      redirect: 'manual',
      // Asking for no compression keeps honest servers from sending any; a dishonest one is still
      // decoded by fetch, and the limit then applies to the decoded bytes.
      headers: { accept: opts.accept, 'accept-encoding': 'identity' },
      signal: opts.signal,
    });
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      throw new DocumentFetchError(`HTTP ${res.status}`);
    }
    const declared = res.headers.get('content-length');
    if (declared !== null && Number(declared) > max) {
      await res.body?.cancel().catch(() => {});
      throw new DocumentFetchError(`Content-Length ${declared} is above the ${max}-byte limit`);
    }
    const bytes = await readAtMost(res.body, max);
    try {
      // TextDecoder drops a UTF-8 byte order mark, as Response.json() does.
      return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    } catch (err) {
      throw new DocumentFetchError(`the body is not JSON (${describe(err, opts.timeoutMs)})`, { cause: err });
    }
  } catch (err) {
    if (err instanceof DocumentFetchError) throw err;
    throw new DocumentFetchError(describe(err, opts.timeoutMs), { cause: err });
  }
}
