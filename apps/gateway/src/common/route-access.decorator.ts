import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import type { ApiKeyScope } from '@tessera/contracts';

export type RouteAccess = { kind: 'public' } | { kind: 'platform' } | { kind: 'tenant'; scope: ApiKeyScope | null };

export const ROUTE_ACCESS = 'tessera:route-access';

/** A route every tenant key with `scope` may call. */
export const RequireScope = (scope: ApiKeyScope) =>
  applyDecorators(SetMetadata(ROUTE_ACCESS, { kind: 'tenant', scope } satisfies RouteAccess), ApiBearerAuth());

/** A route any valid tenant key may call, whatever its scopes. */
export const AnyTenantKey = () =>
  applyDecorators(SetMetadata(ROUTE_ACCESS, { kind: 'tenant', scope: null } satisfies RouteAccess), ApiBearerAuth());

/** A route only the platform admin key (from configuration) may call. */
export const PlatformAdmin = () =>
  applyDecorators(SetMetadata(ROUTE_ACCESS, { kind: 'platform' } satisfies RouteAccess), ApiBearerAuth());

/** A route anyone may call (health, metrics). */
export const Public = () => SetMetadata(ROUTE_ACCESS, { kind: 'public' } satisfies RouteAccess);
