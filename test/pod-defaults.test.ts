// Quantity parsing and the resource defaults every construct shares.
import { checkResources, withDefaults } from '../lib/pod-defaults';
import { parseQuantity } from '../lib/validate';

const DEFAULTS = { cpuRequest: '250m', memoryRequest: '512Mi', memoryLimit: '1Gi' };

describe('parseQuantity', () => {
  test.each([
    ['512Mi', 512 * 2 ** 20], ['1Gi', 2 ** 30], ['1G', 1e9], ['1.5Gi', 1.5 * 2 ** 30], ['250m', 0.25], ['2', 2],
    ['0.5', 0.5], ['1e3', 1000], ['100k', 1e5], ['1Ki', 1024], ['.5', 0.5],
  ])('%s', (q, v) => expect(parseQuantity(q)).toBeCloseTo(v as number, 9));

  test('not a quantity: undefined (checkQuantity reports it)', () => {
    for (const q of ['1 GB', '10GB', '', 'Mi', '1gi']) expect(parseQuantity(q)).toBeUndefined();
  });
});

describe('withDefaults', () => {
  test('no prop: the defaults', () => {
    expect(withDefaults(undefined, DEFAULTS)).toEqual(DEFAULTS);
  });

  test('a memory limit below the default request lowers the request to the limit', () => {
    expect(withDefaults({ memoryLimit: '256Mi' }, DEFAULTS)).toEqual({ cpuRequest: '250m', memoryRequest: '256Mi', memoryLimit: '256Mi' });
  });

  test('a memory limit above the default request keeps it (decimal suffix compared as bytes)', () => {
    expect(withDefaults({ memoryLimit: '600M' }, DEFAULTS).memoryRequest).toBe('512Mi'); // 600M > 512Mi
    expect(withDefaults({ memoryLimit: '500M' }, DEFAULTS).memoryRequest).toBe('500M'); // 500M < 512Mi
  });

  test('a CPU limit below the default request lowers the request (millicores vs cores)', () => {
    expect(withDefaults({ cpuLimit: '0.1' }, DEFAULTS).cpuRequest).toBe('0.1');
    expect(withDefaults({ cpuLimit: '1' }, DEFAULTS).cpuRequest).toBe('250m');
  });

  test('a memory request above the default limit raises the limit to the request', () => {
    expect(withDefaults({ memoryRequest: '4Gi' }, DEFAULTS)).toEqual({ cpuRequest: '250m', memoryRequest: '4Gi', memoryLimit: '4Gi' });
  });

  test('both given: the user\'s values, and checkResources reports request > limit', () => {
    const r = withDefaults({ memoryRequest: '2Gi', memoryLimit: '1Gi' }, DEFAULTS);
    expect(r).toMatchObject({ memoryRequest: '2Gi', memoryLimit: '1Gi' });
    expect(checkResources('resources', r).map((p) => p.prop)).toEqual(['resources.memoryRequest']);
  });

  test('an unparsable limit is kept for checkResources to report, the request left at its default', () => {
    const r = withDefaults({ memoryLimit: '1 gig' }, DEFAULTS);
    expect(r.memoryRequest).toBe('512Mi');
    expect(checkResources('resources', r).map((p) => p.prop)).toEqual(['resources.memoryLimit']);
  });
});
