/** Argument schemas for the interface file, derived from TypeScript types, and their runtime check. */
import { ts } from 'ts-morph';

export type Schema =
  | { type: 'string' | 'number' | 'boolean' | 'bigint' | 'null' | 'undefined' | 'bytes' | 'any' | 'function' }
  | { type: 'enum'; values: (string | number | boolean)[] }
  | { type: 'array'; items: Schema }
  | { type: 'object'; properties: Record<string, Schema>; optional: string[] }
  | { type: 'handle'; class: string }
  | { type: 'promise'; of: Schema }
  | { type: 'union'; anyOf: Schema[] };

const BYTES = /^(Uint8Array|Buffer|ArrayBuffer)$/;

export function schemaOf(
  checker: ts.TypeChecker,
  type: ts.Type,
  residentClasses: Set<string>,
  depth = 0,
): Schema {
  const f = type.flags;
  if (f & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return { type: 'any' };
  if (f & ts.TypeFlags.StringLike && !(f & ts.TypeFlags.StringLiteral)) return { type: 'string' };
  if (f & ts.TypeFlags.NumberLike && !(f & ts.TypeFlags.NumberLiteral)) return { type: 'number' };
  if (f & ts.TypeFlags.BigIntLike) return { type: 'bigint' };
  if (f & ts.TypeFlags.Null) return { type: 'null' };
  if (f & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)) return { type: 'undefined' };
  if (type.isUnion()) {
    const parts = type.types;
    if (parts.every((t) => t.isLiteral() || (t.flags & ts.TypeFlags.BooleanLiteral) !== 0)) {
      if (parts.every((t) => t.flags & ts.TypeFlags.BooleanLiteral)) return { type: 'boolean' };
      return {
        type: 'enum',
        values: parts.map((t) =>
          t.isLiteral() ? (t.value as string | number) : checker.typeToString(t) === 'true',
        ),
      };
    }
    return { type: 'union', anyOf: parts.map((t) => schemaOf(checker, t, residentClasses, depth + 1)) };
  }
  if (type.isLiteral()) return { type: 'enum', values: [type.value as string | number] };
  if (f & ts.TypeFlags.BooleanLike) return { type: 'boolean' };
  const name = type.getSymbol()?.getName() ?? '';
  if (BYTES.test(name)) return { type: 'bytes' };
  // A type a library declares (the DOM's Node and Document, Map): its objects are the library's,
  // not data of the application's shape; they cross as the library's objects, unchecked here.
  const library =
    (f & ts.TypeFlags.Object) !== 0 &&
    (type.getSymbol()?.declarations ?? []).some((d) => d.getSourceFile().isDeclarationFile);
  if (residentClasses.has(name) && !library) return { type: 'handle', class: name };
  if (name === 'Promise') {
    const arg = checker.getTypeArguments(type as ts.TypeReference)[0];
    return {
      type: 'promise',
      of: arg === undefined ? { type: 'any' } : schemaOf(checker, arg, residentClasses, depth + 1),
    };
  }
  if (checker.isArrayType(type)) {
    const arg = checker.getTypeArguments(type as ts.TypeReference)[0];
    return {
      type: 'array',
      items: arg === undefined ? { type: 'any' } : schemaOf(checker, arg, residentClasses, depth + 1),
    };
  }
  if (type.getCallSignatures().length > 0) return { type: 'function' };
  if (depth > 3 || library) return { type: 'any' };
  const properties: Record<string, Schema> = {};
  const optional: string[] = [];
  for (const prop of type.getProperties().slice(0, 40)) {
    const decl = prop.valueDeclaration ?? prop.declarations?.[0];
    if (decl === undefined) continue;
    const t = checker.getTypeOfSymbolAtLocation(prop, decl);
    if (t.getCallSignatures().length > 0) continue; // methods are not data
    properties[prop.getName()] = schemaOf(checker, t, residentClasses, depth + 1);
    if (prop.flags & ts.SymbolFlags.Optional) optional.push(prop.getName());
  }
  return { type: 'object', properties, optional };
}

/** Where `value` does not match `schema`, a message naming the path; undefined when it matches. */
export function checkSchema(schema: Schema, value: unknown, path = 'value'): string | undefined {
  switch (schema.type) {
    case 'any':
      return undefined;
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
    case 'function':
      return typeof value === schema.type
        ? undefined
        : `${path}: expected ${schema.type}, got ${typeof value}`;
    case 'null':
      return value === null ? undefined : `${path}: expected null`;
    case 'bytes':
      return value instanceof Uint8Array || value instanceof ArrayBuffer
        ? undefined
        : `${path}: expected bytes`;
    case 'enum':
      return schema.values.includes(value as string)
        ? undefined
        : `${path}: not one of ${JSON.stringify(schema.values)}`;
    case 'array':
      if (!Array.isArray(value)) return `${path}: expected an array`;
      for (let i = 0; i < value.length; i++) {
        const e = checkSchema(schema.items, value[i], `${path}[${i}]`);
        if (e !== undefined) return e;
      }
      return undefined;
    case 'handle':
      // Checked after the crossing: a handle has become the enclave's object, a copy an object.
      return typeof value === 'object' && value !== null
        ? undefined
        : `${path}: expected a handle to a ${schema.class}`;
    case 'promise':
      return checkSchema(schema.of, value, path);
    case 'union':
      return schema.anyOf.some((s) => checkSchema(s, value, path) === undefined)
        ? undefined
        : `${path}: matches none of its types`;
    case 'object': {
      if (typeof value !== 'object' || value === null) return `${path}: expected an object`;
      for (const [key, s] of Object.entries(schema.properties)) {
        const v = (value as Record<string, unknown>)[key];
        if (v === undefined && schema.optional.includes(key)) continue;
        const e = checkSchema(s, v, `${path}.${key}`);
        if (e !== undefined) return e;
      }
      return undefined;
    }
  }
}
