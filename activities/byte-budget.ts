// A process-wide budget of bytes held by rendered mail between its render and SES's answer.
// Each part is capped (MAX_RENDERED_PART_BYTES), but up to 16 send activities × 8 parallel
// sends could otherwise hold near-cap mail at once; a send waits here until the bytes it will
// hold fit, so the worker's memory stays bounded whatever a tenant's templates render.

export class ByteBudget {
  private used = 0;
  private readonly waiting: { bytes: number; resolve: () => void }[] = [];

  constructor(readonly capacity: number) {}

  /** Waits until `bytes` fit (a single request larger than the budget waits for an empty one). */
  async acquire(bytes: number): Promise<() => void> {
    const need = Math.min(bytes, this.capacity);
    if (this.waiting.length > 0 || this.used + need > this.capacity) {
      await new Promise<void>((resolve) => this.waiting.push({ bytes: need, resolve }));
    } else {
      this.used += need;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= need;
      this.wake();
    };
  }

  get inUse(): number {
    return this.used;
  }

  private wake(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0]!.bytes <= this.capacity) {
      const next = this.waiting.shift()!;
      this.used += next.bytes;
      next.resolve();
    }
  }
}

/**
 * What one rendered message holds until SES answers: the parts as strings (up to two bytes a
 * character) and the request body the SDK builds from them.
 */
export const heldBytes = (parts: (string | undefined)[]) => 3 * parts.reduce((sum, p) => sum + (p?.length ?? 0), 0);

/** 64 MiB: a few dozen near-cap messages at once, thousands of ordinary ones. */
export const RENDERED_BYTES_BUDGET = 64 * 1024 * 1024;
