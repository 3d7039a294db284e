/**
 * Reading untrusted manifest objects (parsed YAML, possibly hand-edited) without throwing: the
 * accessors both validators (manifest-validation.ts, network-validation.ts) share.
 */

/** `value` if it is an array, else `[]`. */
export function list(value: unknown): any[] {
  return Array.isArray(value) ? value : [];
}

/** The entries of a plain object, else `[]`. */
export function entries(value: unknown): [string, unknown][] {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.entries(value) : [];
}

/** `metadata.namespace`, or `''` when it is not a string. */
export function namespaceOf(obj: any): string {
  return typeof obj?.metadata?.namespace === 'string' ? obj.metadata.namespace : '';
}

/** matchLabels and matchExpressions of a label selector against labels (an empty selector matches everything). */
export function labelSelectorMatches(selector: any, labels: Record<string, unknown>): boolean {
  for (const [k, v] of entries(selector?.matchLabels)) if (labels[k] !== v) return false;
  for (const e of list(selector?.matchExpressions)) {
    const has = Object.prototype.hasOwnProperty.call(labels, e?.key);
    const values = list(e?.values);
    switch (e?.operator) {
      case 'In': if (!has || !values.includes(labels[e.key])) return false; break;
      case 'NotIn': if (has && values.includes(labels[e.key])) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: return false;
    }
  }
  return true;
}

/** A selector with neither matchLabels nor matchExpressions: it selects everything. */
export function isEmptySelector(selector: any): boolean {
  return entries(selector?.matchLabels).length === 0 && list(selector?.matchExpressions).length === 0;
}

/** Host and port of a URL, or of `host[:port]` without a scheme; undefined if it does not parse. */
export function urlParts(value: string): { host: string; port: number } | undefined {
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
    const port = u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    return { host: u.hostname.replace(/^\[|\]$/g, '').toLowerCase(), port };
  } catch {
    return undefined;
  }
}

/** Init containers first, then containers, each with its JSON path under the pod spec at `t.at`. */
export function containersOf(t: { readonly at: string; readonly spec: any }): { c: any; at: string; init: boolean }[] {
  return [
    ...list(t.spec?.initContainers).map((c, i) => ({ c, at: `${t.at}.initContainers[${i}]`, init: true })),
    ...list(t.spec?.containers).map((c, i) => ({ c, at: `${t.at}.containers[${i}]`, init: false })),
  ];
}
