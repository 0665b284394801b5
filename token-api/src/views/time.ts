/** ISO 8601 at second precision (`2026-03-27T14:00:00Z`), the format the seeds show. */
export const isoSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

export const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
