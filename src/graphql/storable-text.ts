import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, type ASTNode, type DocumentNode, type ValueNode } from 'graphql';
import { UnstorableTextError } from '../platform/errors.js';

/**
 * Whether Postgres can store a string: text columns refuse U+0000 (`invalid
 * byte sequence for encoding "UTF8": 0x00`), and an unpaired surrogate has no
 * UTF-8 form (Node would silently write U+FFFD in its place).
 */
export function isStorableText(text: string): boolean {
  return !text.includes('\0') && (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/**
 * Refuses, before anything executes, an operation with a string Postgres
 * cannot store anywhere in its variables or in the arguments written in its
 * document: the one place every argument, input field and representation is
 * checked, whichever resolver or store would have received it.
 */
export function storableText(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document }) {
          const inVariables = firstUnstorable(request.variables ?? {});
          if (inVariables !== null) throw new UnstorableTextError(['variables', ...inVariables].join('.'));
          const inDocument = firstUnstorableArgument(document);
          if (inDocument !== null) throw new UnstorableTextError(inDocument);
        },
      };
    },
  };
}

/** The path of the first string in `value` that Postgres cannot store (object keys included), or null. Iterative: variables may nest deep. */
function firstUnstorable(value: unknown): Array<string | number> | null {
  const stack: Array<[unknown, Array<string | number>]> = [[value, []]];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (typeof node === 'string') {
      if (!isStorableText(node)) return path;
    } else if (Array.isArray(node)) {
      node.forEach((item, i) => stack.push([item, [...path, i]]));
    } else if (node !== null && typeof node === 'object') {
      for (const [key, item] of Object.entries(node)) {
        if (!isStorableText(key)) return [...path, key];
        stack.push([item, [...path, key]]);
      }
    }
  }
  return null;
}

/** The argument path (`input.rule.all.0.attribute.value`) of the first literal string that cannot be stored, or null. */
function firstUnstorableArgument(document: DocumentNode): string | null {
  const stack: Array<[ASTNode, string[]]> = document.definitions.map((definition) => [definition, []]);
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    switch (node.kind) {
      case Kind.STRING:
        if (!isStorableText(node.value)) return path.join('.');
        break;
      case Kind.ARGUMENT:
        stack.push([node.value, [node.name.value]]);
        break;
      case Kind.OBJECT:
        for (const field of node.fields) stack.push([field.value, [...path, field.name.value]]);
        break;
      case Kind.LIST:
        node.values.forEach((item: ValueNode, i: number) => stack.push([item, [...path, String(i)]]));
        break;
      case Kind.OPERATION_DEFINITION:
      case Kind.FRAGMENT_DEFINITION:
      case Kind.INLINE_FRAGMENT:
        for (const directive of node.directives ?? []) stack.push([directive, []]);
        stack.push([node.selectionSet, []]);
        if (node.kind === Kind.OPERATION_DEFINITION) for (const variable of node.variableDefinitions ?? []) if (variable.defaultValue) stack.push([variable.defaultValue, [variable.variable.name.value]]);
        break;
      case Kind.SELECTION_SET:
        for (const selection of node.selections) stack.push([selection, []]);
        break;
      case Kind.FIELD:
        for (const argument of node.arguments ?? []) stack.push([argument, []]);
        for (const directive of node.directives ?? []) stack.push([directive, []]);
        if (node.selectionSet) stack.push([node.selectionSet, []]);
        break;
      case Kind.DIRECTIVE:
        for (const argument of node.arguments ?? []) stack.push([argument, []]);
        break;
      case Kind.FRAGMENT_SPREAD:
        for (const directive of node.directives ?? []) stack.push([directive, []]);
        break;
      default:
        break;
    }
  }
  return null;
}
