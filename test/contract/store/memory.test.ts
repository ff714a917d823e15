// The Store contract on the embedded store: a private createMemoryStore per test.
import { createMemoryStore } from '../../../src/index.js';
import { storeContract } from './suite.js';

storeContract('embedded', async () => {
  const store = createMemoryStore();
  return { store, cleanup: () => store.close() };
});
