// The tag suite (T1–T8) on the embedded store.
import { createMemoryStore } from '../../src/stores/memory/index.js';
import { tagSuite } from './suite.js';

const store = createMemoryStore();
tagSuite('the embedded store', { makeStore: () => store, close: async () => {} });
