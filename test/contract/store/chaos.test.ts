// The Store contract through the chaos wrapper (test/support/chaos-store.ts) in mode 'ok', over an
// embedded store on a fake clock: the wrapper the resilience tests rely on must be a transparent
// store until told to fail or stall.
import { createMemoryStore } from '../../../src/index.js';
import { chaosStore } from '../../support/chaos-store.js';
import { FakeClock } from '../../support/fake-clock.js';
import { storeContract } from './suite.js';

storeContract('chaos (mode ok, over embedded)', async () => {
  const clock = new FakeClock();
  const store = chaosStore(createMemoryStore({ clock }));
  store.mode = 'ok';
  return { store, cleanup: () => store.close(), clock };
});
