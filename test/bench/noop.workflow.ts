// Benchmark-only workflow: runs empty activities, `parallel` at a time, to measure what a bare
// Temporal activity round trip costs on this stack.
import { proxyActivities } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '1 minute' });

export async function noopActivities(count: number, parallel: number): Promise<number> {
  let done = 0;
  while (done < count) {
    const wave = Math.min(parallel, count - done);
    await Promise.all(Array.from({ length: wave }, () => noop()));
    done += wave;
  }
  return done;
}
