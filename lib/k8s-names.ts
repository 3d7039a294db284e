/**
 * Kubernetes API-server string formats (k8s.io/apimachinery/pkg/util/validation), written out
 * here because neither the OpenAPI schemas nor the Seldon CRD carry them: a manifest can pass
 * every schema and still be rejected at `kubectl apply`.
 *
 * Each checker returns `undefined` when the value is valid, otherwise the reason.
 */

import { DNS_1123_LABEL, parseQuantity as quantityValue } from './validate';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const CONFIG_MAP_KEY = /^[-._a-zA-Z0-9]+$/;
export type Check = (value: string) => string | undefined;

function show(value: unknown): string {
  return JSON.stringify(value);
}

export const dns1123Label: Check = (v) => {
  if (v.length > 63) return `${show(v)} is longer than 63 characters (DNS-1123 label)`;
  if (!DNS_1123_LABEL.test(v)) {
    return `${show(v)} is not a DNS-1123 label (lower case alphanumerics and '-', starting and ending with an alphanumeric)`;
  }
  return undefined;
};

export const dns1123Subdomain: Check = (v) => {
  if (v.length > 253) return `${show(v)} is longer than 253 characters (DNS-1123 subdomain)`;
  if (!DNS1123_SUBDOMAIN.test(v)) {
    return `${show(v)} is not a DNS-1123 subdomain (lower case alphanumerics, '-' and '.', starting and ending with an alphanumeric)`;
  }
  return undefined;
};

export const dns1035Label: Check = (v) => {
  if (v.length > 63) return `${show(v)} is longer than 63 characters (DNS-1035 label)`;
  if (!DNS1035_LABEL.test(v)) {
    return `${show(v)} is not a DNS-1035 label (lower case alphanumerics and '-', starting with a letter, ending with an alphanumeric)`;
  }
  return undefined;
};

/** A DNS-1123 subdomain that also fits in a label value: what pod-creating controllers need. */
export function subdomainMax(max: number): Check {
  return (v) => {
    if (v.length > max) return `${show(v)} is longer than ${max} characters`;
    return dns1123Subdomain(v);
  };
}

/** RBAC and a few other kinds only forbid what cannot appear in a URL path segment. */
export const pathSegmentName: Check = (v) => {
  if (v === '' || v === '.' || v === '..' || /[/%]/.test(v)) {
    return `${show(v)} is not a valid path segment name (no '/', '%', '.' or '..')`;
  }
  return undefined;
};

/** IANA_SVC_NAME (RFC 6335): what container port names and named target ports must be. */
export const ianaSvcName: Check = (v) => {
  if (v.length > 15) return `${show(v)} is longer than 15 characters (IANA_SVC_NAME)`;
  if (!/^[-a-z0-9]+$/.test(v)) return `${show(v)} may contain only lower case alphanumerics and '-' (IANA_SVC_NAME)`;
  if (!/[a-z]/.test(v)) return `${show(v)} must contain at least one letter (IANA_SVC_NAME)`;
  if (v.includes('--')) return `${show(v)} must not contain '--' (IANA_SVC_NAME)`;
  if (v.startsWith('-') || v.endsWith('-')) return `${show(v)} must not begin or end with '-' (IANA_SVC_NAME)`;
  return undefined;
};

/** Label and annotation keys: `[prefix/]name`, prefix a DNS subdomain, name at most 63 characters. */
export const qualifiedName: Check = (v) => {
  const parts = v.split('/');
  if (parts.length > 2) return `${show(v)} has more than one '/' (qualified name)`;
  const name = parts[parts.length - 1];
  if (parts.length === 2) {
    const prefix = parts[0];
    if (prefix === '') return `${show(v)} has an empty prefix (qualified name)`;
    const bad = dns1123Subdomain(prefix);
    if (bad) return `prefix of ${show(v)}: ${bad}`;
  }
  if (name.length > 63) return `name part of ${show(v)} is longer than 63 characters (qualified name)`;
  if (!QUALIFIED_NAME.test(name)) {
    return `name part of ${show(v)} must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric (qualified name)`;
  }
  return undefined;
};

export const labelValue: Check = (v) => {
  if (v.length > 63) return `${show(v)} is longer than 63 characters (label value)`;
  if (!LABEL_VALUE.test(v)) {
    return `${show(v)} is not a valid label value (alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric)`;
  }
  return undefined;
};

export const envVarName: Check = (v) => {
  if (!ENV_VAR_NAME.test(v)) return `${show(v)} is not a valid environment variable name ([-._a-zA-Z][-._a-zA-Z0-9]*)`;
  return undefined;
};

export const configMapKey: Check = (v) => {
  if (v.length > 253) return `${show(v)} is longer than 253 characters (ConfigMap/Secret key)`;
  if (!CONFIG_MAP_KEY.test(v)) return `${show(v)} is not a valid ConfigMap/Secret key ([-._a-zA-Z0-9]+)`;
  return undefined;
};

/**
 * Parses a resource.Quantity (string or number) to a plain number, or returns the reason it is
 * not one. Precision is that of a double: enough to compare requests with limits.
 */
export function parseQuantity(q: unknown): number | string {
  if (typeof q === 'number') return Number.isFinite(q) ? q : `${show(q)} is not a finite number`;
  // A JsonPatch whose value was a variable left undefined puts the key there without a value.
  if (q === undefined || q === null) return `has no value (${String(q)}): a quantity such as "512Mi" or "250m" is expected. Fix: give the field a quantity, or remove it (a JsonPatch with an undefined value?)`;
  if (typeof q !== 'string') return `${show(q) ?? String(q)} (${typeof q}) is not a quantity: a string such as "512Mi" or "250m", or a number, is expected`;
  const value = quantityValue(q);
  return value === undefined ? `${show(q)} is not a Kubernetes quantity (e.g. 250m, 1.5, 512Mi, 1e3)` : value;
}
