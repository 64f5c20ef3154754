import { ForbiddenError, UnauthenticatedError } from '../platform/errors.js';
import type { Principal, TokenVerifier } from './token-verifier.js';

export type Scope = 'segments:read' | 'segments:write';

/**
 * The caller of one request. The Authorization header is verified only when
 * an operation needs it, and at most once: public fields (Customer.segments)
 * never pay for, or fail on, a token.
 */
export class RequestAuth {
  private principal: Promise<Principal | null> | undefined;

  constructor(
    private readonly authorization: string | undefined,
    private readonly verify: TokenVerifier,
  ) {}

  /** The caller, if it holds `scope`; UNAUTHENTICATED or FORBIDDEN otherwise. */
  async require(scope: Scope): Promise<Principal> {
    const principal = await this.caller();
    if (!principal.scopes.has(scope)) throw new ForbiddenError(scope);
    return principal;
  }

  /**
   * The verified caller, for resolvers whose scope the schema already
   * enforced (FIELD_SCOPES); UNAUTHENTICATED if there is none.
   */
  async caller(): Promise<Principal> {
    this.principal ??= this.authenticate();
    const principal = await this.principal;
    if (!principal) throw new UnauthenticatedError();
    return principal;
  }

  private async authenticate(): Promise<Principal | null> {
    const match = /^Bearer ([A-Za-z0-9_.-]+)$/i.exec(this.authorization?.trim() ?? '');
    return match ? this.verify(match[1]!) : null;
  }
}
