import { createMemoryStore } from '../../src/stores/memory.js';
import { contractSuite } from './suite.js';

const store = createMemoryStore();
contractSuite('embedded store', {
  makeStore: () => store,
  close: async () => {},
});
