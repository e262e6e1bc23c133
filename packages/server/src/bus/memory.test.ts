import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { DevicePk } from '../store/store.ts';
import type { BusEvent } from './bus.ts';
import { MemoryBus } from './memory.ts';

const mail = (n: number): BusEvent => ({ type: 'mail', device: n as DevicePk, seq: 1 });
/** Lets every queued microtask (bus deliveries) run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('MemoryBus', () => {
  test('should deliver each event to every subscriber, in publish order', async () => {
    const bus = new MemoryBus();
    const a: BusEvent[] = [];
    const b: BusEvent[] = [];
    bus.subscribe((e) => a.push(e));
    bus.subscribe((e) => b.push(e));
    const connected: BusEvent = {
      type: 'connected',
      device: 2 as DevicePk,
      connectionId: 'c1',
      connectedAtMs: 5,
    };
    bus.publish(mail(1));
    bus.publish(connected);
    await settle();
    assert.deepEqual(a, [mail(1), connected]);
    assert.deepEqual(b, [mail(1), connected]);
    assert.equal(bus.kind, 'memory');
    assert.equal(bus.connected, true);
    await bus.close();
  });

  test('should never deliver inside publish (a handler that publishes does not re-enter)', async () => {
    const bus = new MemoryBus();
    const seen: number[] = [];
    let depth = 0;
    bus.subscribe((e) => {
      assert.equal(depth, 0);
      depth++;
      if (e.type === 'mail' && e.device < 3) bus.publish(mail(e.device + 1));
      seen.push(e.device);
      depth--;
    });
    bus.publish(mail(0));
    assert.deepEqual(seen, []);
    await settle();
    assert.deepEqual(seen, [0, 1, 2, 3]);
    await bus.close();
  });

  test('should stop delivering after unsubscribe, even an event already published', async () => {
    const bus = new MemoryBus();
    const seen: BusEvent[] = [];
    const unsubscribe = bus.subscribe((e) => seen.push(e));
    bus.publish(mail(1));
    await settle();
    bus.publish(mail(2));
    unsubscribe();
    unsubscribe();
    bus.publish(mail(3));
    await settle();
    assert.deepEqual(seen, [mail(1)]);
    await bus.close();
  });

  test('should unsubscribe one subscription of a handler subscribed twice', async () => {
    const bus = new MemoryBus();
    let calls = 0;
    const handler = (): void => {
      calls++;
    };
    const first = bus.subscribe(handler);
    bus.subscribe(handler);
    first();
    bus.publish(mail(1));
    await settle();
    assert.equal(calls, 1);
    await bus.close();
  });

  test('should deliver to the other subscribers when one throws, and report the error', async () => {
    const errors: unknown[] = [];
    const bus = new MemoryBus({ onError: (e) => errors.push(e) });
    const seen: BusEvent[] = [];
    bus.subscribe(() => {
      throw new Error('boom');
    });
    bus.subscribe((e) => seen.push(e));
    bus.publish(mail(1));
    await settle();
    assert.deepEqual(seen, [mail(1)]);
    assert.equal(errors.length, 1);
    assert.equal(bus.counters.handlerErrors, 1);
    await bus.close();
  });

  test('should deliver only the event fields, and refuse an event the NATS bus could not carry', async () => {
    const errors: unknown[] = [];
    const bus = new MemoryBus({ onError: (e) => errors.push(e) });
    const seen: BusEvent[] = [];
    bus.subscribe((e) => seen.push(e));
    bus.publish({ ...mail(1), payload: 'secret' } as unknown as BusEvent);
    bus.publish({ type: 'connected', device: 1 as DevicePk, connectionId: 'has spaces', connectedAtMs: 1 });
    bus.publish(mail(-1));
    await settle();
    assert.deepEqual(seen, [mail(1)]);
    assert.deepEqual(bus.counters, { published: 1, invalid: 2, handlerErrors: 0 });
    assert.equal(errors.length, 2);
    await bus.close();
  });

  test('should register and unregister resync handlers, and never call them (nothing is lost in-process)', async () => {
    const bus = new MemoryBus();
    let resyncs = 0;
    const off = bus.onResync(() => resyncs++);
    assert.equal(typeof off, 'function');
    bus.publish(mail(1));
    await settle();
    off();
    off();
    assert.equal(resyncs, 0);
    await bus.close();
  });

  test('should ignore publishes and report disconnected after close', async () => {
    const bus = new MemoryBus();
    const seen: BusEvent[] = [];
    bus.subscribe((e) => seen.push(e));
    await bus.close();
    bus.publish(mail(1));
    await settle();
    assert.deepEqual(seen, []);
    assert.equal(bus.connected, false);
    await bus.close();
  });
});
