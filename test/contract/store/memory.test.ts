// The Store contract on the embedded store: a private createMemoryStore per test, on a fake clock
// of its own, so its TTLs run out when a test moves the clock, to the millisecond.
import { createMemoryStore } from '../../../src/index.js';
import { FakeClock } from '../../support/fake-clock.js';
import { storeContract } from './suite.js';

storeContract('embedded', async () => {
  const clock = new FakeClock();
  const store = createMemoryStore({ clock });
  return { store, cleanup: () => store.close(), clock };
});
