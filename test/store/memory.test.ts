import { MemoryStore } from '../../engine/store/memory';
import { describeStoreContract } from './contract';

describeStoreContract('memory', async () => {
  const store = new MemoryStore();
  await store.open();
  return store;
});
