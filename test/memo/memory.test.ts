import { createMemoryStore } from '../../src/stores/memory/index.js';
import { memoSuite } from './suite.js';

const store = createMemoryStore();
memoSuite('embedded store', {
  makeStore: () => store,
  close: async () => {},
});
