import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { Kind, OperationTypeNode, valueFromASTUntyped, type FragmentDefinitionNode, type SelectionSetNode, type ValidationRule } from 'graphql';
import type { OperationLimits } from '../platform/config.js';
import { CostLimitError } from '../platform/errors.js';
import { entityCalls, fragmentsOf, rootFields } from './entity-calls.js';

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
    // Aliases of __typename count too: armor leaves them out by default, and a thousand of them are a thousand fields to answer.
    maxAliases: { n: limits.maxAliases, allowList: [] },
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
  return { plugins: [...armorPlugins, entityCostLimit(limits), historyScanLimit(limits), onePreviewPerOperation()], validationRules: armor.validationRules };
}

/** The Query fields that run a rule over the whole customer base (docs/api.md "Admin API limits"). */
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
          if (operation?.operation !== OperationTypeNode.QUERY) return;
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

/**
 * Refuses operations whose `_entities` fields, all together (aliases
 * included), were given more representations, or representations times
 * Customer fields, than the limits. A document's cost cannot see them: the
 * representations arrive as a variable.
 */
export function entityCostLimit(limits: Pick<OperationLimits, 'maxRepresentations' | 'maxMembershipCost'>): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, request }) {
          if (!operation) return;
          let representations = 0;
          let cost = 0;
          for (const call of entityCalls(operation, document.definitions, request.variables ?? {})) {
            representations += call.representations.length;
            cost += call.representations.length * call.customerFields;
          }
          if (representations > limits.maxRepresentations) {
            throw new CostLimitError(
              `The operation's _entities fields were given ${representations} representations; the limit is ${limits.maxRepresentations}`,
              'maxRepresentations',
            );
          }
          if (cost > limits.maxMembershipCost) {
            throw new CostLimitError(
              `The operation asks ${cost} Customer fields of its representations (representations times fields, over every _entities field); the limit is ${limits.maxMembershipCost}`,
              'maxMembershipCost',
            );
          }
        },
      };
    },
  };
}

/** Segment fields that each read one segment's history (a range scan of its events). */
const HISTORY_FIELDS = new Set(['sizeHistory', 'membershipChanges']);
/** Page size of a `segments` list when the operation does not say (the schema's default). */
const DEFAULT_PAGE = 20;

/**
 * Refuses an operation that would read more segments' histories than
 * `maxHistoryScans`: each `sizeHistory` or `membershipChanges` counts once
 * per segment it can be asked of, the page size of every `segments` list
 * above it (`first`, 20 when omitted) and the representations of
 * `_entities` multiplied in. `segments(first: 100) { sizeHistory(days: 366) }`
 * would otherwise be 100 scans of the events table in one request.
 */
export function historyScanLimit(limits: Pick<OperationLimits, 'maxHistoryScans'>): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, request }) {
          if (!operation) return;
          const scans = historyScans(operation.selectionSet, fragmentsOf(document.definitions), 1, request.variables ?? {}, new Set());
          if (scans > limits.maxHistoryScans) {
            throw new CostLimitError(
              `The operation may read the history of ${scans} segments (sizeHistory and membershipChanges, times the pages above them); the limit is ${limits.maxHistoryScans}`,
              'maxHistoryScans',
            );
          }
        },
      };
    },
  };
}

function historyScans(
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  multiplier: number,
  variables: Readonly<Record<string, unknown>>,
  visiting: Set<string>,
): number {
  let scans = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      const name = selection.name.value;
      if (HISTORY_FIELDS.has(name)) scans += multiplier;
      if (!selection.selectionSet) continue;
      const argument = (arg: string) => {
        const node = selection.arguments?.find((a) => a.name.value === arg)?.value;
        return node ? valueFromASTUntyped(node, variables) : undefined;
      };
      let below = multiplier;
      if (name === 'segments') {
        const first = argument('first');
        below *= typeof first === 'number' && Number.isInteger(first) ? Math.min(Math.max(first, 0), 100) : DEFAULT_PAGE;
      } else if (name === '_entities') {
        const representations = argument('representations');
        below *= Array.isArray(representations) ? representations.length : 1;
      }
      scans += historyScans(selection.selectionSet, fragments, below, variables, visiting);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      scans += historyScans(selection.selectionSet, fragments, multiplier, variables, visiting);
    } else {
      const fragment = fragments.get(selection.name.value);
      if (!fragment || visiting.has(fragment.name.value)) continue; // cycles are a validation error anyway
      visiting.add(fragment.name.value);
      scans += historyScans(fragment.selectionSet, fragments, multiplier, variables, visiting);
      visiting.delete(fragment.name.value);
    }
  }
  return scans;
}
