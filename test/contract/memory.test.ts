import { createMemoryStore } from '../../src/stores/memory/index.js';
import { contractSuite } from './suite.js';

const store = createMemoryStore();
contractSuite('embedded store', {
  makeStore: () => store,
  makeStoreOn: (clock) => createMemoryStore({ clock }),
  close: async () => {},
});
