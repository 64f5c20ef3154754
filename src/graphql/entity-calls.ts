import { Kind, valueFromASTUntyped, type DefinitionNode, type FieldNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';

/** One root `_entities` field of an operation (each alias apart). */
export interface EntityCall {
  /** The representations it was given, from a variable or written in the document. */
  representations: unknown[];
  /** The Customer fields it asks of each representation (see customerFieldCount). */
  customerFields: number;
}

/** Every root `_entities` field of `operation`, through aliases, inline fragments and fragment spreads. */
export function entityCalls(
  operation: OperationDefinitionNode,
  definitions: ReadonlyArray<DefinitionNode>,
  variables: Readonly<Record<string, unknown>>,
): EntityCall[] {
  const fragments = fragmentsOf(definitions);
  const calls: EntityCall[] = [];
  for (const selection of rootFields(operation.selectionSet, fragments)) {
    if (selection.name.value !== '_entities') continue;
    const argument = selection.arguments?.find((a) => a.name.value === 'representations')?.value;
    const given = argument ? valueFromASTUntyped(argument, variables) : undefined;
    calls.push({
      // A single representation where a list is expected is coerced into a list of one (spec "List" input coercion).
      representations: Array.isArray(given) ? given : given === undefined || given === null ? [] : [given],
      customerFields: customerFieldCount(selection.selectionSet, fragments, false, new Set()),
    });
  }
  return calls;
}

export function fragmentsOf(definitions: ReadonlyArray<DefinitionNode>): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  return fragments;
}

export function rootFields(selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>): FieldNode[] {
  const fields: FieldNode[] = [];
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) fields.push(selection);
    else if (selection.kind === Kind.INLINE_FRAGMENT) fields.push(...rootFields(selection.selectionSet, fragments));
    else {
      const fragment = fragments.get(selection.name.value);
      if (fragment) fields.push(...rootFields(fragment.selectionSet, fragments));
    }
  }
  return fields;
}

/**
 * Fields selected on Customer (aliases counted apart, `id` and `__typename`
 * left out) directly under `_entities`, through inline fragments and
 * fragment spreads; each fragment counted once per path.
 */
function customerFieldCount(
  selectionSet: SelectionSetNode | undefined,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  onCustomer: boolean,
  visiting: Set<string>,
): number {
  let count = 0;
  for (const selection of selectionSet?.selections ?? []) {
    if (selection.kind === Kind.FIELD) {
      if (onCustomer && selection.name.value !== 'id' && selection.name.value !== '__typename') count++;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const customer = selection.typeCondition ? selection.typeCondition.name.value === 'Customer' : onCustomer;
      count += customerFieldCount(selection.selectionSet, fragments, customer, visiting);
    } else {
      const fragment = fragments.get(selection.name.value);
      if (!fragment || visiting.has(fragment.name.value)) continue; // cycles are a validation error anyway
      visiting.add(fragment.name.value);
      count += customerFieldCount(fragment.selectionSet, fragments, fragment.typeCondition.name.value === 'Customer', visiting);
      visiting.delete(fragment.name.value);
    }
  }
  return count;
}
