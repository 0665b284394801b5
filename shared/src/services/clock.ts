/** Milliseconds since the epoch; injectable so services can be driven at a chosen instant. */
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();
