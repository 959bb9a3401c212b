/** Tests draw from the project's own deterministic generator, so a failing random test can be replayed. */
export { seededRandom } from '../../src/util/seeded-random.ts';
