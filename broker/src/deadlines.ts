// One timer for many deadlines: a binary min-heap of entries by `expiresAt`, with the earliest armed
// on a single unref'd timer. A Node timer per session cost ~280 bytes per idle connection (the
// Timeout, a TimersList per distinct duration, the closure and its context); an entry here is a
// slot in one array and the index the entry keeps of itself.

/** setTimeout's ceiling; a later deadline re-arms when the capped timer fires. */
const MAX_TIMER_MS = 2_147_483_647;

export interface DeadlineEntry {
  /** Epoch ms at which the entry is due. */
  expiresAt: number;
  /** The entry's slot in the heap, -1 when not queued. Owned by Deadlines. */
  heapIndex: number;
}

export class Deadlines<T extends DeadlineEntry> {
  private readonly heap: T[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** The expiresAt the timer is armed for (Infinity: none). */
  private armedFor = Infinity;

  constructor(
    private readonly due: (entry: T) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** Queues `entry` at its `expiresAt`, or moves it there if it is queued already. */
  set(entry: T): void {
    if (entry.heapIndex < 0) {
      entry.heapIndex = this.heap.length;
      this.heap.push(entry);
    }
    this.restore(entry.heapIndex);
    this.arm();
  }

  delete(entry: T): void {
    const i = entry.heapIndex;
    if (i < 0) return;
    entry.heapIndex = -1;
    const last = this.heap.pop()!;
    if (last !== entry) {
      this.heap[i] = last;
      last.heapIndex = i;
      this.restore(i);
    }
    if (this.heap.length === 0) this.disarm();
  }

  /** Stops the timer; queued entries stay queued but never fall due. */
  stop(): void {
    this.disarm();
    this.armedFor = -Infinity; // arm() stays off
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Infinity;
    const now = this.now();
    while (this.heap.length > 0 && this.heap[0]!.expiresAt <= now) {
      const entry = this.heap[0]!;
      this.delete(entry);
      this.due(entry);
    }
    this.arm();
  }

  private arm(): void {
    const first = this.heap[0];
    if (!first || this.armedFor === -Infinity) return;
    if (this.timer && this.armedFor <= first.expiresAt) return;
    this.disarm();
    this.armedFor = first.expiresAt;
    this.timer = setTimeout(() => this.fire(), Math.min(Math.max(0, first.expiresAt - this.now()), MAX_TIMER_MS));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.armedFor !== -Infinity) this.armedFor = Infinity;
  }

  /** Moves the entry at `i` up or down until the heap order holds. */
  private restore(i: number): void {
    const heap = this.heap;
    const entry = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.expiresAt <= entry.expiresAt) break;
      heap[i] = heap[parent]!;
      heap[i]!.heapIndex = i;
      i = parent;
    }
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.expiresAt < heap[left]!.expiresAt ? right : left;
      if (heap[child]!.expiresAt >= entry.expiresAt) break;
      heap[i] = heap[child]!;
      heap[i]!.heapIndex = i;
      i = child;
    }
    heap[i] = entry;
    entry.heapIndex = i;
  }
}
