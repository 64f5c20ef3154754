import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { Kind, type DefinitionNode, type FieldNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode, type ValidationRule } from 'graphql';
import type { OperationLimits } from '../config.js';
import { CostLimitError } from '../errors.js';

/**
 * Apollo Server plugins and validation rules that refuse operations over the
 * limits before anything executes, with HTTP 400: graphql-armor for the
 * document (depth, aliases, directives and cost while validating), and
 * `entityCostLimit` for what only the variables tell. Tokens are counted by
 * the parser itself (Apollo Server's `parseOptions.maxTokens`).
 */
export function operationLimits(limits: OperationLimits): { plugins: ApolloServerPlugin[]; validationRules: ValidationRule[] } {
  const armor = new ApolloArmor({
    maxDepth: { n: limits.maxDepth, ignoreIntrospection: true },
    maxAliases: { n: limits.maxAliases },
    // Apollo Server's own parseOptions count tokens (see server.ts): armor's plugin answers an HTTP 500.
    maxTokens: { enabled: false },
    maxDirectives: { n: 50 },
    costLimit: { maxCost: limits.maxCost, ignoreIntrospection: true },
    // Suggestions are removed by the error formatter (errors.ts): armor's plugin rewrites messages in
    // place, which graphql-jit's errors do not allow.
    blockFieldSuggestion: { enabled: false },
  }).protect();
  // graphql-armor's declarations name Apollo Server's CommonJS types; the plugins are the same objects at run time.
  const armorPlugins = armor.plugins as unknown as ApolloServerPlugin[];
  return { plugins: [...armorPlugins, entityCostLimit(limits), onePreviewPerOperation()], validationRules: armor.validationRules };
}

/** The Query fields that run a rule over the whole customer base (README "Admin API limits"). */
const PREVIEW_FIELDS = new Set(['previewSegment', 'previewSegmentChange']);

/**
 * Refuses an operation that selects more than one preview, through aliases,
 * fragments or inline fragments: they would all run at once, and one is all
 * a caller needs at a time. `@skip`/`@include` are not read: a preview that
 * may run counts.
 */
export function onePreviewPerOperation(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document }) {
          if (operation?.operation !== 'query') return;
          // Fields of one response key are merged into one execution (spec "Field Collection"), so count keys.
          const previews = new Set(
            rootFields(operation.selectionSet, fragmentsOf(document.definitions))
              .filter((field) => PREVIEW_FIELDS.has(field.name.value))
              .map((field) => (field.alias ?? field.name).value),
          );
          if (previews.size > 1) {
            throw new CostLimitError(`The operation asks for ${previews.size} previews; one operation may run one`, 'previewsPerOperation');
          }
        },
      };
    },
  };
}

function fragmentsOf(definitions: ReadonlyArray<DefinitionNode>): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  return fragments;
}

/**
 * Refuses `_entities` calls whose representations, or representations times
 * Customer fields, are over the limits. A document's cost cannot see them:
 * the representations arrive as a variable.
 */
export function entityCostLimit(limits: Pick<OperationLimits, 'maxRepresentations' | 'maxMembershipCost'>): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, request }) {
          if (!operation) return;
          for (const { representations, customerFields } of entityCalls(operation, fragmentsOf(document.definitions), request.variables ?? {})) {
            if (representations > limits.maxRepresentations) {
              throw new CostLimitError(
                `_entities was given ${representations} representations; the limit is ${limits.maxRepresentations}`,
                'maxRepresentations',
              );
            }
            const cost = representations * customerFields;
            if (cost > limits.maxMembershipCost) {
              throw new CostLimitError(
                `_entities asks ${customerFields} Customer fields of ${representations} representations (cost ${cost}); the limit is ${limits.maxMembershipCost}`,
                'maxMembershipCost',
              );
            }
          }
        },
      };
    },
  };
}

/** Each root `_entities` field: how many representations it got, and how many Customer fields it asks of each. */
function entityCalls(
  operation: OperationDefinitionNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  variables: Readonly<Record<string, unknown>>,
): Array<{ representations: number; customerFields: number }> {
  const calls: Array<{ representations: number; customerFields: number }> = [];
  for (const selection of rootFields(operation.selectionSet, fragments)) {
    if (selection.name.value !== '_entities') continue;
    const argument = selection.arguments?.find((a) => a.name.value === 'representations')?.value;
    let representations = 0;
    if (argument?.kind === Kind.LIST) representations = argument.values.length;
    else if (argument?.kind === Kind.VARIABLE) {
      const value = variables[argument.name.value];
      representations = Array.isArray(value) ? value.length : 0;
    }
    calls.push({ representations, customerFields: customerFieldCount(selection.selectionSet, fragments, false, new Set()) });
  }
  return calls;
}

function rootFields(selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>): FieldNode[] {
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
